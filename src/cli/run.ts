// `continual-lab run`: the methods on a task stream, headless, writing results.json after
// every finished stage (and each unfinished method's state beside it, for --resume).
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadGpt2CheckpointDir } from '../checkpoint/gpt2CheckpointNode';
import { decodeMethodState, encodeMethodState } from '../cl/methodState';
import { applyPreset, PRESETS } from '../cl/presets';
import type { RunResults } from '../cl/results';
import { runStream, type RunProgress } from '../cl/runStream';
import { loadStream, type LoadedStream } from '../data/stream';
import type { Task } from '../data/task';
import { ensureMatmulTuned } from '../diagnostics/matmulTuningCache';
import { seedMatmulTuning, tuneMatmul } from '../kernels/matmulTuning';
import { fileStore } from './tuningStore';
import { createNodeContext, releaseNodeGpu } from '../gpu/node';
import { BASE_MODEL_PATH } from '../model/baseModelNode';
import { tokenizerForConfig } from '../model/modelTokenizer';
import { methodDefinition, METHODS } from '../methods/registry';
import { parseSettingText, resolveSettings, SettingsError } from '../methods/settings';
import { BUILTIN_OOD_DIR, BUILTIN_STREAM_DIR, readStreamFiles } from './streamFiles';

export const RUN_USAGE = `usage: continual-lab run [--stream builtin|DIR] [--methods a,b,...] [--seed N] [--out FILE]
                        [--preset tiny|default] [--model DIR] [--ood builtin|DIR] [--max-tasks N] [--eval-every N]
                        [--set method.setting=value ...] [--resume]
       continual-lab methods

  run    trains each method task after task on the stream and scores every task after
         every stage; writes results.json after every finished stage (FILE, default
         results.json) and, for --resume, each unfinished method's state in FILE.state/
         methods: ${METHODS.map((m) => m.id).join(', ')} (default: all; \`methods\` lists their settings)
         presets: ${Object.values(PRESETS)
           .map((p) => `${p.name} (${p.maxTrain} train (${p.maxTrainRetention} for retention tasks) / ${p.maxTest} test examples per task, ${p.budget.steps} steps of ${p.budget.batchSize})`)
           .join('; ')}`;

/** `continual-lab methods`: every method with its settings, defaults, ranges and what they do. */
export function describeMethods(): string {
  const lines: string[] = [];
  for (const m of METHODS) {
    lines.push(`${m.id}: ${m.summary}`);
    for (const [name, spec] of Object.entries(m.settings)) {
      const range =
        spec.kind === 'number'
          ? `${spec.default} (${spec.min}..${spec.max}${spec.integer ? ', integer' : ''})`
          : spec.kind === 'list'
            ? `${spec.default.join(',')} (any of ${spec.choices.join(', ')})`
            : spec.kind === 'choice'
              ? `${spec.default} (one of ${spec.choices.join(', ')})`
              : String(spec.default);
      lines.push(`  ${name} = ${range}`);
      lines.push(`      ${spec.doc}`);
    }
  }
  return lines.join('\n');
}

export interface RunFlags {
  stream: string;
  methods: string[];
  seed: number;
  out: string;
  preset: string;
  model: string | null;
  ood: string | null;
  maxTasks: number | null;
  evalEvery: number;
  settings: Record<string, Record<string, unknown>>;
  resume: boolean;
}

export class RunUsageError extends Error {}

/** Parses `run`'s flags, checking method names and settings before any GPU work. */
export function parseRunFlags(argv: string[]): RunFlags {
  const f: RunFlags = { stream: 'builtin', methods: METHODS.map((m) => m.id), seed: 0, out: 'results.json', preset: 'default', model: null, ood: null, maxTasks: null, evalEvery: 0, settings: {}, resume: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--resume') {
      f.resume = true;
      continue;
    }
    const v = argv[i + 1];
    if (!k.startsWith('--')) throw new RunUsageError(`unexpected argument "${k}"`);
    if (v === undefined || v.startsWith('--')) throw new RunUsageError(`${k} needs a value`);
    i++;
    if (k === '--stream') f.stream = v;
    else if (k === '--methods') f.methods = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
    else if (k === '--seed') {
      if (!/^-?\d+$/.test(v)) throw new RunUsageError(`--seed must be an integer, got "${v}"`);
      f.seed = Number(v);
    } else if (k === '--out') f.out = v;
    else if (k === '--preset') f.preset = v;
    else if (k === '--model') f.model = v;
    else if (k === '--ood') f.ood = v;
    else if (k === '--max-tasks') {
      if (!/^\d+$/.test(v) || Number(v) < 1) throw new RunUsageError(`--max-tasks must be a positive integer, got "${v}"`);
      f.maxTasks = Number(v);
    } else if (k === '--eval-every') {
      if (!/^\d+$/.test(v)) throw new RunUsageError(`--eval-every must be a whole number of steps (0 = off), got "${v}"`);
      f.evalEvery = Number(v);
    } else if (k === '--set') {
      const m = /^([a-z0-9_]+)\.([A-Za-z0-9_]+)=(.*)$/.exec(v);
      if (!m) throw new RunUsageError(`--set takes method.setting=value (e.g. seqlora.rank=8), got "${v}"`);
      const def = methodDefinition(m[1]);
      const spec = def.settings[m[2]];
      if (!spec) throw new SettingsError(`${m[1]} has no setting "${m[2]}" (its settings: ${Object.keys(def.settings).join(', ')})`);
      (f.settings[m[1]] ??= {})[m[2]] = parseSettingText(spec, m[3]);
    } else throw new RunUsageError(`unknown flag ${k}`);
  }
  if (!PRESETS[f.preset]) throw new RunUsageError(`unknown preset "${f.preset}" (presets: ${Object.keys(PRESETS).join(', ')})`);
  if (f.methods.length === 0) throw new RunUsageError('--methods lists no method');
  for (const id of f.methods) methodDefinition(id);
  if (new Set(f.methods).size !== f.methods.length) throw new RunUsageError(`--methods lists a method twice: ${f.methods.join(',')}`);
  for (const id of Object.keys(f.settings)) {
    if (!f.methods.includes(id)) throw new RunUsageError(`--set ${id}.*: ${id} is not among --methods (${f.methods.join(', ')})`);
    resolveSettings(id, methodDefinition(id).settings, f.settings[id]);
  }
  return f;
}

/** A stream folder; `builtin` is the shipped stream (or, for --ood, the shipped out-of-distribution tasks). */
export function loadStreamDir(dir: string, seed: number, builtin = BUILTIN_STREAM_DIR): LoadedStream {
  const path = dir === 'builtin' ? builtin : dir;
  if (!existsSync(path)) throw new Error(`stream folder ${path} not found`);
  const name = dir === 'builtin' ? (builtin === BUILTIN_STREAM_DIR ? 'builtin' : 'ood') : path.replace(/\/+$/, '').split('/').pop();
  return loadStream(readStreamFiles(path), { name, seed });
}

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '--';
  const m = Math.floor(s / 60);
  return m >= 60 ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m` : m > 0 ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.round(s)}s`;
}

/** One status line: method, stage, task, step, loss, a bar and the ETA of the whole run. */
export function progressLine(p: RunProgress, elapsed: number): string {
  const frac = Number.isFinite(p.etaSeconds) ? elapsed / (elapsed + p.etaSeconds) : 0;
  const width = 20;
  const fill = Math.round(frac * width);
  const bar = `${'#'.repeat(fill)}${'.'.repeat(width - fill)}`;
  const where = p.method === 'base' ? 'base model' : `${p.method} (${p.methodIndex + 1}/${p.methods})`;
  const what = p.phase === 'train' ? `train step ${p.step}/${p.steps} loss ${p.loss.toFixed(3)}` : 'scoring';
  return `[${bar}] ${where} stage ${p.stage}/${p.stages} ${p.task}: ${what}  ETA ${fmtTime(p.etaSeconds)}`;
}

/** Writes through a temporary file and a rename, so a crash never leaves half a results.json. */
function writeAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

export async function runCommand(argv: string[], log: (s: string) => void, status: (s: string) => void = log): Promise<RunResults> {
  const flags = parseRunFlags(argv);
  const preset = { ...PRESETS[flags.preset], ...(flags.maxTasks ? { maxTasks: flags.maxTasks } : {}) };
  const loadedStream = loadStreamDir(flags.stream, flags.seed);
  for (const note of loadedStream.notes) log(`note: ${note}`);
  const stream = applyPreset(loadedStream.stream, preset, flags.seed);
  let ood: Task[] | undefined;
  if (flags.ood) {
    const loadedOod = loadStreamDir(flags.ood, flags.seed, BUILTIN_OOD_DIR);
    ood = applyPreset(loadedOod.stream, { ...preset, maxTasks: loadedOod.stream.tasks.length }, flags.seed).tasks;
    log(`ood: ${ood.length} task(s) from ${flags.ood} (never trained; scored by the methods that route: SEE and MoSEs)`);
  }
  const modelDir = flags.model ?? BASE_MODEL_PATH;
  const loaded = await loadGpt2CheckpointDir(modelDir);
  for (const w of loaded.warnings) log(`warning: ${w}`);
  const tokenizer = await tokenizerForConfig(loaded.config, `${modelDir}/config.json`);

  const stateDir = `${flags.out}.state`;
  let resumeFrom: RunResults | undefined;
  if (flags.resume) {
    if (!existsSync(flags.out)) throw new Error(`--resume: ${flags.out} does not exist (nothing to resume)`);
    resumeFrom = JSON.parse(readFileSync(flags.out, 'utf8')) as RunResults;
    const done = Object.entries(resumeFrom.methods).map(([id, r]) => `${id} ${r.stagesDone} stage(s)${r.done ? ' (done)' : ''}`);
    log(`resuming ${flags.out}: ${done.join(', ') || 'base row only'}`);
  } else if (existsSync(stateDir)) rmSync(stateDir, { recursive: true, force: true });
  mkdirSync(dirname(flags.out) || '.', { recursive: true });

  const ctx = await createNodeContext();
  try {
    // The kernel variant decides the order of float sums: a resumed run uses the one its
    // first part used, a fresh one the one this machine measured before (else it measures).
    const recorded = resumeFrom?.environment.matmulTuning;
    const seeded = recorded ? seedMatmulTuning(ctx, recorded) : false;
    if (recorded && !seeded) log(`warning: ${flags.out} was made on another adapter (${recorded.key}); the resumed part may differ in the last bits`);
    const matmulTuning = seeded ? await tuneMatmul(ctx) : (await ensureMatmulTuned(ctx, fileStore())).tuning;
    log(
      `stream ${stream.name}: ${stream.tasks.map((t) => `${t.name} (${t.train.length}/${t.test.length}, ${t.testKind})`).join(', ')}; ` +
        `preset ${preset.name}; seed ${flags.seed}; model ${modelDir}; methods ${flags.methods.join(', ')}`,
    );
    const started = performance.now();
    let lastStatus = 0;
    let truncationTold = false;
    const results = await runStream(
      {
        ctx,
        base: { config: loaded.config, tensors: loaded.tensors, source: flags.model ?? 'shipped base' },
        tokenizer,
        stream,
        preset,
        seed: flags.seed,
        methods: flags.methods.map((id) => ({ id, settings: flags.settings[id] })),
        evalEvery: flags.evalEvery,
        matmulTuning,
        ood,
      },
      {
        onProgress: (p) => {
          const now = performance.now();
          if (now - lastStatus < 1000 && p.phase === 'train' && p.step !== p.steps) return;
          lastStatus = now;
          status(progressLine(p, (now - started) / 1000));
        },
        onStageDone: (r, method, stage, state) => {
          if (!truncationTold) {
            // The runner counted them when it encoded the tasks; said once, with the first results.
            truncationTold = true;
            for (const t of r.stream) {
              if (t.truncated) log(`note: ${t.name}: ${t.truncated} training example(s) longer than the model's context of ${r.model.n_positions} tokens lose the start of their prompt`);
            }
          }
          // New state first, then the results that point at it, then the old state: a crash
          // anywhere in between leaves results.json and a state file of the same stage.
          // A finished method is not resumed: its last state is not kept.
          const stateFile = method && state && !r.methods[method].done ? `${method}-stage${stage}.safetensors` : null;
          if (stateFile) {
            mkdirSync(stateDir, { recursive: true });
            writeAtomic(join(stateDir, stateFile), encodeMethodState(state!, { method: method!, stage: String(stage) }));
          }
          writeAtomic(flags.out, `${JSON.stringify(r, null, 1)}\n`);
          if (!method) return;
          if (existsSync(stateDir)) for (const f of readdirSync(stateDir)) if (f.startsWith(`${method}-`) && f !== stateFile) rmSync(join(stateDir, f));
          const m = r.methods[method];
          const row = m.stages === 'joint' ? m.R[m.R.length - 1] : m.R[stage];
          log(`${method} stage ${stage}/${m.stages === 'joint' ? 1 : r.stream.length}: scores ${row?.map((v) => v.toFixed(1)).join(' ')}`);
        },
        loadState: (method, stage) => {
          const path = join(stateDir, `${method}-stage${stage}.safetensors`);
          return existsSync(path) ? decodeMethodState(new Uint8Array(readFileSync(path)), path) : null;
        },
      },
      resumeFrom,
    );
    if (existsSync(stateDir) && readdirSync(stateDir).length === 0) rmSync(stateDir, { recursive: true });
    log(`wrote ${flags.out} in ${fmtTime((performance.now() - started) / 1000)}`);
    for (const [id, m] of Object.entries(results.methods)) {
      const f = (v: number | null) => (v === null ? '  n/a' : v.toFixed(1).padStart(5));
      log(`${id.padEnd(8)} OP ${f(m.OP)}  BWT ${f(m.BWT)}  FWT ${f(m.FWT)}  train ${fmtTime(m.seconds.train)}  eval ${fmtTime(m.seconds.eval)}  ${m.tokensPerSecond.toFixed(0)} tokens/s`);
    }
    return results;
  } finally {
    releaseNodeGpu(ctx);
  }
}

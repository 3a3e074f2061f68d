import { describe, expect, it } from 'vitest';
import type { RunResults } from '../../src/cl/results';
import { MemoryStateStore } from '../../src/cl/stateStore';
import { loadStreamDir } from '../../src/cli/run';
import { loadPeftAdapter } from '../../src/checkpoint/peftAdapter';
import { readBaseModelFiles } from '../../src/model/baseModelNode';
import { baseCheckpointFromFiles } from '../../src/model/baseModel';
import { TrainingEngine } from '../../src/worker/engine';
import type { Experiment, LabReplies, LabRequest } from '../../src/worker/labProtocol';
import type { FromWorker } from '../../src/worker/protocol';
import { useGpu } from '../helpers/gpu';

const gpu = useGpu();

// Two built-in tasks at the tiny preset: the lab's smallest real run.
const full = loadStreamDir('builtin', 0).stream;
const stream = { name: 'two', tasks: full.tasks.slice(0, 2) };
const experiment = (methods: string[]): Experiment => ({ methods: methods.map((id) => ({ id })), seed: 2, preset: 'tiny' });

function engineWith(states = new MemoryStateStore()) {
  const msgs: FromWorker[] = [];
  let onMessage: (m: FromWorker) => void = () => {};
  const engine = new TrainingEngine(
    gpu(),
    (m) => {
      msgs.push(m);
      onMessage(m);
    },
    () => readBaseModelFiles(),
    { states },
  );
  let id = 1;
  const ask = async <K extends LabRequest['kind']>(request: Extract<LabRequest, { kind: K }>): Promise<LabReplies[K]> => {
    const mine = id++;
    await engine.handle({ type: 'request', id: mine, request });
    const reply = msgs.find((m) => m.type === 'reply' && m.id === mine);
    if (!reply || reply.type !== 'reply') throw new Error('no reply');
    if (!reply.ok) throw new Error(reply.error);
    return reply.value as LabReplies[K];
  };
  return { engine, msgs, states, ask, on: (f: (m: FromWorker) => void) => (onMessage = f) };
}

const scoresOf = (r: RunResults) => Object.fromEntries(Object.entries(r.methods).map(([id, m]) => [id, m.R]));

describe("the lab's experiments in the engine", () => {
  it('runs SeqLoRA and SEE over two tasks: progress, a results event per stage, every state kept; then inspects, answers and exports them', async () => {
    const { engine, msgs, states, ask } = engineWith();
    await engine.handle({ type: 'runExperiment', runId: 'a', experiment: experiment(['seqlora', 'see']), stream });
    const errors = msgs.filter((m) => m.type === 'error');
    expect(errors).toEqual([]);
    const stages = msgs.flatMap((m) => (m.type === 'stageDone' ? [`${m.method ?? 'base'}${m.stage}`] : []));
    expect(stages).toEqual(['base0', 'seqlora1', 'seqlora2', 'see1', 'see2']);
    const done = msgs.at(-1);
    expect(done?.type).toBe('runDone');
    const results = (done as Extract<FromWorker, { type: 'runDone' }>).results;
    for (const m of ['seqlora', 'see']) expect(results.methods[m].R.every((row) => row !== null && row.length === 2)).toBe(true);
    expect(states.keys().sort()).toEqual(['a/see/1', 'a/see/2', 'a/seqlora/1', 'a/seqlora/2']);
    const progress = msgs.filter((m) => m.type === 'runProgress');
    expect(progress.length).toBeGreaterThan(4 * 12);
    expect(progress.every((m) => m.type === 'runProgress' && m.gpuBytes > 0)).toBe(true);

    const at = (method: string, stage: number) => ({ runId: 'a', experiment: experiment(['seqlora', 'see']), stream, method, stage });
    const prompt = stream.tasks[0].test[0].prompt;
    const seen = await ask({ kind: 'inspect', at: at('see', 2), request: { prompt } });
    expect(seen.method).toBe('see');
    if (seen.method === 'see') expect(seen.experts.map((e) => e.expert)).toEqual([1, 0]);
    // The playground answers as scoring did: SeqLoRA's greedy answer after stage 1.
    const { text } = await ask({ kind: 'generate', from: { kind: 'method', ...at('seqlora', 1) }, prompt, maxNewTokens: 8, temperature: 0, seed: 0 });
    expect(typeof text).toBe('string');
    await expect(ask({ kind: 'generate', from: { kind: 'base' }, prompt: '', maxNewTokens: 8, temperature: 0, seed: 0 })).rejects.toThrow('the prompt is empty');
    await expect(ask({ kind: 'inspect', at: at('seqlora', 1), request: { prompt } })).rejects.toThrow(/no gates to inspect/);
    await expect(ask({ kind: 'inspect', at: { ...at('see', 1), runId: 'nope' }, request: { prompt } })).rejects.toThrow(/no saved state of see after stage 1/);

    const folders = await ask({ kind: 'exportAdapters', at: at('see', 2) });
    expect(folders.map((f) => f.name)).toEqual([`expert1-${stream.tasks[0].name}`, `expert2-${stream.tasks[1].name}`]);
    const { config } = baseCheckpointFromFiles(await readBaseModelFiles());
    for (const f of folders) {
      const files = new Map(f.files);
      expect([...files.keys()].sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors', 'marker_rows.safetensors']);
      const loaded = loadPeftAdapter(new TextDecoder().decode(files.get('adapter_config.json')), files.get('adapter_model.safetensors')!, config);
      expect(loaded.settings.rank).toBe(16);
    }
    await expect(ask({ kind: 'exportAdapters', at: { ...at('see', 1), method: 'moses', experiment: experiment(['moses']) } })).rejects.toThrow(/no form in PEFT/);
  }, 600_000);

  it('stops between steps on request, and a resumed run ends with the same scores as one never stopped', async () => {
    const states = new MemoryStateStore();
    const a = engineWith(states);
    let last: RunResults | null = null;
    let stopped = false;
    a.on((m) => {
      if (m.type === 'stageDone') last = m.results;
      // Once: the resumed run trains stage 2 again.
      if (!stopped && m.type === 'runProgress' && m.progress.stage === 2 && m.progress.step === 3) {
        stopped = true;
        void a.engine.handle({ type: 'stop' });
      }
    });
    await a.engine.handle({ type: 'runExperiment', runId: 'b', experiment: experiment(['seqlora']), stream });
    expect(a.msgs.at(-1)?.type).toBe('stopped');
    expect(last!.methods.seqlora.stagesDone).toBe(1);
    // The stage in flight is lost, the finished one resumes from its state.
    await a.engine.handle({ type: 'runExperiment', runId: 'b', experiment: experiment(['seqlora']), stream, resumeFrom: last! });
    const resumed = a.msgs.at(-1);
    expect(resumed?.type).toBe('runDone');

    const b = engineWith();
    await b.engine.handle({ type: 'runExperiment', runId: 'c', experiment: experiment(['seqlora']), stream });
    const straight = b.msgs.at(-1);
    expect(straight?.type).toBe('runDone');
    if (resumed?.type === 'runDone' && straight?.type === 'runDone') expect(scoresOf(resumed.results)).toEqual(scoresOf(straight.results));
  }, 600_000);

  it('refuses a second run while one is going, an unknown preset, and an empty stream, by message', async () => {
    const { engine, msgs } = engineWith();
    await engine.handle({ type: 'runExperiment', runId: 'd', experiment: { ...experiment(['seqlora']), preset: 'huge' }, stream });
    await engine.handle({ type: 'runExperiment', runId: 'e', experiment: experiment(['seqlora']), stream: { name: 'none', tasks: [] } });
    await engine.handle({ type: 'runExperiment', runId: 'f', experiment: experiment(['nonsense']), stream });
    const errors = msgs.flatMap((m) => (m.type === 'error' ? [`${m.runId}: ${m.message}`] : []));
    expect(errors[0]).toMatch(/^d: unknown preset "huge"/);
    expect(errors[1]).toMatch(/^e: the stream has no tasks/);
    expect(errors[2]).toMatch(/^f: .*nonsense/);
    const first = engine.handle({ type: 'runExperiment', runId: 'g', experiment: experiment(['seqlora']), stream });
    await engine.handle({ type: 'runExperiment', runId: 'h', experiment: experiment(['seqlora']), stream });
    await engine.handle({ type: 'stop' });
    await first;
    expect(msgs.some((m) => m.type === 'error' && m.runId === 'h' && /already in progress/.test(m.message))).toBe(true);
  }, 600_000);
});

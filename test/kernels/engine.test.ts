import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context';
import { loadBaseModel } from '../../src/model/baseModelNode';
import { DEMO_JOB } from '../../src/worker/demoJob';
import { TrainingEngine } from '../../src/worker/engine';
import type { FinetuneJob, FromWorker } from '../../src/worker/protocol';
import { useGpu } from '../helpers/gpu';

const gpu = useGpu();

const job = (over: Partial<FinetuneJob> = {}): FinetuneJob => ({ runId: 'r1', ...DEMO_JOB, ...over });
/** A fresh tiny model: the control-flow tests need many cheap steps, not the base. */
const TINY = { n_layer: 1, n_head: 2, n_embd: 32, n_positions: 16 };
const loadBase = async (ctx: GpuContext) => (await loadBaseModel(ctx)).model;

describe('training engine (worker protocol)', () => {
  it('fine-tunes the shipped base by default: progress with an ETA every step, then a result', async () => {
    const ctx = gpu();
    const live = ctx.poolStats().live;
    const msgs: FromWorker[] = [];
    const engine = new TrainingEngine(ctx, (m) => msgs.push(m), loadBase);
    await engine.handle({ type: 'start', job: job() });
    const progress = msgs.filter((m) => m.type === 'progress');
    const n = DEMO_JOB.steps;
    expect(progress.map((p) => p.step)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(progress.every((p) => p.etaSeconds >= 0 && p.tokensPerSecond > 0 && p.totalSteps === n)).toBe(true);
    expect(progress[n - 1].loss).toBeLessThan(progress[0].loss / 5);
    const result = msgs[msgs.length - 1];
    expect(result.type).toBe('result');
    if (result.type === 'result') expect(result.exactMatch).toBe(100);
    expect(ctx.poolStats().live).toBe(live);
  });

  it('pauses, resumes and stops between steps', async () => {
    const ctx = gpu();
    const msgs: FromWorker[] = [];
    let engine: TrainingEngine;
    engine = new TrainingEngine(
      ctx,
      (m) => {
        msgs.push(m);
        if (m.type === 'progress' && m.step === 3) void engine.handle({ type: 'pause' });
        if (m.type === 'paused') void engine.handle({ type: 'resume' });
        if (m.type === 'progress' && m.step === 6) void engine.handle({ type: 'stop' });
      },
      loadBase,
    );
    await engine.handle({ type: 'start', job: job({ runId: 'r2', model: TINY, steps: 80 }) });
    const kinds = msgs.map((m) => (m.type === 'progress' ? `p${m.step}` : m.type));
    expect(kinds).toEqual(['p1', 'p2', 'p3', 'paused', 'resumed', 'p4', 'p5', 'p6', 'stopped']);
  });

  it('refuses an invalid job with a message saying what is wrong', async () => {
    const ctx = gpu();
    const msgs: FromWorker[] = [];
    const engine = new TrainingEngine(ctx, (m) => msgs.push(m), loadBase);
    await engine.handle({ type: 'start', job: job({ steps: 0, examples: [{ prompt: 'a', answer: 3 as unknown as string }] }) });
    expect(msgs).toHaveLength(1);
    expect(msgs[0].type).toBe('error');
    if (msgs[0].type === 'error') {
      expect(msgs[0].message).toMatch(/steps must be a positive integer/);
      expect(msgs[0].message).toMatch(/examples\[0\] must have string "prompt" and "answer"/);
    }
  });

  it('trains only a LoRA adapter when the job asks for one, and refuses bad LoRA settings', async () => {
    const ctx = gpu();
    const live = ctx.poolStats().live;
    const msgs: FromWorker[] = [];
    const engine = new TrainingEngine(ctx, (m) => msgs.push(m), loadBase);
    await engine.handle({ type: 'start', job: job({ runId: 'r4', model: TINY, steps: 5, lora: { rank: 2, alpha: 4, dropout: 0.1 } }) });
    expect(msgs[msgs.length - 1].type).toBe('result');
    expect(ctx.poolStats().live, 'adapter released with the model').toBe(live);
    msgs.length = 0;
    await engine.handle({
      type: 'start',
      job: job({ runId: 'r5', lora: { rank: 0, alpha: -1, dropout: 1, targets: ['attn.q' as never] } }),
    });
    expect(msgs).toHaveLength(1);
    const m = msgs[0];
    const text = m.type === 'error' ? m.message : '';
    for (const want of [/lora\.rank must be a positive integer/, /lora\.alpha must be > 0/, /lora\.dropout must be in \[0, 1\)/, /unknown projection "attn\.q"/]) {
      expect(text).toMatch(want);
    }
  });

  it('fine-tunes a LoRA adapter on the frozen base to answer and stop: the base knows its end token', async () => {
    const ctx = gpu();
    const msgs: FromWorker[] = [];
    const engine = new TrainingEngine(ctx, (m) => msgs.push(m), loadBase);
    await engine.handle({ type: 'start', job: job({ runId: 'r6', lora: { rank: 8, alpha: 16 }, steps: 80, peakLr: 1e-2 }) });
    const progress = msgs.filter((m) => m.type === 'progress');
    expect(progress[progress.length - 1].loss).toBeLessThan(progress[0].loss / 2);
    const result = msgs[msgs.length - 1];
    expect(result.type).toBe('result');
    // Every answer is one digit followed by <end>: a base that never learned <end> keeps
    // writing digits up to the length limit (it did: "00" for every prompt).
    if (result.type === 'result') for (const a of result.answers) expect(a).toMatch(/^[03]$/);
  });
});

import { describe, expect, it } from 'vitest';
import { DEMO_JOB } from '../../src/worker/demoJob';
import { TrainingEngine } from '../../src/worker/engine';
import type { FinetuneJob, FromWorker } from '../../src/worker/protocol';
import { useGpu } from '../helpers/gpu';

const gpu = useGpu();

const job = (over: Partial<FinetuneJob> = {}): FinetuneJob => ({ runId: 'r1', ...DEMO_JOB, ...over });

describe('training engine (worker protocol)', () => {
  it('reports progress with an ETA every step and ends with a result', async () => {
    const ctx = gpu();
    const live = ctx.poolStats().live;
    const msgs: FromWorker[] = [];
    const engine = new TrainingEngine(ctx, (m) => msgs.push(m));
    await engine.handle({ type: 'start', job: job() });
    const progress = msgs.filter((m) => m.type === 'progress');
    expect(progress.map((p) => p.step)).toEqual(Array.from({ length: 80 }, (_, i) => i + 1));
    expect(progress.every((p) => p.etaSeconds >= 0 && p.tokensPerSecond > 0 && p.totalSteps === 80)).toBe(true);
    expect(progress[79].loss).toBeLessThan(progress[0].loss / 5);
    const result = msgs[msgs.length - 1];
    expect(result.type).toBe('result');
    if (result.type === 'result') expect(result.exactMatch).toBe(100);
    expect(ctx.poolStats().live).toBe(live);
  });

  it('pauses, resumes and stops between steps', async () => {
    const ctx = gpu();
    const msgs: FromWorker[] = [];
    let engine: TrainingEngine;
    engine = new TrainingEngine(ctx, (m) => {
      msgs.push(m);
      if (m.type === 'progress' && m.step === 3) void engine.handle({ type: 'pause' });
      if (m.type === 'paused') void engine.handle({ type: 'resume' });
      if (m.type === 'progress' && m.step === 6) void engine.handle({ type: 'stop' });
    });
    await engine.handle({ type: 'start', job: job({ runId: 'r2' }) });
    const kinds = msgs.map((m) => (m.type === 'progress' ? `p${m.step}` : m.type));
    expect(kinds).toEqual(['p1', 'p2', 'p3', 'paused', 'resumed', 'p4', 'p5', 'p6', 'stopped']);
  });

  it('refuses an invalid job with a message saying what is wrong', async () => {
    const ctx = gpu();
    const msgs: FromWorker[] = [];
    const engine = new TrainingEngine(ctx, (m) => msgs.push(m));
    await engine.handle({ type: 'start', job: job({ steps: 0, examples: [{ prompt: 'a', answer: 3 as unknown as string }] }) });
    expect(msgs).toHaveLength(1);
    expect(msgs[0].type).toBe('error');
    if (msgs[0].type === 'error') {
      expect(msgs[0].message).toMatch(/steps must be a positive integer/);
      expect(msgs[0].message).toMatch(/examples\[0\] must have string "prompt" and "answer"/);
    }
  });
});

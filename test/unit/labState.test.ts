import { describe, expect, it } from 'vitest';
import type { RunResults } from '../../src/cl/results';
import type { RunProgress } from '../../src/cl/runStream';
import { applyWorkerMessage, initialLabData, type LabData, type RunState } from '../../src/ui/labState';
import { smooth } from '../../src/ui/panels/LossChart';
import { metricsCsv } from '../../src/ui/panels/ResultsPanel';
import { diverging, textOn, viridis } from '../../src/ui/colors';

const run = (over: Partial<RunState> = {}): RunState => ({
  runId: 'r1',
  status: 'running',
  experiment: { methods: [{ id: 'seqlora' }], seed: 0, preset: 'tiny' },
  stream: { name: 'builtin', tasks: [] },
  results: null,
  losses: {},
  answers: {},
  history: {},
  startedAt: 0,
  ...over,
});

const progress = (over: Partial<RunProgress>): RunProgress => ({
  method: 'seqlora', methodIndex: 0, methods: 1, stage: 1, stages: 2, task: 'a', phase: 'train', step: 1, steps: 12, loss: 2, tokensPerSecond: 100, etaSeconds: 10, ...over,
});

function apply(s: LabData, ...msgs: Parameters<typeof applyWorkerMessage>[1][]): LabData {
  return msgs.reduce<LabData>((acc, m) => ({ ...acc, ...applyWorkerMessage(acc, m) }), s);
}

describe('the lab state under worker messages', () => {
  it('collects each method\'s losses on one step axis across stages, and replaces a resumed stage\'s points', () => {
    let s: LabData = { ...initialLabData(), run: run() };
    s = apply(
      s,
      { type: 'runProgress', runId: 'r1', progress: progress({ step: 1, loss: 3 }), gpuBytes: 10 },
      { type: 'runProgress', runId: 'r1', progress: progress({ step: 12, loss: 1 }), gpuBytes: 10 },
      { type: 'runProgress', runId: 'r1', progress: progress({ stage: 2, step: 1, loss: 4 }), gpuBytes: 10 },
      { type: 'runProgress', runId: 'r1', progress: progress({ stage: 2, phase: 'eval', step: 0, loss: 9 }), gpuBytes: 10 },
    );
    expect(s.live.losses.seqlora.map((p) => [p.step, p.loss])).toEqual([[1, 3], [12, 1], [13, 4]]);
    // A resume repeats stage 2 from its first step: its old points go.
    s = apply(s, { type: 'runProgress', runId: 'r1', progress: progress({ stage: 2, step: 1, loss: 5 }), gpuBytes: 10 });
    expect(s.live.losses.seqlora.map((p) => [p.step, p.loss])).toEqual([[1, 3], [12, 1], [13, 5]]);
  });

  it('ignores messages of another run and keeps errors until dismissed', () => {
    let s: LabData = { ...initialLabData(), run: run() };
    s = apply(s, { type: 'runProgress', runId: 'old', progress: progress({}), gpuBytes: 1 }, { type: 'stopped', runId: 'old', step: 0 });
    expect(s.live.progress).toBeNull();
    expect(s.run!.status).toBe('running');
    s = apply(s, { type: 'error', runId: 'r1', message: 'the stream has no tasks' });
    expect(s.run!.status).toBe('failed');
    expect(s.errors.map((e) => e.message)).toEqual(['the stream has no tasks']);
    s = apply(s, { type: 'error', runId: null, message: 'worker failed' });
    expect(s.errors).toHaveLength(2);
  });

  it('follows a run through pause, resume, a lost device and its end', () => {
    let s: LabData = { ...initialLabData(), run: run() };
    s = apply(s, { type: 'paused', runId: 'r1', step: 3 });
    expect(s.run!.status).toBe('paused');
    s = apply(s, { type: 'resumed', runId: 'r1', step: 3 }, { type: 'deviceLost', reason: 'reset' });
    expect(s.run!.status).toBe('interrupted');
    expect(s.engine).toEqual({ status: 'lost', reason: 'reset' });
    // The run's failure that follows the loss (a buffer it can no longer map) does not end it.
    s = apply(s, { type: 'error', runId: 'r1', message: "Failed to execute 'mapAsync' on 'GPUBuffer'" });
    expect(s.run!.status).toBe('interrupted');
    expect(s.errors).toEqual([]);
    const results = { methods: {} } as unknown as RunResults;
    s = apply(s, { type: 'runDone', runId: 'r1', results });
    expect(s.run!.status).toBe('done');
    expect(s.run!.results).toBe(results);
  });
});

describe('result views', () => {
  it('writes the metrics table as CSV with the mean forgetting and the last stored count', () => {
    const results = {
      methods: {
        seqlora: { OP: 10, BWT: -20, FWT: 1.5, forgetting: [30, 10, null], params: { stored: [5, 5, 5] } },
        'mtl,x': { OP: 17.5, BWT: null, FWT: null, forgetting: [null, null, null], params: { stored: [null, null, 7] } },
      },
    } as unknown as RunResults;
    expect(metricsCsv(results)).toBe('method,OP,BWT,FWT,mean_forgetting,stored_params\nseqlora,10,-20,1.5,20,5\n"mtl,x",17.5,,,,7\n');
  });

  it('smooths losses by an exponential moving average (0 keeps them)', () => {
    const pts = [4, 2, 2].map((loss, i) => ({ step: i + 1, stage: 1, loss }));
    expect(smooth(pts, 0).map((p) => p.loss)).toEqual([4, 2, 2]);
    expect(smooth(pts, 0.5).map((p) => p.loss)).toEqual([4, 3, 2.5]);
  });

  it('colours scores on viridis with readable text, and changes on a diverging scale', () => {
    expect(viridis(0)).toBe('rgb(68, 1, 84)');
    expect(viridis(1)).toBe('rgb(253, 231, 37)');
    expect(viridis(2)).toBe(viridis(1));
    expect(textOn(0.1)).toBe('#ffffff');
    expect(textOn(0.9)).toBe('#111111');
    expect(diverging(0)).toBe('rgb(255, 255, 255)');
    expect(diverging(-50)).toBe('rgb(178, 24, 43)');
    expect(diverging(100)).toBe('rgb(33, 102, 172)');
  });
});

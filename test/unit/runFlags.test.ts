import { describe, expect, it } from 'vitest';
import { describeMethods, parseRunFlags, progressLine, RunUsageError } from '../../src/cli/run';
import { limitTask } from '../../src/cl/presets';
import type { Task } from '../../src/data/task';
import { METHODS } from '../../src/methods/registry';
import { stageTrainer } from '../../src/methods/common';
import type { MethodEnv } from '../../src/methods/method';
import { resolveSettings } from '../../src/methods/settings';

describe('continual-lab run flags', () => {
  it('defaults: the built-in stream, every method, seed 0, the default preset', () => {
    const f = parseRunFlags([]);
    expect(f).toMatchObject({ stream: 'builtin', seed: 0, out: 'results.json', preset: 'default', resume: false });
    expect(f.methods).toEqual(METHODS.map((m) => m.id));
  });

  it('reads every flag, settings typed by their spec', () => {
    const f = parseRunFlags(['--stream', 'my/dir', '--methods', 'seqlora,ewc', '--seed', '7', '--out', 'r.json', '--preset', 'tiny', '--max-tasks', '2', '--set', 'ewc.lambda=250', '--set', 'seqlora.targets=attn.c_attn.q,attn.c_attn.v', '--resume']);
    expect(f).toMatchObject({ stream: 'my/dir', methods: ['seqlora', 'ewc'], seed: 7, out: 'r.json', preset: 'tiny', maxTasks: 2, resume: true });
    expect(f.settings).toEqual({ ewc: { lambda: 250 }, seqlora: { targets: ['attn.c_attn.q', 'attn.c_attn.v'] } });
  });

  it('refuses unknown methods, settings and presets, listing the valid ones', () => {
    expect(() => parseRunFlags(['--methods', 'seqlora,sea'])).toThrow('unknown method "sea" (methods: seqft, seqlora, replay, ewc, olora, mtl, see, moses)');
    expect(() => parseRunFlags(['--methods', 'ewc', '--set', 'ewc.lamda=3'])).toThrow(/ewc has no setting "lamda" \(its settings: rank, alpha, targets, lr, weightDecay, lambda, fisherBatches, fisherBatchSize\)/);
    expect(() => parseRunFlags(['--preset', 'huge'])).toThrow('unknown preset "huge" (presets: tiny, default, large)');
    expect(() => parseRunFlags(['--seed', 'x'])).toThrow(RunUsageError);
    expect(() => parseRunFlags(['--methods', 'seqlora', '--set', 'ewc.lambda=3'])).toThrow(/ewc is not among --methods/);
    expect(() => parseRunFlags(['--out'])).toThrow('--out needs a value');
  });

  it("checks each setting's type and range", () => {
    const specs = METHODS.find((m) => m.id === 'ewc')!.settings;
    expect(() => resolveSettings('ewc', specs, { rank: 0 })).toThrow('ewc setting "rank" must be in 1..256, got 0');
    expect(() => resolveSettings('ewc', specs, { rank: 2.5 })).toThrow(/must be an integer/);
    expect(() => resolveSettings('ewc', specs, { lambda: Number.NaN })).toThrow(/must be a number/);
    expect(() => resolveSettings('ewc', specs, { targets: ['attn.c_attn', 'mlp.fc'] })).toThrow(/must be a non-empty list of attn.c_attn, attn.c_proj/);
    expect(resolveSettings('ewc', specs, { lambda: 3 })).toMatchObject({ lambda: 3, rank: 16 });
  });

  it("a method's weight decay reaches the stage's optimizer (LoRA methods decay by default, the full fine-tune does not)", () => {
    const env = { budget: { steps: 20, batchSize: 8, warmupSteps: 4 }, seed: 3 } as MethodEnv;
    const lora = resolveSettings('seqlora', METHODS.find((m) => m.id === 'seqlora')!.settings, {});
    const ft = resolveSettings('seqft', METHODS.find((m) => m.id === 'seqft')!.settings, {});
    expect(lora.weightDecay).toBe(3);
    expect(ft.weightDecay).toBe(0);
    expect(stageTrainer(env, 'seqlora', 0, 50, { lr: Number(lora.lr), weightDecay: Number(lora.weightDecay) }).optimizer).toEqual({ weightDecay: 3 });
    expect(stageTrainer(env, 'seqlora', 0, 50, { lr: 1e-3, weightDecay: 0.5 })).toMatchObject({ peakLr: 1e-3, optimizer: { weightDecay: 0.5 }, maxSteps: 20, batchSize: 8 });
    expect(() => parseRunFlags(['--methods', 'seqlora', '--set', 'seqlora.weightDecay=-1'])).toThrow('seqlora setting "weightDecay" must be in 0..100, got -1');
  });

  it('continual-lab methods lists every method with its settings, defaults and ranges', () => {
    const text = describeMethods();
    for (const m of METHODS) expect(text).toContain(`${m.id}: ${m.summary}`);
    expect(text).toMatch(/ewc: [^]*\n  lambda = 100 \(0\.\.1000000000\)\n      Penalty weight/);
  });

  it('the progress line shows method, stage, task, step, loss and the ETA', () => {
    const line = progressLine({ method: 'ewc', methodIndex: 1, methods: 3, stage: 2, stages: 8, task: 'capitals', phase: 'train', step: 7, steps: 40, loss: 1.23456, tokensPerSecond: 300, etaSeconds: 600 }, 600);
    expect(line).toBe('[##########..........] ewc (2/3) stage 2/8 capitals: train step 7/40 loss 1.235  ETA 10m00s');
  });
});

describe('presets', () => {
  const ex = (i: number) => ({ prompt: `q${i}`, answer: ` a${i}` });
  const task = (testKind: Task['testKind'], test: number[]): Task => ({
    name: 't',
    metric: 'exact_match',
    testKind,
    maxAnswerTokens: 4,
    description: '',
    train: Array.from({ length: 20 }, (_, i) => ex(i)),
    test: test.map(ex),
  });

  it('cuts train and heldout test to prefixes', () => {
    const t = limitTask(task('heldout', [30, 31, 32, 33]), { maxTrain: 5, maxTrainRetention: 3, maxTest: 2 }, 1);
    expect(t.train).toEqual([0, 1, 2, 3, 4].map(ex));
    expect(t.test).toEqual([30, 31].map(ex));
  });

  it('keeps a retention test inside the kept training items, topping it up by seed', () => {
    const t = limitTask(task('retention', [0, 1, 15, 16]), { maxTrain: 9, maxTrainRetention: 6, maxTest: 4 }, 1);
    const kept = new Set(t.train.map((e) => e.prompt));
    expect(t.train).toEqual([0, 1, 2, 3, 4, 5].map(ex));
    expect(t.test.slice(0, 2)).toEqual([0, 1].map(ex));
    expect(t.test).toHaveLength(4);
    expect(t.test.every((e) => kept.has(e.prompt))).toBe(true);
    expect(new Set(t.test.map((e) => e.prompt)).size).toBe(4);
    expect(limitTask(task('retention', [0, 1, 15, 16]), { maxTrain: 9, maxTrainRetention: 6, maxTest: 4 }, 1)).toEqual(t);
  });
});

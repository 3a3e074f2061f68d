import { describe, expect, it } from 'vitest';
import { quadraticPenalty } from '../../src/autograd/penaltyOps';
import { Parameter, Tape, zeroGrad } from '../../src/autograd/tape';
import type { GpuContext } from '../../src/gpu/context';
import { quadraticPenalty as quadraticPenaltyKernel } from '../../src/kernels/quadraticPenalty';
import { AdapterPool } from '../../src/model/adapterPool';
import { makeGptConfig, type GptConfig } from '../../src/model/config';
import { generateGreedy } from '../../src/model/generate';
import { GptModel } from '../../src/model/gpt';
import { LoraAdapter } from '../../src/model/lora';
import { byteTokenizer } from '../../src/tokenizer/byteTokenizer';
import { gpt2Tokenizer } from '../../src/tokenizer/gpt2Tokenizer';
import type { Tokenizer } from '../../src/tokenizer/tokenizer';
import { encodeExamples, Trainer, type StepReport } from '../../src/train/trainer';
import { rng, uniform } from '../../src/util/random';
import { expectClose, expectGradientMatchesFiniteDifference, f64 } from '../helpers/compare';
import { useGpu } from '../helpers/gpu';
import { byteGptConfig } from '../helpers/byteConfig';

const gpu = useGpu();

// Prompts and answers of different lengths, so batches pad differently.
const TASK = Array.from({ length: 12 }, (_, i) => ({ prompt: `item ${'x'.repeat(i % 4)}${i}:`, answer: ` ${(i * 7 + 3) % 12}${i % 3 === 0 ? '!' : ''}` }));

function byteModel(ctx: GpuContext, seed = 1): { model: GptModel; config: GptConfig } {
  const config = byteGptConfig({ n_positions: 24, n_embd: 16, n_layer: 2, n_head: 2 });
  return { model: GptModel.init(ctx, config, seed), config };
}

async function values(ctx: GpuContext, model: GptModel): Promise<Float32Array[]> {
  return Promise.all([...model.params.values(), ...(model.adapters?.parameters() ?? [])].map((p) => ctx.readF32(p.value)));
}

async function answers(model: GptModel, tok: Tokenizer, task: typeof TASK): Promise<string[]> {
  const outs = await generateGreedy(
    model,
    task.map((e) => [tok.specials.begin, ...tok.encode(e.prompt)]),
    { maxNewTokens: 6, endId: tok.specials.end, padId: tok.specials.pad },
  );
  return outs.map((o) => tok.decode(o.filter((id) => id !== tok.specials.end), { specials: 'skip' }));
}

describe('trainer', () => {
  it('gradient accumulation over micro-batches gives the same update as one batch', async () => {
    const ctx = gpu();
    const { pairs } = encodeExamples(byteTokenizer, TASK, 24);
    const run = async (microBatchSize: number) => {
      const { model } = byteModel(ctx, 3);
      const init = await values(ctx, model);
      // A huge eps makes AdamW's update proportional to the gradient (lr * g / eps), so the
      // weights' change compares the gradients themselves; Adam's usual sign-like first
      // steps would blow float rounding in tiny gradients up to a full step.
      const trainer = new Trainer(model, byteTokenizer, {
        batchSize: 6,
        microBatchSize,
        epochs: 1,
        maxSteps: 1,
        peakLr: 1e4,
        seed: 5,
        optimizer: { maxGradNorm: 0, eps: 1e6, weightDecay: 0 },
      });
      const losses: number[] = [];
      await trainer.train(pairs, { onStep: (r) => losses.push(r.loss) });
      const v = await values(ctx, model);
      trainer.dispose();
      model.dispose();
      return { change: v.map((t, i) => t.map((x, j) => x - init[i][j])), losses };
    };
    const whole = await run(6);
    const split = await run(2);
    expect(split.losses.length).toBe(1);
    expect(split.losses[0]).toBeCloseTo(whole.losses[0], 5);
    split.change.forEach((t, i) => expectClose(t, whole.change[i], `update of parameter ${i}`, 1e-3));
    expect(whole.change.some((t) => t.some((x) => x !== 0))).toBe(true);
  });

  it('queues each step before reading the previous one\'s loss (no stall per step), reproducibly from the seed', async () => {
    const ctx = gpu();
    const { pairs } = encodeExamples(byteTokenizer, TASK, 24);
    const events: string[] = [];
    const run = async (seed: number) => {
      const { model } = byteModel(ctx, 2);
      const trainer = new Trainer(model, byteTokenizer, { batchSize: 4, epochs: 2, peakLr: 5e-3, warmupSteps: 1, seed });
      const reports: StepReport[] = [];
      const summary = await trainer.train(pairs, {
        onQueued: (k) => events.push(`queued ${k}`),
        onStep: (r) => {
          events.push(`loss ${r.step}`);
          reports.push(r);
        },
      });
      trainer.dispose();
      model.dispose();
      return { reports, summary };
    };
    const a = await run(1);
    expect(a.summary.totalSteps).toBe(6);
    expect(a.reports.map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(a.reports.map((r) => r.epoch)).toEqual([1, 1, 1, 2, 2, 2]);
    for (let k = 1; k < 6; k++) expect(events.indexOf(`queued ${k + 1}`)).toBeLessThan(events.indexOf(`loss ${k}`));
    expect(a.reports[5].etaSeconds).toBe(0);
    expect(a.reports.every((r) => r.tokensPerSecond > 0 && Number.isFinite(r.loss))).toBe(true);
    events.length = 0;
    const b = await run(1);
    expect(b.reports.map((r) => r.loss)).toEqual(a.reports.map((r) => r.loss));
    const c = await run(2);
    expect(c.reports.map((r) => r.loss)).not.toEqual(a.reports.map((r) => r.loss));
  });

  it('stops where beforeStep says, and a parameter group added mid-run trains from the next step', async () => {
    const ctx = gpu();
    const { model, config } = byteModel(ctx, 4);
    for (const p of model.params.values()) p.trainable = false;
    const first = LoraAdapter.create(ctx, config, { rank: 2, alpha: 4, targets: ['attn.c_attn'], seed: 1 });
    model.adapters = new AdapterPool(config, [first]);
    const { pairs } = encodeExamples(byteTokenizer, TASK, 24);
    const trainer = new Trainer(model, byteTokenizer, { batchSize: 4, epochs: 10, peakLr: 1e-2, seed: 3 });
    // An extra group outside the model (a router, say) that a loss term reads from the
    // start but that joins training only at step 3.
    const extra = new Parameter(ctx.upload(uniform(16 * 4, rng(1)), [16, 4]), 'extra', false);
    const zero = ctx.zeros([16, 4]);
    trainer.addLossTerm((tape) => quadraticPenalty(tape, [{ param: extra, anchor: zero }], 1));
    const start = await ctx.readF32(extra.value);
    const seenAtStep: number[] = [];
    let beforeJoin: Float32Array | null = null;
    const summary = await trainer.train(pairs, {
      beforeStep: async (step) => {
        if (step === 3) {
          beforeJoin = await ctx.readF32(extra.value);
          extra.trainable = true;
          trainer.addParameters([extra]);
        }
        return step > 5 ? 'stop' : 'continue';
      },
      onStep: (r) => seenAtStep.push(r.step),
    });
    expect(summary.stopped).toBe(true);
    expect(summary.steps).toBe(5);
    expect(seenAtStep).toEqual([1, 2, 3, 4, 5]);
    expect(Array.from(beforeJoin!)).toEqual(Array.from(start));
    const after = await ctx.readF32(extra.value);
    // Steps 3-5 pulled it towards zero.
    expect(after.reduce((s, x) => s + x * x, 0)).toBeLessThan(start.reduce((s, x) => s + x * x, 0));
    ctx.release(zero);
    trainer.dispose();
    ctx.release(extra.value);
    model.adapters.dispose(ctx);
    model.dispose();
  });

  it('adds a method\'s penalty on chosen parameters: gradients match finite differences, and the penalty holds them near the anchor', async () => {
    const ctx = gpu();
    // The op itself, against float64 on an awkward size.
    const n = 1031;
    const r = rng(9);
    const [theta, anchor, weight] = [uniform(n, r), uniform(n, r), uniform(n, r, 0, 2)];
    const lambda = 0.7;
    const ref = (t: Float64Array) => t.reduce((s, x, i) => s + lambda * weight[i] * (x - anchor[i]) ** 2, 0);
    const p = new Parameter(ctx.upload(theta, [n]), 'theta');
    const tape = new Tape(ctx);
    const value = quadraticPenalty(tape, [{ param: p, anchor: ctx.upload(anchor, [n]), weight: ctx.upload(weight, [n]) }], lambda);
    const got = (await ctx.readF32(value))[0];
    tape.backward();
    expect(Math.abs(got - ref(f64(theta))) / ref(f64(theta))).toBeLessThan(1e-5);
    expectGradientMatchesFiniteDifference(ref, f64(theta), await ctx.readF32(p.grad!), 'penalty gradient', { samples: 40 });
    tape.dispose();
    zeroGrad(ctx, [p]);
    ctx.release(p.value);
    const unit = ctx.zeros([1]);
    const t1 = ctx.upload(theta, [n]);
    const a1 = ctx.upload(anchor, [n]);
    ctx.release(quadraticPenaltyKernel(ctx, t1, a1, null, 1, unit));
    expect((await ctx.readF32(unit))[0]).toBeCloseTo(theta.reduce((s, x, i) => s + (x - anchor[i]) ** 2, 0), 2);
    ctx.release(unit, t1, a1);

    // In training: the same LoRA run with and without a strong pull towards the start.
    const train = async (penalised: boolean) => {
      const { model, config } = byteModel(ctx, 5);
      for (const q of model.params.values()) q.trainable = false;
      const adapter = LoraAdapter.create(ctx, config, { rank: 2, alpha: 4, targets: ['attn.c_attn', 'mlp.c_fc'], seed: 2 });
      model.adapters = new AdapterPool(config, [adapter]);
      const anchors = adapter.parameters().map((q) => ctx.clone(q.value));
      const trainer = new Trainer(model, byteTokenizer, { batchSize: 6, epochs: 4, peakLr: 2e-2, seed: 1, optimizer: { weightDecay: 0 } });
      const terms: number[] = [];
      if (penalised) {
        trainer.addLossTerm((t) => quadraticPenalty(t, adapter.parameters().map((q, i) => ({ param: q, anchor: anchors[i] })), 50));
      }
      const { pairs } = encodeExamples(byteTokenizer, TASK, 24);
      await trainer.train(pairs, { onStep: (s) => terms.push(s.terms[0] ?? NaN) });
      let dist = 0;
      for (const [i, q] of adapter.parameters().entries()) {
        const [v, a] = [await ctx.readF32(q.value), await ctx.readF32(anchors[i])];
        for (let j = 0; j < v.length; j++) dist += (v[j] - a[j]) ** 2;
      }
      trainer.dispose();
      ctx.release(...anchors);
      model.adapters.dispose(ctx);
      model.dispose();
      return { dist, terms };
    };
    const free = await train(false);
    const held = await train(true);
    expect(held.terms.every((t) => Number.isFinite(t) && t >= 0)).toBe(true);
    expect(free.terms.every((t) => Number.isNaN(t))).toBe(true);
    expect(held.dist).toBeLessThan(free.dist / 10);
  });

  it('trains a GPT-2 BPE checkpoint as it trains the byte-level base', async () => {
    const ctx = gpu();
    const tok = gpt2Tokenizer();
    const config = makeGptConfig({ vocab_size: tok.vocabSize, n_positions: 16, n_embd: 16, n_layer: 1, n_head: 2 });
    const model = GptModel.init(ctx, config, 6);
    // Kept small: with a 50257-token vocabulary and a width of 16, the LM head's input
    // gradient is a 50257-long reduction over few outputs, slow on a software adapter.
    const task = [TASK[1], TASK[6]];
    const { pairs } = encodeExamples(tok, task, config.n_positions);
    expect(pairs[0].ids.length).toBeLessThan(byteTokenizer.encodePair(task[0].prompt, task[0].answer, 64).ids.length);
    const trainer = new Trainer(model, tok, { batchSize: 2, epochs: 40, peakLr: 3e-2, warmupSteps: 3, seed: 2, optimizer: { weightDecay: 0 } });
    const losses: number[] = [];
    await trainer.train(pairs, { onStep: (r) => losses.push(r.loss) });
    expect(losses[losses.length - 1]).toBeLessThan(losses[0] / 10);
    expect(await answers(model, tok, task)).toEqual(task.map((e) => e.answer));
    trainer.dispose();
    model.dispose();
  });

  it('refuses a tokenizer larger than the model\'s vocabulary', () => {
    const ctx = gpu();
    const { model } = byteModel(ctx);
    expect(() => new Trainer(model, gpt2Tokenizer(), { batchSize: 1, epochs: 1, peakLr: 1e-3, seed: 0 })).toThrow(/50257 tokens but the model's vocab_size is 261/);
    model.dispose();
  });
});

import { describe, expect, it } from 'vitest';
import { makeGptConfig } from '../../src/model/config';
import { generateGreedy } from '../../src/model/generate';
import { GptModel } from '../../src/model/gpt';
import { Tape } from '../../src/autograd/tape';
import { makeBatch, releaseBatch, uploadBatch } from '../../src/train/batch';
import { expectClose } from '../helpers/compare';
import { AdamW, DEFAULT_ADAMW } from '../../src/train/optimizer';
import { learningRate } from '../../src/train/schedule';
import { trainStep } from '../../src/train/trainStep';
import { byteTokenizer } from '../../src/tokenizer/byteTokenizer';
import { useGpu } from '../helpers/gpu';
import { byteGptConfig } from '../helpers/byteConfig';

const gpu = useGpu();

// 20 prompt -> answer pairs a model can only get right by learning each one.
const TASK = Array.from({ length: 20 }, (_, i) => ({ prompt: `q${i}:`, answer: String((i * 7 + 3) % 20) }));

describe('training loop', () => {
  it('overfits a 20-example prompt -> answer task to 100% exact match', async () => {
    const ctx = gpu();
    const tok = byteTokenizer;
    const config = makeGptConfig({
      vocab_size: tok.vocabSize,
      n_positions: 16,
      n_embd: 32,
      n_layer: 2,
      n_head: 2,
      bos_token_id: tok.specials.begin,
      eos_token_id: tok.specials.end,
      continual_lab: { tokenizer: 'bytes' },
    });
    const model = GptModel.init(ctx, config, 1);
    const pairs = TASK.map((e) => tok.encodePair(e.prompt, e.answer, 16));
    const batch = makeBatch(ctx, pairs, tok.specials.pad);
    const opt = new AdamW(ctx, { ...DEFAULT_ADAMW, weightDecay: 0 });
    const steps = 150;
    const schedule = { peakLr: 1e-2, warmupSteps: 10, totalSteps: steps, minLr: 1e-3 };
    let first = NaN;
    let last = NaN;
    for (let s = 1; s <= steps; s++) {
      const r = trainStep(model, opt, [batch], learningRate(schedule, s));
      if (s === 1 || s === steps) {
        const v = (await ctx.readF32(r.losses[0]))[0];
        if (s === 1) first = v;
        else last = v;
      }
      ctx.release(...r.losses);
      if (r.gradNorm) ctx.release(r.gradNorm);
    }
    expect(last).toBeLessThan(first / 20);

    const prompts = TASK.map((e) => [tok.specials.begin, ...tok.encode(e.prompt)]);
    const outs = await generateGreedy(model, prompts, { maxNewTokens: 4, endId: tok.specials.end, padId: tok.specials.pad });
    const answers = outs.map((o) => tok.decode(o.filter((id) => id !== tok.specials.end), { specials: 'skip' }));
    const exact = answers.filter((a, i) => a === TASK[i].answer).length;
    expect(answers).toEqual(TASK.map((e) => e.answer));
    expect(exact).toBe(20);

    releaseBatch(ctx, batch);
    opt.dispose();
    model.dispose();
  });
});

describe('makeBatch', () => {
  it('shifts targets by one, masks prompt and padding, and right-pads rows', async () => {
    const ctx = gpu();
    const tok = byteTokenizer;
    const pairs = [tok.encodePair('ab', 'c', 16), tok.encodePair('x', 'yz', 16)];
    const b = makeBatch(ctx, pairs, tok.specials.pad);
    // row 0: <begin> a b c <end>   row 1: <begin> x y z <end>   -> T = 4
    expect([b.B, b.T]).toEqual([2, 4]);
    const ids = Array.from(await ctx.read(b.ids));
    const targets = Array.from(await ctx.read(b.targets));
    const mask = Array.from(await ctx.readF32(b.mask));
    const [bg, end] = [tok.specials.begin, tok.specials.end];
    const c = (s: string) => s.charCodeAt(0);
    expect(ids).toEqual([bg, c('a'), c('b'), c('c'), bg, c('x'), c('y'), c('z')]);
    expect(targets).toEqual([c('a'), c('b'), c('c'), end, c('x'), c('y'), c('z'), end]);
    expect(mask).toEqual([0, 0, 1, 1, 0, 1, 1, 1]);
    expect(b.lossTokens).toBe(5);
    releaseBatch(ctx, b);
  });
});

describe('loss rows', () => {
  it('computes the LM head only where the loss is, with the same loss and gradients as the whole batch', async () => {
    const ctx = gpu();
    const tok = byteTokenizer;
    const config = byteGptConfig({ n_positions: 32, n_embd: 16, n_layer: 2, n_head: 2 });
    // Long prompts, short answers: under half the positions carry loss.
    const pairs = TASK.slice(0, 5).map((e, i) => tok.encodePair(`a longer prompt ${'.'.repeat(i)} ${e.prompt}`, e.answer, 32));
    const listed = makeBatch(ctx, pairs, tok.specials.pad);
    expect(listed.lossRows).toBeDefined();
    expect(listed.lossRows!.size).toBe(listed.lossTokens);
    expect(listed.lossTokens).toBeLessThan(0.5 * listed.B * listed.T);
    const host = { B: listed.B, T: listed.T, ids: await ctx.read(listed.ids), targets: new Uint32Array(listed.B * listed.T), mask: new Float32Array(listed.B * listed.T) };
    const rows = await ctx.read(listed.lossRows!);
    const t = await ctx.read(listed.targets);
    const m = await ctx.readF32(listed.mask);
    rows.forEach((row, i) => {
      host.targets[row] = t[i];
      host.mask[row] = m[i];
    });
    const whole = uploadBatch(ctx, host, { listLossRows: false });
    expect(whole.lossRows).toBeUndefined();
    const step = async (b: typeof listed) => {
      const model = GptModel.init(ctx, config, 4);
      const opt = new AdamW(ctx, { ...DEFAULT_ADAMW, maxGradNorm: 0, eps: 1e6, weightDecay: 0 });
      const r = trainStep(model, opt, [b], 1e4);
      const loss = (await ctx.readF32(r.losses[0]))[0];
      ctx.release(...r.losses);
      const after = await Promise.all([...model.params.values()].map((p) => ctx.readF32(p.value)));
      opt.dispose();
      model.dispose();
      return { loss, after };
    };
    const a = await step(listed);
    const b = await step(whole);
    expect(a.loss).toBeCloseTo(b.loss, 6);
    // With eps = 1e6 the update is lr * g / eps: the weights after one step compare the gradients.
    a.after.forEach((v, i) => expectClose(v, b.after[i], `parameter ${i} after a step`, 1e-4));
    // And the logits of the listed rows are exactly those rows of the whole batch's logits.
    const model = GptModel.init(ctx, config, 4);
    const tape = new Tape(ctx);
    const all = await ctx.readF32(model.forward(tape, whole.ids, whole.positions, whole.B, whole.T).value);
    const some = await ctx.readF32(model.forward(tape, listed.ids, listed.positions, listed.B, listed.T, listed.lossRows).value);
    const V = config.vocab_size;
    rows.forEach((row, i) => expect(Array.from(some.subarray(i * V, (i + 1) * V))).toEqual(Array.from(all.subarray(row * V, (row + 1) * V))));
    tape.dispose();
    model.dispose();
    releaseBatch(ctx, listed);
    releaseBatch(ctx, whole);
  });
});

describe('determinism', () => {
  it('gives bit-identical weights for the same seed and data', async () => {
    const ctx = gpu();
    const tok = byteTokenizer;
    const config = makeGptConfig({
      vocab_size: tok.vocabSize,
      n_positions: 16,
      n_embd: 16,
      n_layer: 1,
      n_head: 2,
      bos_token_id: tok.specials.begin,
      eos_token_id: tok.specials.end,
      continual_lab: { tokenizer: 'bytes' },
    });
    const pairs = TASK.slice(0, 6).map((e) => tok.encodePair(e.prompt, e.answer, 16));
    const run = async (seed: number) => {
      const model = GptModel.init(ctx, config, seed);
      const batch = makeBatch(ctx, pairs, tok.specials.pad);
      const opt = new AdamW(ctx);
      for (let s = 1; s <= 5; s++) {
        const r = trainStep(model, opt, [batch, batch], 1e-2);
        ctx.release(...r.losses, ...(r.gradNorm ? [r.gradNorm] : []));
      }
      const out = await ctx.readF32(model.params.get('transformer.h.0.attn.c_attn.weight')!.value);
      releaseBatch(ctx, batch);
      opt.dispose();
      model.dispose();
      return Buffer.from(out.buffer);
    };
    const a = await run(7);
    const b = await run(7);
    const c = await run(8);
    expect(a.equals(b)).toBe(true);
    expect(a.equals(c)).toBe(false);
  });
});

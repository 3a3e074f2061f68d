import { describe, expect, it } from 'vitest';
import { Tape, zeroGrad } from '../../src/autograd/tape';
import { maskedCrossEntropy } from '../../src/autograd/transformerOps';
import { loadGpt2Checkpoint } from '../../src/checkpoint/gpt2Checkpoint';
import { GptModel } from '../../src/model/gpt';
import { gptForwardRef, gptLossRef } from '../../src/reference/gpt';
import { rng } from '../../src/util/random';
import { expectClose, expectGradientMatchesFiniteDifference } from '../helpers/compare';
import { useGpu } from '../helpers/gpu';
import { makeTinyGpt2Checkpoint } from '../helpers/tinyGpt2';

const gpu = useGpu();

// A tiny GPT-2 written in Hugging Face's file format and loaded through the real loader.
const tiny = makeTinyGpt2Checkpoint({ seed: 5, n_layer: 2, n_head: 2, n_embd: 8, vocab_size: 13, n_positions: 9 });
const loaded = loadGpt2Checkpoint(tiny.configJson, tiny.safetensors);
const { config } = loaded;
const [B, T] = [2, 7];
const r = rng(3);
const ids = Uint32Array.from({ length: B * T }, () => Math.floor(r() * config.vocab_size));
const targets = Uint32Array.from({ length: B * T }, () => Math.floor(r() * config.vocab_size));
const mask = Float32Array.from({ length: B * T }, (_, i) => (i % T >= 3 ? 1 : 0)); // answer tokens only
const positions = Uint32Array.from({ length: B * T }, (_, i) => i % T);
const weights64: Map<string, Float64Array> = new Map([...loaded.tensors].map(([n, t]) => [n, Float64Array.from(t)]));

function upload(ctx: ReturnType<typeof gpu>) {
  return {
    ids: ctx.upload(ids, [B, T], 'u32'),
    positions: ctx.upload(positions, [B, T], 'u32'),
    targets: ctx.upload(targets, [B * T], 'u32'),
    mask: ctx.upload(mask, [B * T], 'f32'),
  };
}

describe('GPT model', () => {
  it('computes the logits of a float64 CPU forward of the same weights', async () => {
    const ctx = gpu();
    const live = ctx.poolStats().live;
    const model = GptModel.fromTensors(ctx, config, loaded.tensors);
    const d = upload(ctx);
    const tape = new Tape(ctx);
    const logits = model.forward(tape, d.ids, d.positions, B, T);
    expectClose(await ctx.readF32(logits.value), gptForwardRef(config, weights64, ids, B, T), 'logits');
    tape.dispose();
    model.dispose();
    ctx.release(...Object.values(d));
    expect(ctx.poolStats().live).toBe(live);
  });

  it('passes a whole-model finite-difference gradient check', async () => {
    const ctx = gpu();
    const live = ctx.poolStats().live;
    const model = GptModel.fromTensors(ctx, config, loaded.tensors);
    const d = upload(ctx);
    const tape = new Tape(ctx);
    const logits = model.forward(tape, d.ids, d.positions, B, T);
    const loss = maskedCrossEntropy(tape, logits, d.targets, d.mask);
    const lossValue = (await ctx.readF32(loss))[0];
    expect(lossValue).toBeCloseTo(gptLossRef(config, weights64, ids, targets, mask, B, T), 4);
    tape.backward();
    for (const [name, p] of model.params) {
      expect(p.grad, name).not.toBeNull();
      const grad = await ctx.readF32(p.grad!);
      const x = Float64Array.from(weights64.get(name)!);
      expectGradientMatchesFiniteDifference(
        (v) => gptLossRef(config, new Map(weights64).set(name, v), ids, targets, mask, B, T),
        x,
        grad,
        `d loss / d ${name}`,
        { eps: 1e-5, rtol: 2e-4, samples: 12 },
      );
    }
    tape.dispose();
    zeroGrad(ctx, model.params.values());
    model.dispose();
    ctx.release(...Object.values(d));
    expect(ctx.poolStats().live).toBe(live);
  });

  it('refuses a sequence longer than n_positions instead of wrapping positions', () => {
    const ctx = gpu();
    const model = GptModel.fromTensors(ctx, config, loaded.tensors);
    const n = config.n_positions + 1;
    const longIds = ctx.zeros([1, n], 'u32');
    const tape = new Tape(ctx);
    expect(() => model.forward(tape, longIds, longIds, 1, n)).toThrow(/exceeds n_positions 9/);
    tape.dispose();
    model.dispose();
    ctx.release(longIds);
  });
});

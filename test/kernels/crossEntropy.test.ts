import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/gpu/errors';
import { crossEntropyLoss, crossEntropyLossAndGrad } from '../../src/kernels/crossEntropy';
import { crossEntropyBackwardRef, crossEntropyRef } from '../../src/reference/crossEntropy';
import { rng, uniform } from '../../src/util/random';
import { expectClose, expectGradientMatchesFiniteDifference, f64 } from '../helpers/compare';
import { useGpu } from '../helpers/gpu';

const gpu = useGpu();

function leakCheck(ctx: ReturnType<typeof gpu>) {
  const live = ctx.poolStats().live;
  return () => expect(ctx.poolStats().live, 'live buffers').toBe(live);
}

/** Logits, targets (a few out of range) and a mask of zeros, ones and fractional weights. */
function batch(T: number, V: number, seed: number) {
  const r = rng(seed);
  const logits = uniform(T * V, r, -8, 8);
  const targets = new Uint32Array(T);
  const mask = new Float32Array(T);
  for (let t = 0; t < T; t++) {
    targets[t] = Math.floor(r() * V);
    mask[t] = t % 3 === 0 ? 0 : t % 3 === 1 ? 1 : 0.5;
  }
  if (T > 4) targets[T - 2] = V + 3; // out of range: ignored, never read
  if (T === 1) mask[0] = 1;
  return { logits, targets, mask };
}

const CASES: Array<[number, number]> = [
  [1, 1],
  [7, 261],
  [33, 65],
  [130, 7],
  [3, 50257],
];

describe('cross-entropy with a token mask', () => {
  it('float64 reference gradient matches finite differences of the reference mean loss', () => {
    const [T, V] = [6, 5];
    const { logits, targets, mask } = batch(T, V, 4);
    const x = f64(logits);
    const f = (l: Float64Array) => crossEntropyRef(l, targets, mask, T, V).mean;
    const grad = crossEntropyBackwardRef(x, targets, mask, T, V);
    expectGradientMatchesFiniteDifference(f, x, grad, 'dlogits', { samples: T * V });
    const scaled = crossEntropyBackwardRef(x, targets, mask, T, V, 0.25);
    expectGradientMatchesFiniteDifference((l) => 0.25 * f(l), x, scaled, 'dlogits * gradScale', { samples: 12 });
  });

  it.each([1, 32, 256].flatMap((rt) => CASES.map(([T, V]) => [T, V, rt])))(
    'losses, mean and dlogits match float64 for T=%i V=%i rowThreads=%i',
    async (T, V, rt) => {
      const ctx = gpu();
      const done = leakCheck(ctx);
      const { logits, targets, mask } = batch(T, V, T * V + rt);
      const tl = ctx.upload(logits, [T, V]);
      const tt = ctx.upload(targets, [T]);
      const tm = ctx.upload(mask, [T]);
      const losses = ctx.empty([T]);
      const meanLoss = ctx.empty([1]);
      const dlogits = ctx.empty([T, V]);
      for (const t of [losses, meanLoss, dlogits]) ctx.fill(t, NaN);
      crossEntropyLossAndGrad(ctx, tl, tt, tm, { losses, meanLoss, dlogits, rowThreads: rt });
      const want = crossEntropyRef(f64(logits), targets, mask, T, V);
      expectClose(await ctx.readF32(losses), want.losses, `losses T=${T} V=${V}`);
      expectClose(await ctx.readF32(meanLoss), [want.mean], `mean loss T=${T} V=${V}`);
      const wantGrad = crossEntropyBackwardRef(f64(logits), targets, mask, T, V);
      expectClose(await ctx.readF32(dlogits), wantGrad, `dlogits T=${T} V=${V}`);

      // Forward only (evaluation) gives the same losses and mean.
      for (const t of [losses, meanLoss]) ctx.fill(t, NaN);
      crossEntropyLoss(ctx, tl, tt, tm, { losses, meanLoss, rowThreads: rt });
      expectClose(await ctx.readF32(losses), want.losses, `forward-only losses T=${T} V=${V}`);
      expectClose(await ctx.readF32(meanLoss), [want.mean], `forward-only mean T=${T} V=${V}`);
      ctx.release(tl, tt, tm, losses, meanLoss, dlogits);
      done();
    },
  );

  it('takes [B, S, V] logits, applies gradScale and allocates its outputs', async () => {
    const ctx = gpu();
    const done = leakCheck(ctx);
    const [B, S, V] = [2, 5, 19];
    const T = B * S;
    const { logits, targets, mask } = batch(T, V, 12);
    const tl = ctx.upload(logits, [B, S, V]);
    const tt = ctx.upload(targets, [B, S]);
    const tm = ctx.upload(mask, [B, S]);
    const res = crossEntropyLossAndGrad(ctx, tl, tt, tm, { gradScale: 0.5 });
    expect(res.losses.shape).toEqual([B, S]);
    expect(res.meanLoss.shape).toEqual([1]);
    expect(res.dlogits.shape).toEqual([B, S, V]);
    expectClose(await ctx.readF32(res.dlogits), crossEntropyBackwardRef(f64(logits), targets, mask, T, V, 0.5), 'scaled dlogits');
    ctx.release(tl, tt, tm, res.losses, res.meanLoss, res.dlogits);
    done();
  });

  it('with every token masked out, the mean is 0 and the gradient is 0', async () => {
    const ctx = gpu();
    const done = leakCheck(ctx);
    const [T, V] = [9, 11];
    const { logits, targets } = batch(T, V, 1);
    const tl = ctx.upload(logits, [T, V]);
    const tt = ctx.upload(targets, [T]);
    const tm = ctx.upload(new Float32Array(T), [T]);
    const res = crossEntropyLossAndGrad(ctx, tl, tt, tm);
    expect(Array.from(await ctx.readF32(res.meanLoss))).toEqual([0]);
    expect((await ctx.readF32(res.dlogits)).every((v) => v === 0)).toBe(true);
    expectClose(await ctx.readF32(res.losses), crossEntropyRef(f64(logits), targets, new Float32Array(T), T, V).losses, 'losses');
    ctx.release(tl, tt, tm, res.losses, res.meanLoss, res.dlogits);
    done();
  });

  it('rejects bad arguments before dispatching', () => {
    const ctx = gpu();
    const done = leakCheck(ctx);
    const logits = ctx.empty([4, 7]);
    const targets = ctx.empty([4], 'u32');
    const targetsF = ctx.empty([4]);
    const mask = ctx.empty([4]);
    const mask3 = ctx.empty([3]);
    const flat = ctx.empty([7]);
    expect(() => crossEntropyLossAndGrad(ctx, logits, targetsF, mask)).toThrow(ShapeError);
    expect(() => crossEntropyLossAndGrad(ctx, logits, targetsF, mask)).toThrow(/targets is f32, expected u32/);
    expect(() => crossEntropyLossAndGrad(ctx, logits, targets, mask3)).toThrow(/mask has shape \[3\], expected \[4\]/);
    expect(() => crossEntropyLoss(ctx, flat, targets, mask)).toThrow(/logits must be \[..., V\]/);
    expect(() => crossEntropyLossAndGrad(ctx, logits, targets, mask, { gradScale: Infinity })).toThrow(/gradScale must be finite/);
    expect(() => crossEntropyLossAndGrad(ctx, logits, targets, mask, { dlogits: logits })).toThrow(/dlogits may not share a buffer with logits/);
    expect(() => crossEntropyLossAndGrad(ctx, logits, targets, mask, { losses: mask3 })).toThrow(/losses has shape \[3\]/);
    expect(() => crossEntropyLoss(ctx, logits, targets, mask, { meanLoss: mask })).toThrow(/meanLoss has shape \[4\], expected \[1\]/);
    expect(() => crossEntropyLoss(ctx, logits, targets, mask, { rowThreads: 6 })).toThrow(/rowThreads/);
    ctx.release(logits, targets, targetsF, mask, mask3, flat);
    done();
  });
});

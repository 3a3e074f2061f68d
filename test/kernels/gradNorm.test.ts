import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/gpu/errors';
import { clipGradNorm, gradNorm } from '../../src/kernels/gradNorm';
import { clipGradNormRef, gradNormRef } from '../../src/reference/gradNorm';
import { rng, uniform } from '../../src/util/random';
import { expectClose, f64 } from '../helpers/compare';
import { useGpu } from '../helpers/gpu';

const gpu = useGpu();

function leakCheck(ctx: ReturnType<typeof gpu>) {
  const live = ctx.poolStats().live;
  return () => expect(ctx.poolStats().live, 'live buffers').toBe(live);
}

// Awkward tensor sizes: one element, under a thread's share, over the 4096-thread cap.
const SIZES = [1, 7, 33, 65, 130, 70_001, 300_007];

function makeGrads(seed: number, sizes = SIZES): Float32Array[] {
  const r = rng(seed);
  return sizes.map((n, i) => uniform(n, r, -1, 1).map((v) => v * 10 ** (i % 3)));
}

describe('global gradient norm and clipping', () => {
  it('computes the global L2 norm on the GPU', async () => {
    const ctx = gpu();
    const done = leakCheck(ctx);
    const grads = makeGrads(1);
    const ts = grads.map((g) => ctx.upload(g, [g.length]));
    const norm = ctx.empty([1]);
    ctx.fill(norm, NaN);
    gradNorm(ctx, ts, norm);
    expectClose(await ctx.readF32(norm), [gradNormRef(grads.map(f64))], 'norm');
    ctx.release(...ts, norm);
    done();
  });

  it.each([
    [0.5, 'clips'],
    [1e9, 'leaves gradients untouched'],
  ])('maxNorm %d %s, returning the pre-clip norm', async (maxNorm) => {
    const ctx = gpu();
    const done = leakCheck(ctx);
    const grads = makeGrads(2);
    const ts = grads.map((g) => ctx.upload(g, [g.length]));
    const norm = clipGradNorm(ctx, ts, maxNorm);
    const want = clipGradNormRef(grads.map(f64), maxNorm);
    expectClose(await ctx.readF32(norm), [want.norm], 'norm');
    for (let i = 0; i < ts.length; i++) {
      const got = await ctx.readF32(ts[i]);
      expectClose(got, want.grads[i], `grad ${i} (n=${grads[i].length})`);
      if (maxNorm > want.norm) expect(Array.from(got)).toEqual(Array.from(grads[i]));
    }
    ctx.release(...ts, norm);
    done();
  });

  it('keeps the 1e-6 in the clip factor (visible when the norm is tiny)', async () => {
    const ctx = gpu();
    const done = leakCheck(ctx);
    const grads = makeGrads(4, [7, 130]).map((g) => g.map((v) => v * 1e-5));
    const ts = grads.map((g) => ctx.upload(g, [g.length]));
    const maxNorm = 1e-5;
    const norm = clipGradNorm(ctx, ts, maxNorm);
    const want = clipGradNormRef(grads.map(f64), maxNorm);
    expect(want.norm).toBeLessThan(1e-2); // so that 1e-6 shifts the factor by over 1e-4
    expectClose(await ctx.readF32(norm), [want.norm], 'tiny norm');
    for (let i = 0; i < ts.length; i++) expectClose(await ctx.readF32(ts[i]), want.grads[i], `tiny grad ${i}`);
    ctx.release(...ts, norm);
    done();
  });

  it('clipped gradients have norm maxNorm, and the norm is bit-for-bit reproducible', async () => {
    const ctx = gpu();
    const grads = makeGrads(3, [33, 5000, 129]);
    const ts = grads.map((g) => ctx.upload(g, [g.length], 'f32'));
    const a = gradNorm(ctx, ts);
    const b = gradNorm(ctx, ts);
    const na = await ctx.readF32(a);
    expect(na[0]).toBe((await ctx.readF32(b))[0]);
    const c = clipGradNorm(ctx, ts, 2);
    const after = gradNorm(ctx, ts);
    expectClose(await ctx.readF32(after), [2 * (na[0] / (na[0] + 1e-6))], 'norm after clipping');
    ctx.release(...ts, a, b, c, after);
  });

  it('rejects bad arguments before dispatching', () => {
    const ctx = gpu();
    const done = leakCheck(ctx);
    const g = ctx.empty([5]);
    const gi = ctx.empty([5], 'i32');
    const two = ctx.empty([2]);
    expect(() => gradNorm(ctx, [])).toThrow(ShapeError);
    expect(() => gradNorm(ctx, [])).toThrow(/at least one gradient/);
    expect(() => gradNorm(ctx, [g, gi])).toThrow(/grads\[1\] is i32, expected f32/);
    expect(() => gradNorm(ctx, [g, g])).toThrow(/listed twice/);
    expect(() => gradNorm(ctx, [g], two)).toThrow(/out must be \[1\]/);
    expect(() => gradNorm(ctx, [g, two], two)).toThrow(/out must be \[1\]/);
    expect(() => clipGradNorm(ctx, [g], NaN)).toThrow(/maxNorm must be finite/);
    expect(() => clipGradNorm(ctx, [g], 0)).toThrow(/maxNorm must be > 0/);
    ctx.release(g, gi, two);
    done();
  });
});

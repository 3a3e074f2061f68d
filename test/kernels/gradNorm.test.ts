import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/gpu/errors';
import { gradNorm } from '../../src/kernels/gradNorm';
import { gradNormRef } from '../../src/reference/gradNorm';
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

  it('is bit-for-bit reproducible', async () => {
    const ctx = gpu();
    const grads = makeGrads(3, [33, 5000, 129]);
    const ts = grads.map((g) => ctx.upload(g, [g.length], 'f32'));
    const a = gradNorm(ctx, ts);
    const b = gradNorm(ctx, ts);
    expect((await ctx.readF32(a))[0]).toBe((await ctx.readF32(b))[0]);
    ctx.release(...ts, a, b);
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
    ctx.release(g, gi, two);
    done();
  });
});

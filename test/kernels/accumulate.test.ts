import { describe, expect, it } from 'vitest';
import { accumulate } from '../../src/kernels/accumulate';
import { rng, uniform } from '../../src/util/random';
import { expectClose } from '../helpers/compare';
import { useGpu } from '../helpers/gpu';

const gpu = useGpu();

describe('accumulate (dst += alpha * src)', () => {
  it.each([
    [1, 1],
    [7, -0.5],
    [33, 2],
    [70_001, 0.25],
  ])('matches float64 for n=%i, alpha=%f', async (n, alpha) => {
    const ctx = gpu();
    const live = ctx.poolStats().live;
    const r = rng(n);
    const d = uniform(n, r);
    const s = uniform(n, r);
    const dst = ctx.upload(d, [n]);
    const src = ctx.upload(s, [n]);
    accumulate(ctx, dst, src, alpha);
    accumulate(ctx, dst, src, alpha);
    const want = Float64Array.from(d, (v, i) => v + 2 * alpha * s[i]);
    expectClose(await ctx.readF32(dst), want, `accumulate n=${n}`);
    ctx.release(dst, src);
    expect(ctx.poolStats().live).toBe(live);
  });

  it.each([
    [5, 1],
    [1027, 0.125],
  ])('sums squares (a diagonal Fisher) against float64 for n=%i, alpha=%f', async (n, alpha) => {
    const ctx = gpu();
    const r = rng(n + 1);
    const d = uniform(n, r, 0, 1);
    const s = uniform(n, r, -3, 3);
    const dst = ctx.upload(d, [n]);
    const src = ctx.upload(s, [n]);
    accumulate(ctx, dst, src, alpha, { square: true });
    const want = Float64Array.from(d, (v, i) => v + alpha * s[i] * s[i]);
    expectClose(await ctx.readF32(dst), want, `accumulate squares n=${n}`);
    ctx.release(dst, src);
  });

  it('rejects mismatched shapes, aliasing and non-finite alpha', () => {
    const ctx = gpu();
    const a = ctx.empty([3]);
    const b = ctx.empty([4]);
    expect(() => accumulate(ctx, a, b)).toThrow(/src has shape \[4\], expected \[3\]/);
    expect(() => accumulate(ctx, a, a)).toThrow(/may not share a buffer/);
    expect(() => accumulate(ctx, a, a, NaN)).toThrow(/alpha must be finite/);
    ctx.release(a, b);
  });
});

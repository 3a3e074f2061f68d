import { describe, expect, it } from 'vitest';
import { add } from '../../src/kernels/add';
import { ShapeError } from '../../src/gpu/errors';
import { rng, uniform } from '../../src/util/random';
import { expectClose } from '../helpers/compare';
import { useGpu } from '../helpers/gpu';

const gpu = useGpu();

describe('add (residual)', () => {
  it.each([1, 7, 33, 257, 70_001])('matches the float64 sum for n=%i', async (n) => {
    const ctx = gpu();
    const r = rng(n);
    const a = uniform(n, r);
    const b = uniform(n, r);
    const ta = ctx.upload(a, [n]);
    const tb = ctx.upload(b, [n]);
    const out = ctx.empty([n]);
    ctx.fill(out, NaN);
    add(ctx, ta, tb, out);
    const got = await ctx.readF32(out);
    const want = Float64Array.from(a, (v, i) => v + b[i]);
    expectClose(got, want, `add n=${n}`);
    ctx.release(ta, tb, out);
  });

  it('folds grids larger than the per-dimension workgroup limit', async () => {
    const ctx = gpu();
    const n = (ctx.limits.maxComputeWorkgroupsPerDimension + 3) * 256;
    const a = new Float32Array(n).fill(1);
    const ta = ctx.upload(a, [n]);
    const out = add(ctx, ta, ta);
    const got = await ctx.readF32(out);
    expect(got[0]).toBe(2);
    expect(got[n - 1]).toBe(2);
    expect(got.every((v) => v === 2)).toBe(true);
    ctx.release(ta, out);
  });

  it('rejects mismatched shapes before dispatching', () => {
    const ctx = gpu();
    const a = ctx.empty([3, 4]);
    const b = ctx.empty([4, 3]);
    expect(() => add(ctx, a, b)).toThrow(ShapeError);
    expect(() => add(ctx, a, b)).toThrow(/b has shape \[4, 3\], expected \[3, 4\]/);
    ctx.release(a, b);
  });
});

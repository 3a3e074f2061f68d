import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/gpu/errors';
import { chooseSlices, matmulTransASplitK } from '../../src/kernels/splitK';
import { transpose } from '../../src/kernels/transpose';
import { matmulRef } from '../../src/reference/matmul';
import { rng, uniform } from '../../src/util/random';
import { expectClose, f64 } from '../helpers/compare';
import { useGpu } from '../helpers/gpu';

const gpu = useGpu();

describe('transpose', () => {
  it.each([
    [[1, 1]],
    [[7, 33]],
    [[65, 9]],
    [[3, 13, 130]],
  ])('swaps the last two dimensions of %j', async (shape) => {
    const ctx = gpu();
    const n = shape.reduce((a, d) => a * d, 1);
    const x = uniform(n, rng(n));
    const tx = ctx.upload(x, shape);
    const [R, C] = shape.slice(-2);
    const out = ctx.empty([...shape.slice(0, -2), C, R]);
    ctx.fill(out, NaN);
    transpose(ctx, tx, out);
    const want = new Float64Array(n);
    const batch = n / (R * C);
    for (let b = 0; b < batch; b++)
      for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) want[b * R * C + c * R + r] = x[b * R * C + r * C + c];
    expectClose(await ctx.readF32(out), want, `transpose ${shape}`);
    ctx.release(tx, out);
  });
});

describe('split-K weight-gradient matmul', () => {
  it.each([
    [2048, 33, 65, undefined, false],
    [130, 7, 9, 13, false],
    [192, 65, 33, 3, true],
    [7, 5, 3, 1, false],
  ])('A^T B for R=%i, M=%i, N=%i, slices=%s, accumulate=%s', async (R, M, N, slices, acc) => {
    const ctx = gpu();
    const live = ctx.poolStats().live;
    const r = rng(R + M);
    const a = uniform(R * M, r);
    const b = uniform(R * N, r);
    const c = uniform(M * N, r);
    const [ta, tb] = [ctx.upload(a, [R, M]), ctx.upload(b, [R, N])];
    const out = acc ? ctx.upload(c, [M, N]) : ctx.empty([M, N]);
    if (!acc) ctx.fill(out, NaN);
    matmulTransASplitK(ctx, ta, tb, { out, accumulate: acc, alpha: 0.5, slices: slices as number | undefined });
    const want = matmulRef(f64(a), [R, M], f64(b), [R, N], { transA: true, alpha: 0.5, c: acc ? f64(c) : undefined });
    expectClose(await ctx.readF32(out), want, 'split-K');
    ctx.release(ta, tb, out);
    expect(ctx.poolStats().live).toBe(live);
  });

  it('picks slices that divide the rows, and more of them for small outputs', () => {
    expect(chooseSlices(2048, 128, 128)).toBe(8);
    expect(chooseSlices(2048, 512, 128)).toBe(2);
    expect(chooseSlices(2048, 512, 512)).toBe(1);
    expect(chooseSlices(2048, 1024, 1024)).toBe(1);
    expect(chooseSlices(130, 7, 9)).toBe(2);
    expect(chooseSlices(63, 7, 9)).toBe(1);
    for (const R of [97, 1000, 2048, 4096]) expect(R % chooseSlices(R, 64, 64)).toBe(0);
  });

  it('rejects slices that do not divide the rows', () => {
    const ctx = gpu();
    const [a, b, c] = [ctx.empty([10, 3]), ctx.empty([10, 4]), ctx.empty([9, 4])];
    expect(() => matmulTransASplitK(ctx, a, b, { slices: 3 })).toThrow(ShapeError);
    expect(() => matmulTransASplitK(ctx, a, c)).toThrow(/a has 10 rows but b has 9/);
    ctx.release(a, b, c);
  });
});

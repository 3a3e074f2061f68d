import type { GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import { grid1d } from '../gpu/grid';
import { Params } from '../gpu/params';
import type { GpuTensor } from '../gpu/tensor';
import { expectDType, expectFinite, expectOutput, expectRank } from './check';
import { matmul } from './matmul';

const WG = 256;

/**
 * C = alpha * A^T B (+ C) for A [R, M], B [R, N] with a long shared dimension R: the
 * weight gradient x^T dy of a linear layer, where R is every token of the batch and the
 * output is small. One workgroup per output tile would leave most of the adapter idle, so
 * R is cut into S slices (views of the same buffers, no copy), the slices' products run as
 * one batched matmul, and a second kernel sums them in slice order (reproducible).
 * `slices` defaults to enough slices for about 32 output tiles.
 */
export function matmulTransASplitK(
  ctx: GpuContext,
  a: GpuTensor,
  b: GpuTensor,
  opts: { out?: GpuTensor; accumulate?: boolean; alpha?: number; slices?: number } = {},
): GpuTensor {
  const k = 'matmulTransASplitK';
  expectRank(k, 'a', a, 2);
  expectRank(k, 'b', b, 2);
  expectDType(k, 'a', a, 'f32');
  expectDType(k, 'b', b, 'f32');
  const [R, M] = a.shape;
  const [Rb, N] = b.shape;
  if (R !== Rb) throw new ShapeError(k, `a has ${R} rows but b has ${Rb}`);
  const alpha = opts.alpha ?? 1;
  expectFinite(k, 'alpha', alpha);
  if (opts.accumulate && !opts.out) throw new ShapeError(k, 'accumulate needs an existing out tensor');
  expectOutput(k, 'out', opts.out, [M, N], { a, b });
  const S = opts.slices ?? chooseSlices(R, M, N);
  if (!Number.isInteger(S) || S < 1 || R % S !== 0) {
    throw new ShapeError(k, `slices must be a positive divisor of ${R}, got ${S}`);
  }
  if (S === 1) {
    return matmul(ctx, a, b, { transA: true, alpha, out: opts.out, accumulate: opts.accumulate });
  }
  const parts = matmul(ctx, { ...a, shape: [S, R / S, M] }, { ...b, shape: [S, R / S, N] }, { transA: true });
  const out = opts.out ?? ctx.empty([M, N], 'f32', 'splitK.out');
  ctx.dispatch(
    { name: 'sum_batches', shader: 'sum_batches', constants: { WG, ACCUMULATE: opts.accumulate ?? false } },
    {
      params: new Params().u32(M * N).u32(S).f32(alpha).bytes(),
      buffers: [parts, out],
      workgroups: grid1d(ctx, M * N, WG),
    },
  );
  ctx.release(parts);
  return out;
}

/** Slices so that (output tiles x slices) is about 32, each slice at least 64 rows long. */
export function chooseSlices(R: number, M: number, N: number): number {
  const tiles = Math.ceil(M / 64) * Math.ceil(N / 64);
  let S = Math.min(16, Math.max(1, Math.ceil(32 / tiles)), Math.floor(R / 64));
  while (S > 1 && R % S !== 0) S--;
  return Math.max(1, S);
}

import type { GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';

/**
 * How the row kernels (softmax, layerNorm, crossEntropy) spread a row over threads:
 * `rowThreads` threads per row (a power of two), `wg` threads per workgroup.
 */
export interface RowLayout {
  rowThreads: number;
  wg: number;
}

/**
 * Row layout for `rows` rows of `rowLen` elements. Software adapters get one thread per
 * row: there a workgroup barrier costs more than walking a whole row (measured on
 * SwiftShader, softmax 1024 x 1024: 62 ms with 1 thread per row, 207 ms with 32, 1.7 s
 * with 256). With one thread per row the workgroup shrinks for short batches so that
 * even a few long rows (cross-entropy over 50257 logits) spread over several workgroups,
 * i.e. several CPU cores. Real GPUs get a group of threads per row that reduce in
 * workgroup memory, more for longer rows. `rowThreads` overrides the choice (tests run
 * every variant on whatever adapter they have).
 */
export function rowLayout(ctx: GpuContext, kernel: string, rows: number, rowLen: number, rowThreads?: number): RowLayout {
  const maxWg = Math.min(256, ctx.limits.maxComputeInvocationsPerWorkgroup, ctx.limits.maxComputeWorkgroupSizeX);
  let rt: number;
  if (rowThreads !== undefined) {
    const powerOfTwo = Number.isInteger(rowThreads) && rowThreads >= 1 && (rowThreads & (rowThreads - 1)) === 0;
    if (!powerOfTwo || rowThreads > maxWg) {
      throw new ShapeError(kernel, `rowThreads must be a power of two in 1..${maxWg}, got ${rowThreads}`);
    }
    rt = rowThreads;
  } else if (ctx.adapter.isSoftware) {
    rt = 1;
  } else {
    rt = rowLen >= 4096 ? 256 : rowLen >= 512 ? 128 : 32;
    rt = Math.min(rt, maxWg);
  }
  if (rt === 1) {
    // At least ~8 workgroups when there are enough rows; powers of two in 4..64 keep the
    // number of compiled variants small.
    let wg = 4;
    while (wg < 64 && wg * 2 * 8 <= rows) wg *= 2;
    return { rowThreads: 1, wg: Math.min(wg, maxWg) };
  }
  return { rowThreads: rt, wg: Math.min(maxWg, Math.max(64, rt)) };
}

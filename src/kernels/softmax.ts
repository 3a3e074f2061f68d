import type { GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import { grid1d } from '../gpu/grid';
import { Params } from '../gpu/params';
import type { GpuTensor } from '../gpu/tensor';
import { expectDType, expectShape } from './check';

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

/** Rows and row length of a tensor whose last dimension is the row. */
export function rowsOf(kernel: string, what: string, t: GpuTensor): { rows: number; cols: number } {
  if (t.shape.length < 1) throw new ShapeError(kernel, `${what} must have at least one dimension`);
  const cols = t.shape[t.shape.length - 1];
  if (cols < 1) throw new ShapeError(kernel, `${what} has an empty last dimension`);
  return { rows: t.size / cols, cols };
}

/**
 * Outputs may not share a buffer with inputs: WebGPU rejects a buffer bound writable and
 * readable in one dispatch, and this says so before anything is encoded.
 */
export function expectNoAlias(kernel: string, outName: string, out: GpuTensor, inputs: Record<string, GpuTensor>): void {
  for (const [name, t] of Object.entries(inputs)) {
    if (t.buffer === out.buffer) throw new ShapeError(kernel, `${outName} may not share a buffer with ${name}`);
  }
}

/**
 * Checks an optional caller-supplied output (shape, f32, no aliasing). Wrappers check every
 * given output before allocating the missing ones, so a rejected call leaks nothing.
 */
export function expectOutput(
  kernel: string,
  name: string,
  t: GpuTensor | undefined,
  shape: readonly number[],
  inputs: Record<string, GpuTensor>,
): void {
  if (!t) return;
  expectShape(kernel, name, t, shape);
  expectDType(kernel, name, t, 'f32');
  expectNoAlias(kernel, name, t, inputs);
}

function spec(entryPoint: 'forward' | 'backward', layout: RowLayout) {
  return {
    name: `softmax_${entryPoint}_rt${layout.rowThreads}_wg${layout.wg}`,
    shader: 'softmax',
    entryPoint,
    constants: { WG: layout.wg, ROW_THREADS: layout.rowThreads },
  };
}

export interface SoftmaxOptions {
  out?: GpuTensor;
  /** Threads per row (power of two); chosen per adapter when omitted. */
  rowThreads?: number;
}

/** y = softmax(x) over the last dimension; x [..., C] -> y [..., C]. */
export function softmax(ctx: GpuContext, x: GpuTensor, opts: SoftmaxOptions = {}): GpuTensor {
  expectDType('softmax', 'x', x, 'f32');
  const { rows, cols } = rowsOf('softmax', 'x', x);
  const layout = rowLayout(ctx, 'softmax', rows, cols, opts.rowThreads);
  expectOutput('softmax', 'out', opts.out, x.shape, { x });
  const out = opts.out ?? ctx.empty(x.shape, 'f32', 'softmax.out');
  if (rows === 0) return out;
  ctx.dispatch(spec('forward', layout), {
    params: new Params().u32(rows).u32(cols).bytes(),
    buffers: [x, out],
    workgroups: grid1d(ctx, rows, layout.wg / layout.rowThreads),
  });
  return out;
}

/** dx = y * (dy - sum(dy * y)) per row, from the forward output y; all [..., C]. */
export function softmaxBackward(
  ctx: GpuContext,
  y: GpuTensor,
  dy: GpuTensor,
  opts: { dx?: GpuTensor; rowThreads?: number } = {},
): GpuTensor {
  expectDType('softmaxBackward', 'y', y, 'f32');
  expectShape('softmaxBackward', 'dy', dy, y.shape);
  expectDType('softmaxBackward', 'dy', dy, 'f32');
  const { rows, cols } = rowsOf('softmaxBackward', 'y', y);
  const layout = rowLayout(ctx, 'softmaxBackward', rows, cols, opts.rowThreads);
  expectOutput('softmaxBackward', 'dx', opts.dx, y.shape, { y, dy });
  const dx = opts.dx ?? ctx.empty(y.shape, 'f32', 'softmax.dx');
  if (rows === 0) return dx;
  ctx.dispatch(spec('backward', layout), {
    params: new Params().u32(rows).u32(cols).bytes(),
    buffers: [y, dx, dy],
    workgroups: grid1d(ctx, rows, layout.wg / layout.rowThreads),
  });
  return dx;
}

import type { GpuContext } from '../gpu/context';
import { grid1d } from '../gpu/grid';
import { Params } from '../gpu/params';
import type { GpuTensor } from '../gpu/tensor';
import { expectDType, expectOutput, expectShape, rowsOf } from './check';
import { rowLayout, type RowLayout } from './rowLayout';

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

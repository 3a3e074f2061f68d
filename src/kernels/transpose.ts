import type { GpuContext } from '../gpu/context';
import { Params } from '../gpu/params';
import type { GpuTensor } from '../gpu/tensor';
import { expectDType, expectOutput, expectRank } from './check';
import { ShapeError } from '../gpu/errors';

const TRANSPOSE = { name: 'transpose', shader: 'transpose' };

/** Swaps the last two dimensions: x [..., R, C] -> [..., C, R]. */
export function transpose(ctx: GpuContext, x: GpuTensor, out?: GpuTensor): GpuTensor {
  expectDType('transpose', 'x', x, 'f32');
  if (x.shape.length < 2) expectRank('transpose', 'x', x, 2);
  const R = x.shape[x.shape.length - 2];
  const C = x.shape[x.shape.length - 1];
  const batch = R * C === 0 ? 0 : x.size / (R * C);
  if (batch > ctx.limits.maxComputeWorkgroupsPerDimension) {
    throw new ShapeError('transpose', `batch ${batch} over the device's per-dimension workgroup limit`);
  }
  const shape = [...x.shape.slice(0, -2), C, R];
  expectOutput('transpose', 'out', out, shape, { x });
  const o = out ?? ctx.empty(shape, 'f32', 'transpose.out');
  ctx.dispatch(TRANSPOSE, {
    params: new Params().u32(R).u32(C).bytes(),
    buffers: [x, o],
    workgroups: [Math.ceil(R / 8), Math.ceil(C / 8), batch],
  });
  return o;
}

import type { GpuContext } from '../gpu/context';
import { grid1d } from '../gpu/grid';
import { Params } from '../gpu/params';
import type { GpuTensor } from '../gpu/tensor';
import { expectDType, expectFinite, expectNoAlias, expectShape } from './check';

const WG = 256;
const ACCUMULATE = { name: 'accumulate', shader: 'accumulate', constants: { WG } };

/** dst += alpha * src, in place (gradient sums). */
export function accumulate(ctx: GpuContext, dst: GpuTensor, src: GpuTensor, alpha = 1): void {
  expectDType('accumulate', 'dst', dst, 'f32');
  expectDType('accumulate', 'src', src, 'f32');
  expectShape('accumulate', 'src', src, dst.shape);
  expectFinite('accumulate', 'alpha', alpha);
  expectNoAlias('accumulate', { dst }, { src });
  ctx.dispatch(ACCUMULATE, {
    params: new Params().u32(dst.size).f32(alpha).bytes(),
    buffers: [dst, src],
    workgroups: grid1d(ctx, dst.size, WG),
  });
}

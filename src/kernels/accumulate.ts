import type { GpuContext } from '../gpu/context';
import { grid1d } from '../gpu/grid';
import { Params } from '../gpu/params';
import type { GpuTensor } from '../gpu/tensor';
import { expectDType, expectFinite, expectNoAlias, expectShape } from './check';

const WG = 256;
const ACCUMULATE = { name: 'accumulate', shader: 'accumulate', constants: { WG, SQUARE: 0 } };
const ACCUMULATE_SQUARES = { name: 'accumulate_squares', shader: 'accumulate', constants: { WG, SQUARE: 1 } };

/** dst += alpha * src (gradient sums), or dst += alpha * src^2 with `square` (a diagonal Fisher), in place. */
export function accumulate(ctx: GpuContext, dst: GpuTensor, src: GpuTensor, alpha = 1, opts: { square?: boolean } = {}): void {
  expectDType('accumulate', 'dst', dst, 'f32');
  expectDType('accumulate', 'src', src, 'f32');
  expectShape('accumulate', 'src', src, dst.shape);
  expectFinite('accumulate', 'alpha', alpha);
  expectNoAlias('accumulate', { dst }, { src });
  ctx.dispatch(opts.square ? ACCUMULATE_SQUARES : ACCUMULATE, {
    params: new Params().u32(dst.size).f32(alpha).bytes(),
    buffers: [dst, src],
    workgroups: grid1d(ctx, dst.size, WG),
  });
}

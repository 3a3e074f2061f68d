import type { GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import { grid1d } from '../gpu/grid';
import { Params } from '../gpu/params';
import type { GpuTensor } from '../gpu/tensor';
import { dropoutThreshold } from '../util/random';
import { expectDType, expectOutput } from './check';

const WG = 256;
const KERNEL = { name: 'dropout', shader: 'dropout', constants: { WG } };

/**
 * Inverted dropout: each element is zeroed with probability p, the rest scaled by 1/(1-p).
 * The mask is a pure function of (seed, element index), so calling this again with the same
 * seed on the gradient is the backward pass. Any shape; p in [0, 1).
 */
export function dropout(ctx: GpuContext, x: GpuTensor, p: number, seed: number, out?: GpuTensor): GpuTensor {
  expectDType('dropout', 'x', x, 'f32');
  if (!(p >= 0 && p < 1)) throw new ShapeError('dropout', `rate p must be in [0, 1), got ${p}`);
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) throw new ShapeError('dropout', `seed must be a 32-bit unsigned integer, got ${seed}`);
  expectOutput('dropout', 'out', out, x.shape, { x });
  const o = out ?? ctx.empty(x.shape, 'f32', 'dropout.out');
  ctx.dispatch(KERNEL, {
    params: new Params().u32(x.size).u32(seed).u32(dropoutThreshold(p)).f32(1 / (1 - p)).bytes(),
    buffers: [x, o],
    workgroups: grid1d(ctx, x.size, WG),
  });
  return o;
}

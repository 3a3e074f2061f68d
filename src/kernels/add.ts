import type { GpuContext } from '../gpu/context';
import { grid1d } from '../gpu/grid';
import { Params } from '../gpu/params';
import type { GpuTensor } from '../gpu/tensor';
import { expectDType, expectShape } from './check';

const WG = 256;
const ADD = { name: 'add', shader: 'add', constants: { WG } };

/** out = a + b, elementwise (the residual connection). Allocates `out` unless given. */
export function add(ctx: GpuContext, a: GpuTensor, b: GpuTensor, out?: GpuTensor): GpuTensor {
  expectDType('add', 'a', a, 'f32');
  expectShape('add', 'b', b, a.shape);
  const o = out ?? ctx.empty(a.shape, 'f32', 'add.out');
  expectShape('add', 'out', o, a.shape);
  ctx.dispatch(ADD, {
    params: new Params().u32(a.size).bytes(),
    buffers: [a, b, o],
    workgroups: grid1d(ctx, a.size, WG),
  });
  return o;
}

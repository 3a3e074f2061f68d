import type { GpuContext } from '../gpu/context';
import { grid1d } from '../gpu/grid';
import { Params } from '../gpu/params';
import type { GpuTensor } from '../gpu/tensor';
import { expectDType, expectShape } from './check';
import { expectOutput } from './check';

const WG = 256;
const FORWARD = { name: 'gelu_forward', shader: 'gelu', entryPoint: 'forward', constants: { WG } };
const BACKWARD = { name: 'gelu_backward', shader: 'gelu', entryPoint: 'backward', constants: { WG } };

/** y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), elementwise, any shape. */
export function gelu(ctx: GpuContext, x: GpuTensor, out?: GpuTensor): GpuTensor {
  expectDType('gelu', 'x', x, 'f32');
  expectOutput('gelu', 'out', out, x.shape, { x });
  const o = out ?? ctx.empty(x.shape, 'f32', 'gelu.out');
  ctx.dispatch(FORWARD, {
    params: new Params().u32(x.size).bytes(),
    buffers: [x, o],
    workgroups: grid1d(ctx, x.size, WG),
  });
  return o;
}

/** dx = dout * gelu'(x), elementwise, from the forward input x; any shape. */
export function geluBackward(ctx: GpuContext, x: GpuTensor, dout: GpuTensor, dx?: GpuTensor): GpuTensor {
  expectDType('geluBackward', 'x', x, 'f32');
  expectShape('geluBackward', 'dout', dout, x.shape);
  expectDType('geluBackward', 'dout', dout, 'f32');
  expectOutput('geluBackward', 'dx', dx, x.shape, { x, dout });
  const o = dx ?? ctx.empty(x.shape, 'f32', 'gelu.dx');
  ctx.dispatch(BACKWARD, {
    params: new Params().u32(x.size).bytes(),
    buffers: [x, o, dout],
    workgroups: grid1d(ctx, x.size, WG),
  });
  return o;
}

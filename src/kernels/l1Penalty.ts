import type { GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import { Params } from '../gpu/params';
import type { GpuTensor } from '../gpu/tensor';
import { expectDType, expectFinite, expectNoAlias, expectShape } from './check';

const WG = 256;

/**
 * value (+)= lambda * sum |x| and grad = lambda * sign(x), one dispatch
 * (shaders/l1_penalty.wgsl). `value` [1] is overwritten, or added to with `accumulate`.
 * Returns grad (a new tensor of x's shape).
 */
export function l1Penalty(ctx: GpuContext, x: GpuTensor, lambda: number, value: GpuTensor, opts: { accumulate?: boolean } = {}): GpuTensor {
  const k = 'l1Penalty';
  expectDType(k, 'x', x, 'f32');
  expectDType(k, 'value', value, 'f32');
  expectShape(k, 'value', value, [1]);
  expectFinite(k, 'lambda', lambda);
  if (lambda < 0) throw new ShapeError(k, `lambda must be >= 0, got ${lambda}`);
  const grad = ctx.empty(x.shape, 'f32', 'l1.grad');
  expectNoAlias(k, { grad, value }, { x });
  ctx.dispatch(
    { name: 'l1_penalty', shader: 'l1_penalty', constants: { WG, ACCUMULATE: opts.accumulate ? 1 : 0 } },
    { params: new Params().u32(x.size).f32(lambda).bytes(), buffers: [x, grad, value], workgroups: [1] },
  );
  return grad;
}

import type { GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import { Params } from '../gpu/params';
import type { GpuTensor } from '../gpu/tensor';
import { expectDType, expectFinite, expectNoAlias, expectShape } from './check';

const WG = 256;

/**
 * value (+)= lambda * sum w (theta - anchor)^2 and grad = 2 lambda w (theta - anchor), one
 * dispatch (shaders/quadratic_penalty.wgsl). `weight` null means w = 1. `grad` is written
 * (a new tensor unless given); `value` [1] is overwritten, or added to with `accumulate`
 * (several parameters' penalties summed into one value).
 */
export function quadraticPenalty(
  ctx: GpuContext,
  theta: GpuTensor,
  anchor: GpuTensor,
  weight: GpuTensor | null,
  lambda: number,
  value: GpuTensor,
  opts: { accumulate?: boolean; grad?: GpuTensor } = {},
): GpuTensor {
  const k = 'quadraticPenalty';
  for (const [what, t] of [['theta', theta], ['anchor', anchor], ['value', value], ...(weight ? [['weight', weight]] : [])] as [string, GpuTensor][]) {
    expectDType(k, what, t, 'f32');
  }
  expectShape(k, 'anchor', anchor, theta.shape);
  if (weight) expectShape(k, 'weight', weight, theta.shape);
  expectShape(k, 'value', value, [1]);
  expectFinite(k, 'lambda', lambda);
  if (lambda < 0) throw new ShapeError(k, `lambda must be >= 0, got ${lambda}`);
  const grad = opts.grad ?? ctx.empty(theta.shape, 'f32', 'penalty.grad');
  expectShape(k, 'grad', grad, theta.shape);
  expectNoAlias(k, { grad, value }, { theta, anchor, ...(weight ? { weight } : {}) });
  ctx.dispatch(
    { name: 'quadratic_penalty', shader: 'quadratic_penalty', constants: { WG, UNIT_WEIGHTS: weight ? 0 : 1, ACCUMULATE: opts.accumulate ? 1 : 0 } },
    // The weight binding must exist even when unused; the anchor stands in for it.
    { params: new Params().u32(theta.size).f32(lambda).bytes(), buffers: [theta, anchor, weight ?? anchor, grad, value], workgroups: [1] },
  );
  return grad;
}

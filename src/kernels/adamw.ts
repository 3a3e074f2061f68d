import type { GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import { grid1d } from '../gpu/grid';
import { Params } from '../gpu/params';
import type { GpuTensor } from '../gpu/tensor';
import { expectDType, expectFinite, expectPositiveInt, expectShape } from './check';

const WG = 256;
const ADAMW = { name: 'adamw', shader: 'adamw', constants: { WG } };
const ADAMW_CLIPPED = { name: 'adamw_clipped', shader: 'adamw', entryPoint: 'main_clipped', constants: { WG } };

/** AdamW hyperparameters; defaults are torch.optim.AdamW's. */
export interface AdamWConfig {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay (0 for biases and LayerNorm parameters, by convention). */
  weightDecay?: number;
  /**
   * Global gradient-norm clipping: the gradient is scaled by min(1, maxNorm / (norm + 1e-6))
   * as it is read, with `norm` the global norm (f32 [1]) that gradNorm left on the GPU.
   */
  clip?: { norm: GpuTensor; maxNorm: number };
}

export const ADAMW_DEFAULTS = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 } as const;

/**
 * One AdamW step in place on param, m and v (f32, all of the grad's shape), PyTorch's
 * formula. `step` is the 1-based step count t used for bias correction; m and v start at 0.
 */
export function adamwStep(
  ctx: GpuContext,
  param: GpuTensor,
  grad: GpuTensor,
  m: GpuTensor,
  v: GpuTensor,
  step: number,
  config: AdamWConfig,
): void {
  const k = 'adamwStep';
  expectDType(k, 'param', param, 'f32');
  for (const [name, t] of Object.entries({ grad, m, v })) {
    expectShape(k, name, t, param.shape);
    expectDType(k, name, t, 'f32');
  }
  const buffers = new Set([param.buffer, grad.buffer, m.buffer, v.buffer]);
  if (buffers.size !== 4) throw new ShapeError(k, 'param, grad, m and v must be four different buffers');
  expectPositiveInt(k, 'step', step);
  const { lr } = config;
  const { beta1, beta2, eps, weightDecay } = { ...ADAMW_DEFAULTS, ...config };
  for (const [name, value] of Object.entries({ lr, beta1, beta2, eps, weightDecay })) expectFinite(k, name, value);
  if (lr < 0) throw new ShapeError(k, `lr must be >= 0, got ${lr}`);
  if (!(beta1 >= 0 && beta1 < 1)) throw new ShapeError(k, `beta1 must be in [0, 1), got ${beta1}`);
  if (!(beta2 >= 0 && beta2 < 1)) throw new ShapeError(k, `beta2 must be in [0, 1), got ${beta2}`);
  if (eps <= 0) throw new ShapeError(k, `eps must be > 0, got ${eps}`);
  if (weightDecay < 0) throw new ShapeError(k, `weightDecay must be >= 0, got ${weightDecay}`);
  const { clip } = config;
  if (clip) {
    expectDType(k, 'clip.norm', clip.norm, 'f32');
    expectShape(k, 'clip.norm', clip.norm, [1]);
    expectFinite(k, 'clip.maxNorm', clip.maxNorm);
    if (clip.maxNorm <= 0) throw new ShapeError(k, `clip.maxNorm must be > 0, got ${clip.maxNorm}`);
    if (buffers.has(clip.norm.buffer)) throw new ShapeError(k, 'clip.norm must be a buffer of its own');
  }
  // Step-dependent factors in float64 here, so the shader needs neither pow nor t.
  const stepSize = lr / (1 - beta1 ** step);
  const bc2Sqrt = Math.sqrt(1 - beta2 ** step);
  ctx.dispatch(clip ? ADAMW_CLIPPED : ADAMW, {
    params: new Params()
      .u32(param.size)
      .f32(1 - lr * weightDecay)
      .f32(beta1)
      .f32(beta2)
      .f32(eps)
      .f32(stepSize)
      .f32(bc2Sqrt)
      .f32(clip?.maxNorm ?? 0)
      .bytes(),
    buffers: clip ? [param, grad, m, v, clip.norm] : [param, grad, m, v],
    workgroups: grid1d(ctx, param.size, WG),
  });
}

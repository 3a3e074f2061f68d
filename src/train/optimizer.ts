import type { Parameter } from '../autograd/tape';
import type { GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { adamwStep, ADAMW_DEFAULTS } from '../kernels/adamw';
import { gradNorm } from '../kernels/gradNorm';

export interface AdamWSettings {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Global gradient-norm clip; 0 turns clipping off. */
  maxGradNorm: number;
}

export const DEFAULT_ADAMW: AdamWSettings = { ...ADAMW_DEFAULTS, weightDecay: 0.01, maxGradNorm: 1 };

/** GPT-2 convention: no weight decay on biases, LayerNorm parameters (1-D tensors). */
export function decays(p: Parameter): boolean {
  return p.value.shape.length >= 2;
}

/**
 * AdamW over the trainable parameters, entirely on the GPU: clipping reads the global
 * norm where it lies and the step never waits for the CPU. Moments are allocated on a
 * parameter's first update, so frozen parameters cost nothing.
 */
export class AdamW {
  private readonly moments = new Map<Parameter, { m: GpuTensor; v: GpuTensor }>();
  private t = 0;

  constructor(
    private readonly ctx: GpuContext,
    readonly settings: AdamWSettings = DEFAULT_ADAMW,
  ) {}

  get stepCount(): number {
    return this.t;
  }

  /**
   * Clips (when enabled) and applies one update with learning rate `lr` to every trainable
   * parameter that has a gradient. Returns the pre-clip gradient norm as a GPU tensor [1]
   * (read it asynchronously), or null when clipping is off.
   */
  step(params: Iterable<Parameter>, lr: number): GpuTensor | null {
    const live = [...params].filter((p) => p.trainable && p.grad);
    this.t++;
    let norm: GpuTensor | null = null;
    // Clipping rides in the update: one norm over every gradient, then each AdamW dispatch
    // scales its gradient by the clip factor as it reads it.
    if (this.settings.maxGradNorm > 0 && live.length > 0) norm = gradNorm(this.ctx, live.map((p) => p.grad!));
    const clip = norm ? { norm, maxNorm: this.settings.maxGradNorm } : undefined;
    for (const p of live) {
      let s = this.moments.get(p);
      if (!s) {
        s = { m: this.ctx.zeros(p.value.shape, 'f32', `${p.name}.m`), v: this.ctx.zeros(p.value.shape, 'f32', `${p.name}.v`) };
        this.moments.set(p, s);
      }
      adamwStep(this.ctx, p.value, p.grad!, s.m, s.v, this.t, {
        lr,
        beta1: this.settings.beta1,
        beta2: this.settings.beta2,
        eps: this.settings.eps,
        weightDecay: decays(p) ? this.settings.weightDecay : 0,
        clip,
      });
    }
    return norm;
  }

  dispose(): void {
    for (const { m, v } of this.moments.values()) this.ctx.release(m, v);
    this.moments.clear();
  }
}

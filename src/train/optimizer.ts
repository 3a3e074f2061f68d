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
 * Parameters updated by one AdamW dispatch: their values, gradients and moments laid end to
 * end in flat buffers (parameter i at offsets[i]). Every parameter of a group shares its
 * weight-decay rule.
 */
interface FlatGroup {
  params: Parameter[];
  offsets: number[];
  decay: boolean;
  value: GpuTensor;
  grad: GpuTensor;
  m: GpuTensor;
  v: GpuTensor;
}

/**
 * AdamW over the trainable parameters, entirely on the GPU: clipping reads the global
 * norm where it lies and the step never waits for the CPU. Moments are allocated on a
 * parameter's first update, so frozen parameters cost nothing.
 *
 * The live parameters are updated in flat groups rather than one by one: each step copies
 * their gradients and values into the group's buffers (copies cost microseconds), runs one
 * norm and one AdamW dispatch per group, and copies the values back. A dispatch costs about
 * a millisecond on a software adapter whatever its size, and a LoRA model has dozens of
 * small tensors (SeqLoRA 32, MoSEs at eight tasks 72): per-tensor dispatches were a tenth
 * to a quarter of a training step there. Moments live in the groups while the set of live
 * parameters stays the same, and move (by copies) when it changes.
 */
export class AdamW {
  private groups: FlatGroup[] = [];
  private layout = '';
  /** Moments of parameters that had them and left the live set (kept should they return). */
  private readonly parked = new Map<Parameter, { m: GpuTensor; v: GpuTensor }>();
  private readonly ids = new WeakMap<Parameter, number>();
  private nextId = 0;
  private t = 0;

  /** Elements per flat group at most: a storage binding's worth, or less (tests split groups this way). */
  private readonly maxGroupElements: number;

  constructor(
    private readonly ctx: GpuContext,
    readonly settings: AdamWSettings = DEFAULT_ADAMW,
    options: { maxGroupElements?: number } = {},
  ) {
    this.maxGroupElements = Math.min(options.maxGroupElements ?? Infinity, Math.floor(ctx.limits.maxStorageBufferBindingSize / 4));
  }

  get stepCount(): number {
    return this.t;
  }

  /**
   * Clips (when enabled) and applies one update with learning rate `lr` to every trainable
   * parameter that has a gradient. Returns the pre-clip gradient norm as a GPU tensor [1]
   * (read it asynchronously), or null when clipping is off.
   */
  step(params: Iterable<Parameter>, lr: number): GpuTensor | null {
    const { ctx } = this;
    const live = [...params].filter((p) => p.trainable && p.grad);
    this.t++;
    if (live.length === 0) return null;
    this.arrange(live);
    for (const g of this.groups) {
      g.params.forEach((p, i) => {
        ctx.copy(p.grad!, g.grad, { dstOffset: g.offsets[i] });
        ctx.copy(p.value, g.value, { dstOffset: g.offsets[i] });
      });
    }
    // Clipping rides in the update: one norm over every gradient, then each AdamW dispatch
    // scales its gradient by the clip factor as it reads it.
    const norm = this.settings.maxGradNorm > 0 ? gradNorm(ctx, this.groups.map((g) => g.grad)) : null;
    const clip = norm ? { norm, maxNorm: this.settings.maxGradNorm } : undefined;
    for (const g of this.groups) {
      adamwStep(ctx, g.value, g.grad, g.m, g.v, this.t, {
        lr,
        beta1: this.settings.beta1,
        beta2: this.settings.beta2,
        eps: this.settings.eps,
        weightDecay: g.decay ? this.settings.weightDecay : 0,
        clip,
      });
      g.params.forEach((p, i) => ctx.copy(g.value, p.value, { srcOffset: g.offsets[i], count: p.value.size }));
    }
    return norm;
  }

  /** Makes the flat groups hold exactly `live` (in order), carrying every parameter's moments over. */
  private arrange(live: Parameter[]): void {
    const layout = live.map((p) => this.idOf(p)).join(',');
    if (layout === this.layout) return;
    const { ctx } = this;
    const where = new Map<Parameter, { g: FlatGroup; offset: number }>();
    for (const g of this.groups) g.params.forEach((p, i) => where.set(p, { g, offset: g.offsets[i] }));
    // A group stays within one storage binding, so any model size works.
    const maxElements = this.maxGroupElements;
    const next: FlatGroup[] = [];
    for (const decay of [true, false]) {
      let members: Parameter[] = [];
      let size = 0;
      const close = () => {
        if (members.length > 0) next.push(this.group(members, decay, where));
        members = [];
        size = 0;
      };
      for (const p of live.filter((q) => decays(q) === decay)) {
        if (size > 0 && size + p.value.size > maxElements) close();
        members.push(p);
        size += p.value.size;
      }
      close();
    }
    const kept = new Set(live);
    for (const [p, at] of where) {
      if (kept.has(p)) continue;
      const m = ctx.empty(p.value.shape, 'f32', `${p.name}.m`);
      const v = ctx.empty(p.value.shape, 'f32', `${p.name}.v`);
      ctx.copy(at.g.m, m, { srcOffset: at.offset, count: m.size });
      ctx.copy(at.g.v, v, { srcOffset: at.offset, count: v.size });
      this.parked.set(p, { m, v });
    }
    this.releaseGroups();
    this.groups = next;
    this.layout = layout;
  }

  private group(params: Parameter[], decay: boolean, where: Map<Parameter, { g: FlatGroup; offset: number }>): FlatGroup {
    const { ctx } = this;
    const offsets: number[] = [];
    let size = 0;
    for (const p of params) {
      offsets.push(size);
      size += p.value.size;
    }
    const g: FlatGroup = {
      params,
      offsets,
      decay,
      value: ctx.empty([size], 'f32', 'adamw.values'),
      grad: ctx.empty([size], 'f32', 'adamw.grads'),
      m: ctx.zeros([size], 'f32', 'adamw.m'),
      v: ctx.zeros([size], 'f32', 'adamw.v'),
    };
    params.forEach((p, i) => {
      const count = p.value.size;
      const old = where.get(p);
      const parked = this.parked.get(p);
      if (old) {
        ctx.copy(old.g.m, g.m, { srcOffset: old.offset, dstOffset: offsets[i], count });
        ctx.copy(old.g.v, g.v, { srcOffset: old.offset, dstOffset: offsets[i], count });
      } else if (parked) {
        ctx.copy(parked.m, g.m, { dstOffset: offsets[i] });
        ctx.copy(parked.v, g.v, { dstOffset: offsets[i] });
        ctx.release(parked.m, parked.v);
        this.parked.delete(p);
      }
    });
    return g;
  }

  private idOf(p: Parameter): number {
    let id = this.ids.get(p);
    if (id === undefined) this.ids.set(p, (id = this.nextId++));
    return id;
  }

  private releaseGroups(): void {
    for (const g of this.groups) this.ctx.release(g.value, g.grad, g.m, g.v);
    this.groups = [];
    this.layout = '';
  }

  dispose(): void {
    this.releaseGroups();
    for (const { m, v } of this.parked.values()) this.ctx.release(m, v);
    this.parked.clear();
  }
}

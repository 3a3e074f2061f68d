import { pcgHash } from '../util/random';
import type { GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { accumulate } from '../kernels/accumulate';

/**
 * A GPU tensor in a computation that may need its gradient. Gradients live on the GPU and
 * are only ever read back asynchronously, for display.
 */
export class Variable {
  grad: GpuTensor | null = null;
  constructor(
    public value: GpuTensor,
    public requiresGrad: boolean,
    readonly name = '',
  ) {}

  get shape(): readonly number[] {
    return this.value.shape;
  }
}

/**
 * A model weight. Its value and gradient outlive a tape; `trainable` is how parameter
 * groups are frozen (a frozen parameter gets no gradient and is never updated).
 */
export class Parameter extends Variable {
  constructor(value: GpuTensor, name: string, trainable = true) {
    super(value, trainable, name);
  }

  get trainable(): boolean {
    return this.requiresGrad;
  }

  set trainable(on: boolean) {
    this.requiresGrad = on;
  }
}

/**
 * Records a forward pass as a list of backward closures, run in reverse by `backward()`.
 * Intermediate values, saved activations and intermediate gradients belong to the tape
 * and go back to the buffer pool at `dispose()`; parameters and their gradients do not.
 */
export class Tape {
  private readonly steps: Array<() => void> = [];
  private readonly owned: GpuTensor[] = [];
  private readonly intermediates: Variable[] = [];
  private finished = false;
  private seedCount = 0;

  /**
   * `seed` marks a training tape: random ops recorded on it (LoRA dropout) draw their seeds
   * from it with nextSeed(). Tapes without one (evaluation, generation) run those ops as
   * the identity.
   */
  constructor(
    readonly ctx: GpuContext,
    private readonly options: { seed?: number } = {},
  ) {}

  /** A fresh 32-bit seed for the next random op on this tape, or null on a tape without a seed. */
  nextSeed(): number | null {
    if (this.options.seed === undefined) return null;
    this.seedCount++;
    return pcgHash((pcgHash(this.options.seed >>> 0) + Math.imul(this.seedCount, 0x9e3779b9)) >>> 0);
  }

  /** Wraps a tensor computed during the forward pass; the tape releases it. */
  variable(value: GpuTensor, requiresGrad: boolean, name = ''): Variable {
    this.owned.push(value);
    const v = new Variable(value, requiresGrad, name);
    this.intermediates.push(v);
    return v;
  }

  /** Keeps a helper tensor (saved statistics, say) alive until dispose. */
  save<T extends GpuTensor>(t: T): T {
    this.owned.push(t);
    return t;
  }

  /** Gives up ownership of a saved tensor (it was handed to a variable as its gradient). */
  unsave(t: GpuTensor): void {
    const i = this.owned.indexOf(t);
    if (i < 0) throw new Error(`Tape.unsave: "${t.buffer.label}" is not owned by this tape`);
    this.owned.splice(i, 1);
  }

  /** Registers the backward of one op; it runs after the ops recorded later. */
  onBackward(step: () => void): void {
    if (this.finished) throw new Error('Tape: backward already ran; record a new tape for the next step');
    this.steps.push(step);
  }

  /** True when gradient work for any of these is needed. */
  needsGrad(...vs: Variable[]): boolean {
    return vs.some((v) => v.requiresGrad);
  }

  /**
   * Adds a gradient contribution `g` into v.grad and takes ownership of `g`. The first
   * contribution becomes the gradient itself (no copy); later ones are summed on the GPU.
   */
  addGrad(v: Variable, g: GpuTensor): void {
    if (!v.requiresGrad) {
      this.ctx.release(g);
      return;
    }
    if (v.grad === null) {
      v.grad = g;
      return;
    }
    accumulate(this.ctx, v.grad, g);
    this.ctx.release(g);
  }

  /** Runs every recorded backward in reverse order. The output's gradient must be set. */
  backward(): void {
    if (this.finished) throw new Error('Tape: backward already ran');
    this.finished = true;
    for (let i = this.steps.length - 1; i >= 0; i--) this.steps[i]();
  }

  /** Returns what the tape owns to the pool. Parameter gradients stay with the parameters. */
  dispose(): void {
    for (const v of this.intermediates) {
      if (v.grad) this.ctx.release(v.grad);
      v.grad = null;
    }
    this.ctx.release(...this.owned);
    this.owned.length = 0;
    this.intermediates.length = 0;
    this.steps.length = 0;
  }
}

/** Releases the gradients of these parameters (after an optimizer step). */
export function zeroGrad(ctx: GpuContext, params: Iterable<Parameter>): void {
  for (const p of params) {
    if (p.grad) ctx.release(p.grad);
    p.grad = null;
  }
}

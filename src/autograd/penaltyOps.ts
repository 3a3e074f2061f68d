import type { GpuTensor } from '../gpu/tensor';
import { quadraticPenalty as quadraticPenaltyKernel } from '../kernels/quadraticPenalty';
import type { Tape, Variable } from './tape';

/** A parameter pulled towards `anchor`, element i with weight w_i (1 when `weight` is absent). */
export interface PenaltyTarget {
  param: Variable;
  anchor: GpuTensor;
  weight?: GpuTensor | null;
}

/**
 * lambda * sum over targets of sum_i w_i (theta_i - anchor_i)^2, a term added to the loss
 * (EWC: w = diagonal Fisher, anchor = the weights after the previous task). Returns the
 * value as a GPU tensor [1] owned by the tape; the gradients, 2 lambda w (theta - anchor),
 * are computed in the same dispatch and handed to the parameters at backward.
 */
export function quadraticPenalty(tape: Tape, targets: readonly PenaltyTarget[], lambda: number): GpuTensor {
  const { ctx } = tape;
  const value = tape.save(ctx.zeros([1], 'f32', 'penalty.value'));
  const grads = targets.map((t, i) => tape.save(quadraticPenaltyKernel(ctx, t.param.value, t.anchor, t.weight ?? null, lambda, value, { accumulate: i > 0 })));
  tape.onBackward(() => {
    targets.forEach((t, i) => {
      if (!t.param.requiresGrad) return;
      tape.unsave(grads[i]);
      tape.addGrad(t.param, grads[i]);
    });
  });
  return value;
}

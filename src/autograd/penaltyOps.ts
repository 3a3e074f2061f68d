import type { GpuTensor } from '../gpu/tensor';
import { l1Penalty } from '../kernels/l1Penalty';
import { matmul } from '../kernels/matmul';
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

/** One projection's pair for O-LoRA: the frozen earlier A's stacked [K r, in] and the new A [r, in]. */
export interface OrthogonalityPair {
  frozen: GpuTensor;
  fresh: Variable;
}

/**
 * O-LoRA's orthogonality term, lambda * sum over pairs of sum |A_old A_new^T| (every entry
 * of the [K r, r] product of the earlier adapters' A's with the new one's), as a loss term.
 * Its gradient with respect to A_new is lambda * sign(O)^T A_old; the frozen A's get none.
 * Returns the value as a GPU tensor [1] owned by the tape.
 */
export function orthogonalityPenalty(tape: Tape, pairs: readonly OrthogonalityPair[], lambda: number): GpuTensor {
  const { ctx } = tape;
  const value = tape.save(ctx.zeros([1], 'f32', 'orthogonality.value'));
  const signs = pairs.map((pair, i) => {
    const product = matmul(ctx, pair.frozen, pair.fresh.value, { transB: true });
    const s = tape.save(l1Penalty(ctx, product, lambda, value, { accumulate: i > 0 }));
    ctx.release(product);
    return s;
  });
  tape.onBackward(() => {
    pairs.forEach((pair, i) => {
      if (!pair.fresh.requiresGrad) return;
      tape.addGrad(pair.fresh, matmul(ctx, signs[i], pair.frozen, { transA: true }));
    });
  });
  return value;
}

/**
 * Float64 reference masked cross-entropy: logits [T, V], targets [T], mask [T].
 * Targets >= V are ignored (loss 0, zero gradient), as on the GPU.
 */

export interface CrossEntropyRef {
  losses: Float64Array;
  mean: number;
}

function logSumExp(logits: Float64Array, t: number, V: number): number {
  let m = -Infinity;
  for (let j = 0; j < V; j++) m = Math.max(m, logits[t * V + j]);
  let s = 0;
  for (let j = 0; j < V; j++) s += Math.exp(logits[t * V + j] - m);
  return m + Math.log(s);
}

export function crossEntropyRef(
  logits: Float64Array,
  targets: ArrayLike<number>,
  mask: ArrayLike<number>,
  T: number,
  V: number,
): CrossEntropyRef {
  const losses = new Float64Array(T);
  let sumMask = 0;
  let sumLoss = 0;
  for (let t = 0; t < T; t++) {
    const y = targets[t];
    losses[t] = y < V ? logSumExp(logits, t, V) - logits[t * V + y] : 0;
    sumMask += mask[t];
    if (mask[t] !== 0) sumLoss += mask[t] * losses[t];
  }
  return { losses, mean: sumLoss / Math.max(sumMask, 1) };
}

/** Gradient of gradScale * mean loss with respect to the logits. */
export function crossEntropyBackwardRef(
  logits: Float64Array,
  targets: ArrayLike<number>,
  mask: ArrayLike<number>,
  T: number,
  V: number,
  gradScale = 1,
): Float64Array {
  let sumMask = 0;
  for (let t = 0; t < T; t++) sumMask += mask[t];
  const denom = Math.max(sumMask, 1);
  const d = new Float64Array(T * V);
  for (let t = 0; t < T; t++) {
    const y = targets[t];
    if (y >= V) continue;
    const lse = logSumExp(logits, t, V);
    const coef = (gradScale * mask[t]) / denom;
    for (let j = 0; j < V; j++) d[t * V + j] = coef * (Math.exp(logits[t * V + j] - lse) - (j === y ? 1 : 0));
  }
  return d;
}

/**
 * Float64 reference for MoSEs-style token routing and the gate-weighted combination.
 *
 *   logits [T, E] -> probs = softmax(logits) per row
 *   indices [T, k]: the k largest logits, descending; equal logits go to the lower index
 *   gates   [T, k]: probs of the chosen experts renormalised to sum to 1, which equals a
 *                   softmax over the chosen logits alone
 *
 * Backward holds the selection fixed (it is piecewise constant in the logits).
 */

export function topkRouteRef(
  logits: ArrayLike<number>,
  T: number,
  E: number,
  k: number,
): { indices: Uint32Array; gates: Float64Array; probs: Float64Array } {
  const indices = new Uint32Array(T * k);
  const gates = new Float64Array(T * k);
  const probs = new Float64Array(T * E);
  const order = [...Array(E).keys()];
  for (let t = 0; t < T; t++) {
    const row = (e: number) => logits[t * E + e];
    let max = -Infinity;
    for (let e = 0; e < E; e++) max = Math.max(max, row(e));
    let sum = 0;
    for (let e = 0; e < E; e++) sum += Math.exp(row(e) - max);
    for (let e = 0; e < E; e++) probs[t * E + e] = Math.exp(row(e) - max) / sum;
    const sorted = [...order].sort((a, b) => row(b) - row(a) || a - b);
    let sel = 0;
    for (let j = 0; j < k; j++) sel += Math.exp(row(sorted[j]) - max);
    for (let j = 0; j < k; j++) {
      indices[t * k + j] = sorted[j];
      gates[t * k + j] = Math.exp(row(sorted[j]) - max) / sel;
    }
  }
  return { indices, gates, probs };
}

/**
 * dlogits from dgates (through the renormalised top-k, selection fixed) plus, when given,
 * dprobs (through the full softmax, e.g. a load-balancing loss on probs):
 *   chosen i:  g_i (dg_i - sum_j g_j dg_j)
 *   all e:     p_e (dp_e - sum_f p_f dp_f)
 */
export function topkRouteBackwardRef(
  probs: Float64Array,
  indices: ArrayLike<number>,
  gates: Float64Array,
  dgates: Float64Array,
  T: number,
  E: number,
  k: number,
  dprobs?: Float64Array,
): Float64Array {
  const dlogits = new Float64Array(T * E);
  for (let t = 0; t < T; t++) {
    if (dprobs) {
      let dot = 0;
      for (let e = 0; e < E; e++) dot += probs[t * E + e] * dprobs[t * E + e];
      for (let e = 0; e < E; e++) dlogits[t * E + e] = probs[t * E + e] * (dprobs[t * E + e] - dot);
    }
    let dot = 0;
    for (let j = 0; j < k; j++) dot += gates[t * k + j] * dgates[t * k + j];
    for (let j = 0; j < k; j++) {
      const e = indices[t * k + j];
      if (e >= E) continue;
      dlogits[t * E + e] += gates[t * k + j] * (dgates[t * k + j] - dot);
    }
  }
  return dlogits;
}

/** y[t, d] = sum_j gates[t, j] * expertOut[t, j, d]. */
export function gatedCombineRef(expertOut: Float64Array, gates: Float64Array, T: number, k: number, D: number): Float64Array {
  const y = new Float64Array(T * D);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < k; j++) {
      const g = gates[t * k + j];
      for (let d = 0; d < D; d++) y[t * D + d] += g * expertOut[(t * k + j) * D + d];
    }
  }
  return y;
}

export function gatedCombineBackwardRef(
  expertOut: Float64Array,
  gates: Float64Array,
  dy: Float64Array,
  T: number,
  k: number,
  D: number,
): { dExpertOut: Float64Array; dGates: Float64Array } {
  const dExpertOut = new Float64Array(T * k * D);
  const dGates = new Float64Array(T * k);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < k; j++) {
      let acc = 0;
      for (let d = 0; d < D; d++) {
        dExpertOut[(t * k + j) * D + d] = gates[t * k + j] * dy[t * D + d];
        acc += expertOut[(t * k + j) * D + d] * dy[t * D + d];
      }
      dGates[t * k + j] = acc;
    }
  }
  return { dExpertOut, dGates };
}

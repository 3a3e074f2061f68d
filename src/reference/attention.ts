/**
 * Float64 reference for GPT-2's causal self-attention, per (batch, head):
 *
 *   S = q k^T * scale            (T, T), scale = 1/sqrt(D) by default
 *   P = softmax(S + causal mask) row-wise; key s is visible to query t only when s <= t
 *   out = P v                    (T, D)
 *
 * q, k, v, out, dOut are (B, H, T, D) row-major; lse (B, H, T) is each row's
 * log(sum_s exp(S[t, s])) over the visible keys, the statistic the GPU backward reuses.
 * This is the textbook two-pass softmax over a materialised row of P: it shares no code or
 * algorithm with the GPU's single-pass version.
 */

export interface AttentionForward64 {
  out: Float64Array;
  lse: Float64Array;
}

export interface AttentionGrads64 {
  dq: Float64Array;
  dk: Float64Array;
  dv: Float64Array;
}

export function defaultAttentionScale(D: number): number {
  return 1 / Math.sqrt(D);
}

/** Row t of P for head `bh` (the first t+1 entries are used). */
function probabilities(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  bh: number,
  t: number,
  T: number,
  D: number,
  scale: number,
  row: Float64Array,
): number {
  const qo = (bh * T + t) * D;
  let max = -Infinity;
  for (let s = 0; s <= t; s++) {
    const ko = (bh * T + s) * D;
    let dot = 0;
    for (let d = 0; d < D; d++) dot += q[qo + d] * k[ko + d];
    row[s] = dot * scale;
    if (row[s] > max) max = row[s];
  }
  let sum = 0;
  for (let s = 0; s <= t; s++) {
    row[s] = Math.exp(row[s] - max);
    sum += row[s];
  }
  for (let s = 0; s <= t; s++) row[s] /= sum;
  return max + Math.log(sum);
}

/** The attention matrix P (B, H, T, T), zero above the diagonal. */
export function attentionProbsRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  B: number,
  H: number,
  T: number,
  D: number,
  scale = defaultAttentionScale(D),
): Float64Array {
  const P = new Float64Array(B * H * T * T);
  const row = new Float64Array(T);
  for (let bh = 0; bh < B * H; bh++) {
    for (let t = 0; t < T; t++) {
      probabilities(q, k, bh, t, T, D, scale, row);
      for (let s = 0; s <= t; s++) P[(bh * T + t) * T + s] = row[s];
    }
  }
  return P;
}

export function attentionForwardRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  B: number,
  H: number,
  T: number,
  D: number,
  scale = defaultAttentionScale(D),
): AttentionForward64 {
  const out = new Float64Array(B * H * T * D);
  const lse = new Float64Array(B * H * T);
  const row = new Float64Array(T);
  for (let bh = 0; bh < B * H; bh++) {
    for (let t = 0; t < T; t++) {
      lse[bh * T + t] = probabilities(q, k, bh, t, T, D, scale, row);
      const oo = (bh * T + t) * D;
      for (let s = 0; s <= t; s++) {
        const vo = (bh * T + s) * D;
        for (let d = 0; d < D; d++) out[oo + d] += row[s] * v[vo + d];
      }
    }
  }
  return { out, lse };
}

/**
 * Gradients of sum(out * dOut) with respect to q, k, v:
 *   dv[s] = sum_t P[t,s] dOut[t]
 *   dP[t,s] = dOut[t] . v[s]
 *   dS[t,s] = P[t,s] (dP[t,s] - sum_s' P[t,s'] dP[t,s'])
 *   dq[t] = scale sum_s dS[t,s] k[s],   dk[s] = scale sum_t dS[t,s] q[t]
 */
export function attentionBackwardRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  dOut: ArrayLike<number>,
  B: number,
  H: number,
  T: number,
  D: number,
  scale = defaultAttentionScale(D),
): AttentionGrads64 {
  const n = B * H * T * D;
  const dq = new Float64Array(n);
  const dk = new Float64Array(n);
  const dv = new Float64Array(n);
  const p = new Float64Array(T);
  const dp = new Float64Array(T);
  for (let bh = 0; bh < B * H; bh++) {
    for (let t = 0; t < T; t++) {
      probabilities(q, k, bh, t, T, D, scale, p);
      const to = (bh * T + t) * D;
      let pdp = 0;
      for (let s = 0; s <= t; s++) {
        const so = (bh * T + s) * D;
        let dot = 0;
        for (let d = 0; d < D; d++) dot += dOut[to + d] * v[so + d];
        dp[s] = dot;
        pdp += p[s] * dot;
        for (let d = 0; d < D; d++) dv[so + d] += p[s] * dOut[to + d];
      }
      for (let s = 0; s <= t; s++) {
        const so = (bh * T + s) * D;
        const ds = p[s] * (dp[s] - pdp) * scale;
        for (let d = 0; d < D; d++) {
          dq[to + d] += ds * k[so + d];
          dk[so + d] += ds * q[to + d];
        }
      }
    }
  }
  return { dq, dk, dv };
}

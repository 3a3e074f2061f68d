/**
 * Float64 references for moving GPT-2's attention activations between the token-major
 * layout of the projections and the head-major layout of the attention kernels.
 *
 *   qkv  (B, T, 3C)   q, k, v are consecutive C-wide blocks; inside each, head h owns
 *                     columns h*D .. h*D+D-1 (C = H*D), as in GPT-2's c_attn output.
 *   q, k, v, o  (B, H, T, D)
 *   merged (B, T, C)  the input of the output projection.
 */

export interface Qkv64 {
  q: Float64Array;
  k: Float64Array;
  v: Float64Array;
}

/** qkv (B, T, 3C) -> q, k, v each (B, H, T, D). */
export function splitQkvRef(qkv: ArrayLike<number>, B: number, T: number, H: number, D: number): Qkv64 {
  const C = H * D;
  const n = B * H * T * D;
  const q = new Float64Array(n);
  const k = new Float64Array(n);
  const v = new Float64Array(n);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < H; h++) {
        for (let d = 0; d < D; d++) {
          const src = (b * T + t) * 3 * C + h * D + d;
          const dst = ((b * H + h) * T + t) * D + d;
          q[dst] = qkv[src];
          k[dst] = qkv[src + C];
          v[dst] = qkv[src + 2 * C];
        }
      }
    }
  }
  return { q, k, v };
}

/** Backward of splitQkvRef: dq, dk, dv (B, H, T, D) -> dqkv (B, T, 3C). */
export function splitQkvBackwardRef(
  dq: ArrayLike<number>,
  dk: ArrayLike<number>,
  dv: ArrayLike<number>,
  B: number,
  T: number,
  H: number,
  D: number,
): Float64Array {
  const C = H * D;
  const dqkv = new Float64Array(B * T * 3 * C);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let t = 0; t < T; t++) {
        for (let d = 0; d < D; d++) {
          const src = ((b * H + h) * T + t) * D + d;
          const dst = (b * T + t) * 3 * C + h * D + d;
          dqkv[dst] += dq[src];
          dqkv[dst + C] += dk[src];
          dqkv[dst + 2 * C] += dv[src];
        }
      }
    }
  }
  return dqkv;
}

/** o (B, H, T, D) -> (B, T, C). */
export function mergeHeadsRef(o: ArrayLike<number>, B: number, H: number, T: number, D: number): Float64Array {
  const C = H * D;
  const out = new Float64Array(B * T * C);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let t = 0; t < T; t++) {
        for (let d = 0; d < D; d++) out[(b * T + t) * C + h * D + d] = o[((b * H + h) * T + t) * D + d];
      }
    }
  }
  return out;
}

/** Backward of mergeHeadsRef: dOut (B, T, C) -> dO (B, H, T, D). */
export function mergeHeadsBackwardRef(dOut: ArrayLike<number>, B: number, H: number, T: number, D: number): Float64Array {
  const C = H * D;
  const dO = new Float64Array(B * H * T * D);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < H; h++) {
        for (let d = 0; d < D; d++) dO[((b * H + h) * T + t) * D + d] += dOut[(b * T + t) * C + h * D + d];
      }
    }
  }
  return dO;
}

/**
 * Float64 oracle for src/kernels/matmul.ts: C = alpha * op(A) op(B) [+ scale * U V^T] [+ C].
 * Plain loops, written from the definition and independent of the GPU code.
 *
 * a: [batch?, M, K] ([batch?, K, M] with transA); b: [batch?, K, N] ([batch?, N, K] with
 * transB); a rank-2 operand is shared by every batch entry. Result: [batch, M, N] flat.
 */
export interface MatmulRefOptions {
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  /** Existing C to add into (accumulate); not modified. */
  c?: Float64Array;
  /** u: [M, R]; v: [N, R] or [R, N] when vTransposed. Unbatched products only. */
  lowRank?: { u: Float64Array; v: Float64Array; R: number; vTransposed?: boolean; scale: number };
}

export function matmulRef(
  a: Float64Array,
  aShape: readonly number[],
  b: Float64Array,
  bShape: readonly number[],
  opts: MatmulRefOptions = {},
): Float64Array {
  const { transA = false, transB = false, alpha = 1 } = opts;
  const ra = aShape.length;
  const rb = bShape.length;
  const M = transA ? aShape[ra - 1] : aShape[ra - 2];
  const K = transA ? aShape[ra - 2] : aShape[ra - 1];
  const N = transB ? bShape[rb - 2] : bShape[rb - 1];
  const Kb = transB ? bShape[rb - 1] : bShape[rb - 2];
  if (K !== Kb) throw new Error(`matmulRef: inner dimensions differ (${K} vs ${Kb})`);
  const batch = ra === 3 ? aShape[0] : rb === 3 ? bShape[0] : 1;
  const strideA = ra === 3 ? M * K : 0;
  const strideB = rb === 3 ? K * N : 0;
  const out = new Float64Array(batch * M * N);
  for (let z = 0; z < batch; z++) {
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let sum = 0;
        for (let k = 0; k < K; k++) {
          const x = transA ? a[z * strideA + k * M + m] : a[z * strideA + m * K + k];
          const y = transB ? b[z * strideB + n * K + k] : b[z * strideB + k * N + n];
          sum += x * y;
        }
        let value = alpha * sum;
        const low = opts.lowRank;
        if (low) {
          let t = 0;
          for (let r = 0; r < low.R; r++) {
            t += low.u[m * low.R + r] * (low.vTransposed ? low.v[r * N + n] : low.v[n * low.R + r]);
          }
          value += low.scale * t;
        }
        const i = z * M * N + m * N + n;
        out[i] = opts.c ? opts.c[i] + value : value;
      }
    }
  }
  return out;
}

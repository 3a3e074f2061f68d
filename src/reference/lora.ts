/**
 * Float64 oracle for src/kernels/lora.ts, written from the definition with plain loops:
 *   y = x W^T + s (x A^T) B^T
 * x: [M, K], W: [N, K], A: [r, K], B: [N, r]; all flat row-major.
 */
export interface LoraDimsRef {
  M: number;
  K: number;
  N: number;
  r: number;
}

export function loraForwardRef(
  x: Float64Array,
  W: Float64Array,
  A: Float64Array,
  B: Float64Array,
  scale: number,
  { M, K, N, r }: LoraDimsRef,
): { y: Float64Array; xa: Float64Array } {
  const xa = new Float64Array(M * r);
  for (let m = 0; m < M; m++) {
    for (let j = 0; j < r; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += x[m * K + k] * A[j * K + k];
      xa[m * r + j] = s;
    }
  }
  const y = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let base = 0;
      for (let k = 0; k < K; k++) base += x[m * K + k] * W[n * K + k];
      let low = 0;
      for (let j = 0; j < r; j++) low += xa[m * r + j] * B[n * r + j];
      y[m * N + n] = base + scale * low;
    }
  }
  return { y, xa };
}

/**
 * Gradients of sum(y * dy) with W frozen:
 *   dx = dy W + s (dy B) A,   dA = s (dy B)^T x,   dB = s dy^T (x A^T).
 */
export function loraBackwardRef(
  x: Float64Array,
  W: Float64Array,
  A: Float64Array,
  B: Float64Array,
  scale: number,
  dy: Float64Array,
  { M, K, N, r }: LoraDimsRef,
): { dx: Float64Array; dA: Float64Array; dB: Float64Array } {
  const xa = new Float64Array(M * r);
  const dyb = new Float64Array(M * r);
  for (let m = 0; m < M; m++) {
    for (let j = 0; j < r; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += x[m * K + k] * A[j * K + k];
      xa[m * r + j] = s;
      let t = 0;
      for (let n = 0; n < N; n++) t += dy[m * N + n] * B[n * r + j];
      dyb[m * r + j] = t;
    }
  }
  const dx = new Float64Array(M * K);
  for (let m = 0; m < M; m++) {
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let n = 0; n < N; n++) s += dy[m * N + n] * W[n * K + k];
      let low = 0;
      for (let j = 0; j < r; j++) low += dyb[m * r + j] * A[j * K + k];
      dx[m * K + k] = s + scale * low;
    }
  }
  const dA = new Float64Array(r * K);
  for (let j = 0; j < r; j++) {
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let m = 0; m < M; m++) s += dyb[m * r + j] * x[m * K + k];
      dA[j * K + k] = scale * s;
    }
  }
  const dB = new Float64Array(N * r);
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < r; j++) {
      let s = 0;
      for (let m = 0; m < M; m++) s += dy[m * N + n] * xa[m * r + j];
      dB[n * r + j] = scale * s;
    }
  }
  return { dx, dA, dB };
}

/**
 * Merges a LoRA pair into a GPT-2 Conv1D weight in place: W[in, out] += scale * (B A)^T,
 * A [r, in], B [out, r] (PEFT's layout). The float64 oracle for models carrying adapters.
 */
export function mergeLoraConv1dRef(
  W: Float64Array,
  A: ArrayLike<number>,
  B: ArrayLike<number>,
  dims: { rank: number; fanIn: number; fanOut: number },
  scale: number,
): void {
  const { rank, fanIn, fanOut } = dims;
  for (let i = 0; i < fanIn; i++) {
    for (let o = 0; o < fanOut; o++) {
      let s = 0;
      for (let k = 0; k < rank; k++) s += B[o * rank + k] * A[k * fanIn + i];
      W[i * fanOut + o] += scale * s;
    }
  }
}

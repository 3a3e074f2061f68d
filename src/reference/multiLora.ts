/**
 * Float64 reference for multi-adapter LoRA: each row of x picks its own adapters.
 *
 *   x   [M, K]        input rows
 *   A   [E, r, K]     down projections of the E adapters
 *   B   [E, N, r]     up projections
 *   idx [M, k]        adapter of each slot; any value >= E (0xFFFFFFFF by convention)
 *                     means "no adapter" and contributes nothing
 *   w   [M, k]        weight of each slot (a gate value, or 1 for SEE's single expert)
 *
 *   xa[m, j, :] = A_{idx[m,j]} x[m]                             [M, k, r]
 *   y[m, :]     = base[m, :] + sum_j w[m,j] * scale * B_{idx[m,j]} xa[m, j, :]
 *
 * Plain loops, independent of the GPU code; used as the oracle in tests.
 */

export const NO_ADAPTER = 0xffffffff;

export interface MultiLoraDims {
  M: number;
  K: number;
  N: number;
  E: number;
  r: number;
  k: number;
}

export function multiLoraForwardRef(
  d: MultiLoraDims,
  x: Float64Array,
  A: Float64Array,
  B: Float64Array,
  idx: ArrayLike<number>,
  w: Float64Array,
  scale: number,
  base?: Float64Array,
): { y: Float64Array; xa: Float64Array } {
  const { M, K, N, E, r, k } = d;
  const xa = new Float64Array(M * k * r);
  const y = base ? Float64Array.from(base) : new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let j = 0; j < k; j++) {
      const e = idx[m * k + j];
      if (e >= E) continue;
      const s = m * k + j;
      for (let t = 0; t < r; t++) {
        let acc = 0;
        for (let c = 0; c < K; c++) acc += A[(e * r + t) * K + c] * x[m * K + c];
        xa[s * r + t] = acc;
      }
      const coef = w[s] * scale;
      for (let n = 0; n < N; n++) {
        let acc = 0;
        for (let t = 0; t < r; t++) acc += B[(e * N + n) * r + t] * xa[s * r + t];
        y[m * N + n] += coef * acc;
      }
    }
  }
  return { y, xa };
}

/**
 * Gradients of L given dy = dL/dy. dx is the adapter part only (the base path's
 * gradient is someone else's); dA and dB sum over every slot routed to that adapter.
 */
export function multiLoraBackwardRef(
  d: MultiLoraDims,
  x: Float64Array,
  A: Float64Array,
  B: Float64Array,
  idx: ArrayLike<number>,
  w: Float64Array,
  scale: number,
  dy: Float64Array,
): { dx: Float64Array; dA: Float64Array; dB: Float64Array; dw: Float64Array } {
  const { M, K, N, E, r, k } = d;
  const { xa } = multiLoraForwardRef(d, x, A, B, idx, w, scale);
  const dx = new Float64Array(M * K);
  const dA = new Float64Array(E * r * K);
  const dB = new Float64Array(E * N * r);
  const dw = new Float64Array(M * k);
  const g = new Float64Array(r);
  for (let m = 0; m < M; m++) {
    for (let j = 0; j < k; j++) {
      const s = m * k + j;
      const e = idx[s];
      if (e >= E) continue;
      const coef = w[s] * scale;
      // g = B_e^T dy[m]: the gradient reaching xa before the slot's weight.
      for (let t = 0; t < r; t++) {
        let acc = 0;
        for (let n = 0; n < N; n++) acc += B[(e * N + n) * r + t] * dy[m * N + n];
        g[t] = acc;
      }
      let dws = 0;
      for (let t = 0; t < r; t++) dws += g[t] * xa[s * r + t];
      dw[s] = scale * dws;
      for (let n = 0; n < N; n++) {
        for (let t = 0; t < r; t++) dB[(e * N + n) * r + t] += coef * dy[m * N + n] * xa[s * r + t];
      }
      for (let t = 0; t < r; t++) {
        const dxa = coef * g[t];
        for (let c = 0; c < K; c++) {
          dA[(e * r + t) * K + c] += dxa * x[m * K + c];
          dx[m * K + c] += dxa * A[(e * r + t) * K + c];
        }
      }
    }
  }
  return { dx, dA, dB, dw };
}

// Float64 CPU oracles for the benchmark's checks, kept independent of every GPU code path.

/** Shapes of one matmul case: C[m,n] = A[m,k] · B, with B stored [k,n], or [n,k] when transB. */
export interface MatmulShape {
  m: number;
  k: number;
  n: number;
  transB: boolean;
}

/** Above this many multiply-adds the check computes a sample of C instead of all of it. */
export const FULL_CHECK_MACS = 1 << 26;
const SAMPLE = 768;

/**
 * Reference values of C at `index` (flat row-major positions), or of all of C when
 * `index` is null.
 */
export function matmulRef(s: MatmulShape, a: Float32Array, b: Float32Array, index: Int32Array | null): Float64Array {
  const { m, k, n, transB } = s;
  const count = index ? index.length : m * n;
  const out = new Float64Array(count);
  if (!index && !transB) {
    // i-p-j order walks B by rows, which keeps the full reference quick enough for 512^3.
    for (let i = 0; i < m; i++) {
      const row = i * n;
      for (let p = 0; p < k; p++) {
        const av = a[i * k + p];
        const bo = p * n;
        for (let j = 0; j < n; j++) out[row + j] += av * b[bo + j];
      }
    }
    return out;
  }
  for (let q = 0; q < count; q++) {
    const at = index ? index[q] : q;
    const i = Math.floor(at / n);
    const j = at - i * n;
    let acc = 0;
    if (transB) for (let p = 0; p < k; p++) acc += a[i * k + p] * b[j * k + p];
    else for (let p = 0; p < k; p++) acc += a[i * k + p] * b[p * n + j];
    out[q] = acc;
  }
  return out;
}

/** Which elements of an m x n output to check: all when cheap, else a spread-out sample. */
export function checkIndex(s: MatmulShape, random: () => number): Int32Array | null {
  const total = s.m * s.n;
  if (s.m * s.n * s.k <= FULL_CHECK_MACS) return null;
  const idx = new Int32Array(SAMPLE);
  // The four corners catch edge-tile bugs; the rest is uniform.
  idx[0] = 0;
  idx[1] = s.n - 1;
  idx[2] = (s.m - 1) * s.n;
  idx[3] = total - 1;
  for (let q = 4; q < SAMPLE; q++) idx[q] = Math.floor(random() * total);
  return idx;
}

/** LoRA shapes: x[m,k], W[n,k], A[r,k], B[n,r], dy[m,n]. */
export interface LoraShape {
  m: number;
  k: number;
  n: number;
  r: number;
  scale: number;
}

export interface LoraInputs {
  x: Float32Array;
  W: Float32Array;
  A: Float32Array;
  B: Float32Array;
  dy: Float32Array;
}

/** Names of the outputs every LoRA implementation returns, in this order. */
// xa = x A^T is an intermediate every implementation computes but none needs to hand out
// (our engine keeps it inside the autograd op, as the model runs it).
export const LORA_OUTPUTS = ['y', 'dx', 'dA', 'dB'] as const;

/**
 * y = x W^T + scale (x A^T) B^T (with xa = x A^T), and for the loss gradient dy:
 * dx = dy W + scale (dy B) A, dA = scale (dy B)^T x, dB = scale dy^T xa.
 */
export function loraRef(s: LoraShape, t: LoraInputs): Float64Array[] {
  const { m, k, n, r, scale } = s;
  const xa = new Float64Array(m * r);
  for (let i = 0; i < m; i++)
    for (let q = 0; q < r; q++) {
      let acc = 0;
      for (let p = 0; p < k; p++) acc += t.x[i * k + p] * t.A[q * k + p];
      xa[i * r + q] = acc;
    }
  const y = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let base = 0;
      for (let p = 0; p < k; p++) base += t.x[i * k + p] * t.W[j * k + p];
      let low = 0;
      for (let q = 0; q < r; q++) low += xa[i * r + q] * t.B[j * r + q];
      y[i * n + j] = base + scale * low;
    }
  const dyB = new Float64Array(m * r);
  for (let i = 0; i < m; i++)
    for (let q = 0; q < r; q++) {
      let acc = 0;
      for (let j = 0; j < n; j++) acc += t.dy[i * n + j] * t.B[j * r + q];
      dyB[i * r + q] = acc;
    }
  const dx = new Float64Array(m * k);
  for (let i = 0; i < m; i++)
    for (let p = 0; p < k; p++) {
      let base = 0;
      for (let j = 0; j < n; j++) base += t.dy[i * n + j] * t.W[j * k + p];
      let low = 0;
      for (let q = 0; q < r; q++) low += dyB[i * r + q] * t.A[q * k + p];
      dx[i * k + p] = base + scale * low;
    }
  const dA = new Float64Array(r * k);
  for (let q = 0; q < r; q++)
    for (let p = 0; p < k; p++) {
      let acc = 0;
      for (let i = 0; i < m; i++) acc += dyB[i * r + q] * t.x[i * k + p];
      dA[q * k + p] = scale * acc;
    }
  const dB = new Float64Array(n * r);
  for (let j = 0; j < n; j++)
    for (let q = 0; q < r; q++) {
      let acc = 0;
      for (let i = 0; i < m; i++) acc += t.dy[i * n + j] * xa[i * r + q];
      dB[j * r + q] = scale * acc;
    }
  return [y, dx, dA, dB];
}

/** Multiply-adds times two of one LoRA forward + backward (no dW: the base is frozen). */
export function loraFlops(s: LoraShape): number {
  const { m, k, n, r } = s;
  // x W^T and dy W, plus six rank-r products: x A^T, xa B^T, dy B, (dy B) A, dA, dB.
  return 2 * m * k * n * 2 + 2 * m * r * (3 * k + 3 * n);
}

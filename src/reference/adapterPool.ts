import { matmulRef } from './matmul';
import { topkRouteRef } from './topkRouting';

/**
 * Float64 reference of the adapter pool on one projection (src/autograd/adapterOps.ts):
 *   delta[m] = sum over chosen adapters e of g_e(m) * scale * sum over e's slices s of
 *              (B_es A_es x[m]) placed at the slice's output columns.
 * Plain loops over the definition, independent of the stacking and kernels of the GPU op.
 */
export interface PairRef {
  /** [r, K] */
  A: Float64Array;
  /** [n, r] */
  B: Float64Array;
  /** First output column the pair writes. */
  column: number;
}

export type GatesRef =
  | { kind: 'all' }
  | { kind: 'perToken'; adapterOfToken: ArrayLike<number | null> }
  /** router [K, E'] over the pool's first E' adapters. */
  | { kind: 'routed'; router: Float64Array; topK: number };

export function poolDeltaRef(
  x: Float64Array,
  M: number,
  K: number,
  N: number,
  /** pairs[e][s] */
  pairs: readonly (readonly PairRef[])[],
  r: number,
  scale: number,
  gates: GatesRef,
): Float64Array {
  const out = new Float64Array(M * N);
  const addAdapter = (m: number, e: number, g: number) => {
    for (const p of pairs[e]) {
      const n = p.B.length / r;
      const xa = new Float64Array(r);
      for (let t = 0; t < r; t++) for (let c = 0; c < K; c++) xa[t] += p.A[t * K + c] * x[m * K + c];
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let t = 0; t < r; t++) acc += p.B[j * r + t] * xa[t];
        out[m * N + p.column + j] += g * scale * acc;
      }
    }
  };
  if (gates.kind === 'all') {
    for (let m = 0; m < M; m++) for (let e = 0; e < pairs.length; e++) addAdapter(m, e, 1);
  } else if (gates.kind === 'perToken') {
    for (let m = 0; m < M; m++) {
      const e = gates.adapterOfToken[m];
      if (e !== null) addAdapter(m, e, 1);
    }
  } else {
    const E = gates.router.length / K;
    const logits = matmulRef(x, [M, K], gates.router, [K, E]);
    const route = topkRouteRef(logits, M, E, gates.topK);
    for (let m = 0; m < M; m++) {
      for (let j = 0; j < gates.topK; j++) addAdapter(m, route.indices[m * gates.topK + j], route.gates[m * gates.topK + j]);
    }
  }
  return out;
}

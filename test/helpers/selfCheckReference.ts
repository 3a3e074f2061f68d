import { SELF_CHECK_CASES, SELF_CHECK_SEED, selfCheckInputs } from '../../src/diagnostics/kernelSelfCheck';
import type { SelfCheckExpected } from '../../src/diagnostics/selfCheckExpected';
import { attentionBackwardRef, attentionForwardRef } from '../../src/reference/attention';
import { crossEntropyRef } from '../../src/reference/crossEntropy';
import { layerNormRef } from '../../src/reference/layernorm';
import { loraBackwardRef, loraForwardRef } from '../../src/reference/lora';
import { matmulRef } from '../../src/reference/matmul';
import { topkRouteRef } from '../../src/reference/topkRouting';

// The float64 references' outputs for the self-check's inputs: what the shipped expectations
// file holds (made by scripts/make-selfcheck-data.ts, checked by test/unit/selfCheckData.test.ts).

type Ref = (inputs: never) => ArrayLike<number>[];
const f64 = (a: ArrayLike<number>) => Float64Array.from(a);
type F = Float32Array;

const references: Record<string, Ref> = {
  add: ({ a, b }: { a: F; b: F }) => [Float64Array.from(a, (v, i) => v + b[i])],
  matmul: ({ M, K, N, a, b }: { M: number; K: number; N: number; a: F; b: F }) => [matmulRef(f64(a), [M, K], f64(b), [K, N])],
  'lora fwd+bwd': ({ M, K, N, r, scale, x, W, A, B, dy }: { M: number; K: number; N: number; r: number; scale: number; x: F; W: F; A: F; B: F; dy: F }) => {
    const dims = { M, K, N, r };
    const rf = loraForwardRef(f64(x), f64(W), f64(A), f64(B), scale, dims);
    const rb = loraBackwardRef(f64(x), f64(W), f64(A), f64(B), scale, f64(dy), dims);
    return [rf.y, rb.dx, rb.dA, rb.dB];
  },
  'causal attention fwd+bwd': ({ B, H, T, D, q, k, v, dOut }: { B: number; H: number; T: number; D: number; q: F; k: F; v: F; dOut: F }) => {
    const rf = attentionForwardRef(q, k, v, B, H, T, D);
    const rb = attentionBackwardRef(q, k, v, dOut, B, H, T, D);
    return [rf.out, rb.dq, rb.dk, rb.dv];
  },
  'top-k routing': ({ T, E, k, logits }: { T: number; E: number; k: number; logits: F }) => {
    const ref = topkRouteRef(logits, T, E, k);
    return [ref.gates, ref.probs, ref.indices];
  },
  layernorm: ({ R, C, x, g, b }: { R: number; C: number; x: F; g: F; b: F }) => [layerNormRef(f64(x), f64(g), f64(b), R, C).y],
  'masked cross-entropy': ({ T, V, logits, targets, mask }: { T: number; V: number; logits: F; targets: Uint32Array; mask: F }) => {
    const ref = crossEntropyRef(f64(logits), targets, mask, T, V);
    return [[ref.mean], ref.losses];
  },
};

/** The expectations, computed now from src/reference. */
export function makeSelfCheckExpected(): SelfCheckExpected {
  const inputs = selfCheckInputs(SELF_CHECK_SEED);
  return {
    seed: SELF_CHECK_SEED,
    cases: SELF_CHECK_CASES.map((c, i) => {
      const ref = references[c.kernel];
      if (!ref) throw new Error(`no reference for self-check case ${c.kernel}`);
      return { kernel: c.kernel, shape: c.shape, outputs: ref(inputs[i] as never).map((o) => Float32Array.from(o)) };
    }),
  };
}

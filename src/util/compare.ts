type Num = ArrayLike<number>;

/**
 * Largest element-wise relative error of `actual` against an expected output (a float64
 * reference in the tests, its stored values in the self-check):
 * |a - e| / (|e| + floor), with floor = 1e-2 * max|e| so that elements which cancel to
 * nearly zero do not demand digits fp32 cannot hold. Non-finite outputs (an element left
 * poisoned with NaN, say) count as infinite error.
 */
export function maxRelError(actual: Num, expected: Num): { err: number; index: number } {
  let maxAbs = 0;
  for (let i = 0; i < expected.length; i++) maxAbs = Math.max(maxAbs, Math.abs(expected[i]));
  const floor = Math.max(1e-2 * maxAbs, 1e-30);
  let err = 0;
  let index = expected.length > 0 ? 0 : -1;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const r = Number.isFinite(a) ? Math.abs(a - expected[i]) / (Math.abs(expected[i]) + floor) : Infinity;
    if (r > err) {
      err = r;
      index = i;
    }
  }
  if (actual.length !== expected.length) return { err: Infinity, index: Math.min(actual.length, expected.length) };
  return { err, index };
}

import { expect } from 'vitest';
import { maxRelError } from '../../src/util/compare';
import { rng } from '../../src/util/random';

type Num = ArrayLike<number>;

export function expectClose(actual: Num, expected: Num, what: string, rtol = 1e-4): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  const { err, index } = maxRelError(actual, expected);
  expect(
    err,
    `${what}: max relative error ${err.toExponential(2)} at [${index}] (got ${actual[index]}, want ${expected[index]})`,
  ).toBeLessThanOrEqual(rtol);
}

/**
 * Central finite differences of a scalar function at `samples` coordinates of x, compared
 * with the analytic gradient. Run on float64 references this is tight; on fp32 GPU
 * forwards use a larger eps and tolerance.
 */
export function expectGradientMatchesFiniteDifference(
  f: (x: Float64Array) => number,
  x: Float64Array,
  grad: Num,
  what: string,
  { eps = 1e-6, rtol = 1e-5, samples = 24, seed = 1 } = {},
): void {
  const n = x.length;
  const idx = n <= samples ? [...Array(n).keys()] : pick(n, samples, seed);
  let gmax = 0;
  for (let i = 0; i < n; i++) gmax = Math.max(gmax, Math.abs(grad[i]));
  for (const i of idx) {
    const xi = x[i];
    x[i] = xi + eps;
    const fp = f(x);
    x[i] = xi - eps;
    const fm = f(x);
    x[i] = xi;
    const num = (fp - fm) / (2 * eps);
    const tol = rtol * (Math.abs(num) + gmax + 1e-12);
    expect(Math.abs(num - grad[i]), `${what}[${i}]: analytic ${grad[i]} vs numeric ${num}`).toBeLessThanOrEqual(tol);
  }
}

function pick(n: number, k: number, seed: number): number[] {
  // A shuffled prefix: distinct indices for any n (the first and last always included).
  const random = rng(seed);
  const order = Array.from({ length: n - 2 }, (_, i) => i + 1);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return [0, n - 1, ...order.slice(0, Math.max(0, k - 2))];
}

/** Float64 copy of any numeric array. */
export function f64(a: Num): Float64Array {
  return Float64Array.from(a as ArrayLike<number>);
}

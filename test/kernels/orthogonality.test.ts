import { describe, expect, it } from 'vitest';
import { orthogonalityPenalty } from '../../src/autograd/penaltyOps';
import { Parameter, Tape } from '../../src/autograd/tape';
import { l1Penalty } from '../../src/kernels/l1Penalty';
import { rng, uniform } from '../../src/util/random';
import { expectGradientMatchesFiniteDifference, f64 } from '../helpers/compare';
import { useGpu } from '../helpers/gpu';

const gpu = useGpu();

/** float64: lambda * sum |frozen fresh^T| with frozen [M, n_in], fresh [r, n_in]. */
function orthogonalityRef(frozen: Float64Array, fresh: Float64Array, M: number, r: number, nIn: number, lambda: number): number {
  let s = 0;
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < r; j++) {
      let d = 0;
      for (let k = 0; k < nIn; k++) d += frozen[i * nIn + k] * fresh[j * nIn + k];
      s += Math.abs(d);
    }
  }
  return lambda * s;
}

describe('L1 penalty kernel (value = lambda sum |x|, grad = lambda sign x)', () => {
  it.each([1, 37, 1000, 4099])('matches float64 for n=%i, and accumulates', async (n) => {
    const ctx = gpu();
    const x = uniform(n, rng(n), -2, 2);
    if (n > 1) x[1] = 0;
    const value = ctx.upload([5], [1]);
    const X = ctx.upload(x, [n]);
    const grad = l1Penalty(ctx, X, 0.3, value, { accumulate: true });
    const want = 5 + 0.3 * f64(x).reduce((s, v) => s + Math.abs(v), 0);
    expect(Math.abs((await ctx.readF32(value))[0] - want) / want).toBeLessThan(1e-5);
    expect(Array.from(await ctx.readF32(grad))).toEqual(Array.from(x, (v) => Math.fround(0.3 * Math.sign(v))));
    ctx.release(value, X, grad);
  });

  it('refuses a negative lambda and a value of the wrong shape', () => {
    const ctx = gpu();
    const x = ctx.zeros([3]);
    const v = ctx.zeros([2]);
    expect(() => l1Penalty(ctx, x, -1, ctx.zeros([1]))).toThrow(/lambda must be >= 0/);
    expect(() => l1Penalty(ctx, x, 1, v)).toThrow(/value has shape \[2\], expected \[1\]/);
    ctx.release(x, v);
  });
});

describe("O-LoRA's orthogonality penalty", () => {
  // Awkward sizes (not multiples of any tile), two projections at once.
  it.each([
    [2, 5, 37],
    [3, 3, 129],
  ])('value and gradient match float64 and finite differences (K=%i, r=%i, in=%i)', async (K, r, nIn) => {
    const ctx = gpu();
    const random = rng(K * 100 + nIn);
    const lambda = 0.7;
    const M = K * r;
    const frozen = [uniform(M * nIn, random), uniform(M * nIn, random)];
    const fresh = [uniform(r * nIn, random), uniform(r * nIn, random)];
    const params = fresh.map((f, i) => new Parameter(ctx.upload(f, [r, nIn]), `A_new${i}`));
    const frozenT = frozen.map((f) => ctx.upload(f, [M, nIn]));
    const tape = new Tape(ctx);
    const value = orthogonalityPenalty(
      tape,
      params.map((p, i) => ({ frozen: frozenT[i], fresh: p })),
      lambda,
    );
    const got = (await ctx.readF32(value))[0];
    tape.backward();
    const ref = (i: number) => (x: Float64Array) => orthogonalityRef(f64(frozen[i]), x, M, r, nIn, lambda);
    const want = ref(0)(f64(fresh[0])) + ref(1)(f64(fresh[1]));
    expect(Math.abs(got - want) / want).toBeLessThan(1e-5);
    for (const i of [0, 1]) {
      expectGradientMatchesFiniteDifference(ref(i), f64(fresh[i]), await ctx.readF32(params[i].grad!), `dA_new[${i}]`, { samples: 30 });
    }
    tape.dispose();
    for (const p of params) ctx.release(p.value, p.grad!);
    ctx.release(...frozenT);
  });
});

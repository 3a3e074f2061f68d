import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/gpu/errors';
import { layerNorm, layerNormBackward, layerNormParamGrads } from '../../src/kernels/layernorm';
import { layerNormBackwardRef, layerNormRef } from '../../src/reference/layernorm';
import { rng, uniform } from '../../src/util/random';
import { expectClose, expectGradientMatchesFiniteDifference, f64 } from '../helpers/compare';
import { useGpu } from '../helpers/gpu';

const gpu = useGpu();

function leakCheck(ctx: ReturnType<typeof gpu>) {
  const live = ctx.poolStats().live;
  return () => expect(ctx.poolStats().live, 'live buffers').toBe(live);
}

/** Rows with a mean far from zero, so a one-pass E[x^2] - mean^2 variance would fail. */
function inputs(R: number, C: number, seed: number) {
  const r = rng(seed);
  const x = uniform(R * C, r, 2, 4);
  const gamma = uniform(C, r, 0.5, 1.5);
  const beta = uniform(C, r);
  const dy = uniform(R * C, r);
  return { x, gamma, beta, dy };
}

const SIZES: Array<[number, number]> = [
  [1, 1],
  [7, 33],
  [33, 65],
  [130, 7],
  [5, 300],
  [9, 768], // GPT-2 width: an fp32 mean summed without a shift fails here
];
// 1 thread per row (software default), 32 per row with 2 rows per workgroup, 256 per row.
const ROW_THREADS = [1, 32, 256];

describe('layerNorm forward', () => {
  it.each(ROW_THREADS.flatMap((rt) => SIZES.map(([R, C]) => [R, C, rt])))(
    'matches float64 for R=%i C=%i rowThreads=%i',
    async (R, C, rt) => {
      const ctx = gpu();
      const done = leakCheck(ctx);
      const { x, gamma, beta } = inputs(R, C, R * C + rt);
      const tx = ctx.upload(x, [R, C]);
      const tg = ctx.upload(gamma, [C]);
      const tb = ctx.upload(beta, [C]);
      const [y, mean, rstd] = [ctx.empty([R, C]), ctx.empty([R]), ctx.empty([R])];
      for (const t of [y, mean, rstd]) ctx.fill(t, NaN);
      layerNorm(ctx, tx, tg, tb, { out: y, mean, rstd, rowThreads: rt });
      const want = layerNormRef(f64(x), f64(gamma), f64(beta), R, C);
      expectClose(await ctx.readF32(y), want.y, `y R=${R} C=${C}`);
      expectClose(await ctx.readF32(mean), want.mean, 'mean');
      expectClose(await ctx.readF32(rstd), want.rstd, 'rstd');
      ctx.release(tx, tg, tb, y, mean, rstd);
      done();
    },
  );

  it('normalises [B, S, C] inputs with the adapter default layout and custom eps', async () => {
    const ctx = gpu();
    const done = leakCheck(ctx);
    const [B, S, C] = [2, 9, 48];
    const { x, gamma, beta } = inputs(B * S, C, 3);
    const tx = ctx.upload(x, [B, S, C]);
    const tg = ctx.upload(gamma, [C]);
    const tb = ctx.upload(beta, [C]);
    const { y, mean, rstd } = layerNorm(ctx, tx, tg, tb, { eps: 1e-3 });
    expect(y.shape).toEqual([B, S, C]);
    expect(mean.shape).toEqual([B * S]);
    expectClose(await ctx.readF32(y), layerNormRef(f64(x), f64(gamma), f64(beta), B * S, C, 1e-3).y, 'y');
    ctx.release(tx, tg, tb, y, mean, rstd);
    done();
  });
});

describe('layerNorm backward', () => {
  it('float64 reference gradients match finite differences of the reference forward', () => {
    const [R, C] = [3, 7];
    const { x, gamma, beta, dy } = inputs(R, C, 11);
    const [X, G, Bt, W] = [f64(x), f64(gamma), f64(beta), f64(dy)];
    const loss = (xx: Float64Array, gg: Float64Array, bb: Float64Array) =>
      layerNormRef(xx, gg, bb, R, C).y.reduce((s, v, i) => s + v * W[i], 0);
    const g = layerNormBackwardRef(X, G, W, R, C);
    expectGradientMatchesFiniteDifference((v) => loss(v, G, Bt), X, g.dx, 'dx', { samples: R * C });
    expectGradientMatchesFiniteDifference((v) => loss(X, v, Bt), G, g.dgamma, 'dgamma', { samples: C });
    expectGradientMatchesFiniteDifference((v) => loss(X, G, v), Bt, g.dbeta, 'dbeta', { samples: C });
  });

  it.each(ROW_THREADS.flatMap((rt) => SIZES.map(([R, C]) => [R, C, rt])))(
    'dx matches float64 for R=%i C=%i rowThreads=%i',
    async (R, C, rt) => {
      const ctx = gpu();
      const done = leakCheck(ctx);
      const { x, gamma, beta, dy } = inputs(R, C, R + C + rt);
      const tx = ctx.upload(x, [R, C]);
      const tg = ctx.upload(gamma, [C]);
      const tb = ctx.upload(beta, [C]);
      const tdy = ctx.upload(dy, [R, C]);
      const fwd = layerNorm(ctx, tx, tg, tb, { rowThreads: rt });
      const dx = ctx.empty([R, C]);
      ctx.fill(dx, NaN);
      layerNormBackward(ctx, tx, tg, fwd.mean, fwd.rstd, tdy, { dx, rowThreads: rt });
      const want = layerNormBackwardRef(f64(x), f64(gamma), f64(dy), R, C);
      expectClose(await ctx.readF32(dx), want.dx, `dx R=${R} C=${C}`);
      // Accumulating onto an existing gradient (the residual stream) adds the same values.
      const base = uniform(R * C, rng(1));
      ctx.write(dx, base);
      layerNormBackward(ctx, tx, tg, fwd.mean, fwd.rstd, tdy, { dx, accumulate: true, rowThreads: rt });
      expectClose(await ctx.readF32(dx), want.dx.map((v, i) => v + base[i]), 'dx accumulated');
      ctx.release(tx, tg, tb, tdy, fwd.y, fwd.mean, fwd.rstd, dx);
      done();
    },
  );

  it.each([
    [1, 1],
    [7, 33],
    [130, 7],
    [2001, 5],
  ])('dgamma and dbeta match float64 for R=%i C=%i, fresh and accumulated', async (R, C) => {
    const ctx = gpu();
    const done = leakCheck(ctx);
    const { x, gamma, beta, dy } = inputs(R, C, 7 * R + C);
    const tx = ctx.upload(x, [R, C]);
    const tg = ctx.upload(gamma, [C]);
    const tb = ctx.upload(beta, [C]);
    const tdy = ctx.upload(dy, [R, C]);
    const fwd = layerNorm(ctx, tx, tg, tb);
    const [dgamma, dbeta] = [ctx.empty([C]), ctx.empty([C])];
    ctx.fill(dgamma, NaN);
    ctx.fill(dbeta, NaN);
    layerNormParamGrads(ctx, tx, fwd.mean, fwd.rstd, tdy, { dgamma, dbeta });
    const want = layerNormBackwardRef(f64(x), f64(gamma), f64(dy), R, C);
    expectClose(await ctx.readF32(dgamma), want.dgamma, `dgamma R=${R} C=${C}`);
    expectClose(await ctx.readF32(dbeta), want.dbeta, `dbeta R=${R} C=${C}`);
    layerNormParamGrads(ctx, tx, fwd.mean, fwd.rstd, tdy, { dgamma, dbeta, accumulate: true });
    expectClose(await ctx.readF32(dgamma), want.dgamma.map((v) => 2 * v), 'dgamma accumulated');
    expectClose(await ctx.readF32(dbeta), want.dbeta.map((v) => 2 * v), 'dbeta accumulated');
    ctx.release(tx, tg, tb, tdy, fwd.y, fwd.mean, fwd.rstd, dgamma, dbeta);
    done();
  });

  it('parameter gradients are bit-for-bit reproducible', async () => {
    const ctx = gpu();
    const [R, C] = [300, 17];
    const { x, gamma, beta, dy } = inputs(R, C, 5);
    const tx = ctx.upload(x, [R, C]);
    const tg = ctx.upload(gamma, [C]);
    const tb = ctx.upload(beta, [C]);
    const tdy = ctx.upload(dy, [R, C]);
    const fwd = layerNorm(ctx, tx, tg, tb);
    const a = layerNormParamGrads(ctx, tx, fwd.mean, fwd.rstd, tdy);
    const b = layerNormParamGrads(ctx, tx, fwd.mean, fwd.rstd, tdy);
    expect(Array.from(await ctx.readF32(a.dgamma))).toEqual(Array.from(await ctx.readF32(b.dgamma)));
    expect(Array.from(await ctx.readF32(a.dbeta))).toEqual(Array.from(await ctx.readF32(b.dbeta)));
    ctx.release(tx, tg, tb, tdy, fwd.y, fwd.mean, fwd.rstd, a.dgamma, a.dbeta, b.dgamma, b.dbeta);
  });
});

describe('layerNorm argument checks', () => {
  it('rejects bad shapes, dtypes, eps and rowThreads before dispatching', () => {
    const ctx = gpu();
    const done = leakCheck(ctx);
    const x = ctx.empty([4, 8]);
    const g = ctx.empty([8]);
    const g7 = ctx.empty([7]);
    const xi = ctx.empty([4, 8], 'i32');
    const stat = ctx.empty([4]);
    const stat3 = ctx.empty([3]);
    expect(() => layerNorm(ctx, x, g7, g)).toThrow(ShapeError);
    expect(() => layerNorm(ctx, x, g7, g)).toThrow(/gamma has shape \[7\], expected \[8\]/);
    expect(() => layerNorm(ctx, x, g, g7)).toThrow(/beta has shape \[7\], expected \[8\]/);
    expect(() => layerNorm(ctx, xi, g, g)).toThrow(/x is i32, expected f32/);
    expect(() => layerNorm(ctx, x, g, g, { eps: NaN })).toThrow(/eps must be finite/);
    expect(() => layerNorm(ctx, x, g, g, { eps: 0 })).toThrow(/eps must be positive/);
    expect(() => layerNorm(ctx, x, g, g, { rowThreads: 3 })).toThrow(/rowThreads must be a power of two/);
    expect(() => layerNorm(ctx, x, g, g, { out: x })).toThrow(/out may not share a buffer with x/);
    expect(() => layerNormBackward(ctx, x, g, stat3, stat, x)).toThrow(/mean has shape \[3\], expected \[4\]/);
    expect(() => layerNormBackward(ctx, x, g, stat, stat, g)).toThrow(/dy has shape \[8\], expected \[4, 8\]/);
    expect(() => layerNormBackward(ctx, x, g, stat, stat, x, { accumulate: true })).toThrow(/accumulate needs/);
    expect(() => layerNormParamGrads(ctx, x, stat, stat3, x)).toThrow(/rstd has shape \[3\], expected \[4\]/);
    expect(() => layerNormParamGrads(ctx, x, stat, stat, x, { dgamma: g7 })).toThrow(/dgamma has shape \[7\]/);
    ctx.release(x, g, g7, xi, stat, stat3);
    done();
  });
});

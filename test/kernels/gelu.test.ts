import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/gpu/errors';
import { gelu, geluBackward } from '../../src/kernels/gelu';
import { geluBackwardRef, geluRef } from '../../src/reference/gelu';
import { normal, rng, uniform } from '../../src/util/random';
import { expectClose, expectGradientMatchesFiniteDifference, f64 } from '../helpers/compare';
import { useGpu } from '../helpers/gpu';

const gpu = useGpu();

function leakCheck(ctx: ReturnType<typeof gpu>) {
  const live = ctx.poolStats().live;
  return () => expect(ctx.poolStats().live, 'live buffers').toBe(live);
}

// Values where a naive tanh or x^3 overflows, and the tails where gelu is 0 or x.
const EXTREMES = [-3e38, -1e30, -1e13, -100, -10, -5.5, -1e-3, 0, 1e-3, 5.5, 10, 100, 1e13, 1e30, 3e38];

describe('gelu', () => {
  it.each([1, 7, 33, 257, 70_001])('forward and backward match float64 for n=%i', async (n) => {
    const ctx = gpu();
    const done = leakCheck(ctx);
    const r = rng(n);
    const x = normal(n, r, 3);
    const dy = uniform(n, r);
    const tx = ctx.upload(x, [n]);
    const tdy = ctx.upload(dy, [n]);
    const [y, dx] = [ctx.empty([n]), ctx.empty([n])];
    ctx.fill(y, NaN);
    ctx.fill(dx, NaN);
    gelu(ctx, tx, y);
    geluBackward(ctx, tx, tdy, dx);
    expectClose(await ctx.readF32(y), geluRef(f64(x)), `gelu n=${n}`);
    expectClose(await ctx.readF32(dx), geluBackwardRef(f64(x), f64(dy)), `gelu backward n=${n}`);
    ctx.release(tx, tdy, y, dx);
    done();
  });

  it('stays finite and exact in the tails (clamped tanh argument)', async () => {
    const ctx = gpu();
    const done = leakCheck(ctx);
    const x = Float32Array.from(EXTREMES);
    const n = x.length;
    const tx = ctx.upload(x, [n]);
    const ones = ctx.upload(new Float32Array(n).fill(1), [n]);
    const y = gelu(ctx, tx);
    const dx = geluBackward(ctx, tx, ones);
    const gy = await ctx.readF32(y);
    const gdx = await ctx.readF32(dx);
    expect(gy.every(Number.isFinite), `gelu: ${Array.from(gy)}`).toBe(true);
    expect(gdx.every(Number.isFinite), `gelu': ${Array.from(gdx)}`).toBe(true);
    // Element-wise relative check: every tail value must be right, not just the largest.
    const wy = geluRef(f64(x));
    const wdx = geluBackwardRef(f64(x), new Float64Array(n).fill(1));
    for (let i = 0; i < n; i++) {
      expect(Math.abs(gy[i] - wy[i]), `gelu(${x[i]}) = ${gy[i]}, want ${wy[i]}`).toBeLessThanOrEqual(1e-4 * Math.abs(wy[i]) + 1e-6);
      expect(Math.abs(gdx[i] - wdx[i]), `gelu'(${x[i]}) = ${gdx[i]}, want ${wdx[i]}`).toBeLessThanOrEqual(1e-4 * Math.abs(wdx[i]) + 1e-6);
    }
    ctx.release(tx, ones, y, dx);
    done();
  });

  it('float64 reference backward matches finite differences of the reference forward', () => {
    const n = 40;
    const r = rng(3);
    const x = f64(normal(n, r, 2));
    const w = f64(uniform(n, r));
    const f = (v: Float64Array) => geluRef(v).reduce((s, y, i) => s + y * w[i], 0);
    expectGradientMatchesFiniteDifference(f, x, geluBackwardRef(x, w), 'gelu dx', { samples: n });
  });

  it('works on any shape and rejects bad arguments before dispatching', async () => {
    const ctx = gpu();
    const done = leakCheck(ctx);
    const x = ctx.upload(Float32Array.from([0, 1, -1, 2, -2, 3]), [2, 3]);
    const y = gelu(ctx, x);
    expect(y.shape).toEqual([2, 3]);
    const xi = ctx.empty([2, 3], 'u32');
    const wrong = ctx.empty([3, 2]);
    expect(() => gelu(ctx, xi)).toThrow(ShapeError);
    expect(() => gelu(ctx, xi)).toThrow(/x is u32, expected f32/);
    expect(() => gelu(ctx, x, wrong)).toThrow(/out has shape \[3, 2\], expected \[2, 3\]/);
    expect(() => gelu(ctx, x, x)).toThrow(/out may not share a buffer with x/);
    expect(() => geluBackward(ctx, x, wrong)).toThrow(/dout has shape \[3, 2\], expected \[2, 3\]/);
    expect(() => geluBackward(ctx, x, y, y)).toThrow(/dx may not share a buffer with dout/);
    ctx.release(x, y, xi, wrong);
    done();
  });
});

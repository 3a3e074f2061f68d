import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/gpu/errors';
import { softmax, softmaxBackward } from '../../src/kernels/softmax';
import { softmaxBackwardRef, softmaxRef } from '../../src/reference/softmax';
import { rng, uniform } from '../../src/util/random';
import { expectClose, expectGradientMatchesFiniteDifference, f64 } from '../helpers/compare';
import { useGpu } from '../helpers/gpu';

const gpu = useGpu();

function leakCheck(ctx: ReturnType<typeof gpu>) {
  const live = ctx.poolStats().live;
  return () => expect(ctx.poolStats().live, 'live buffers').toBe(live);
}

const SIZES: Array<[number, number]> = [
  [1, 1],
  [7, 33],
  [33, 65],
  [130, 7],
  [3, 1000],
];
const ROW_THREADS = [1, 32, 256];

describe('softmax', () => {
  it.each(ROW_THREADS.flatMap((rt) => SIZES.map(([R, C]) => [R, C, rt])))(
    'forward and backward match float64 for R=%i C=%i rowThreads=%i',
    async (R, C, rt) => {
      const ctx = gpu();
      const done = leakCheck(ctx);
      const r = rng(R * C + rt);
      // Logits up to +-30, and one row shifted by 1000: exp without the max would overflow.
      const x = uniform(R * C, r, -30, 30);
      for (let i = 0; i < C; i++) x[i] += 1000;
      const dy = uniform(R * C, r);
      const tx = ctx.upload(x, [R, C]);
      const tdy = ctx.upload(dy, [R, C]);
      const [y, dx] = [ctx.empty([R, C]), ctx.empty([R, C])];
      ctx.fill(y, NaN);
      ctx.fill(dx, NaN);
      softmax(ctx, tx, { out: y, rowThreads: rt });
      softmaxBackward(ctx, y, tdy, { dx, rowThreads: rt });
      const wy = softmaxRef(f64(x), R, C);
      const gy = await ctx.readF32(y);
      expectClose(gy, wy, `softmax R=${R} C=${C}`);
      // Backward from the GPU's own y, as training does; compared with float64 on that y.
      expectClose(await ctx.readF32(dx), softmaxBackwardRef(f64(gy), f64(dy), R, C), `softmax backward R=${R} C=${C}`);
      ctx.release(tx, tdy, y, dx);
      done();
    },
  );

  it('float64 reference backward matches finite differences of the reference forward', () => {
    const [R, C] = [3, 9];
    const r = rng(8);
    const x = f64(uniform(R * C, r, -3, 3));
    const w = f64(uniform(R * C, r));
    const f = (v: Float64Array) => softmaxRef(v, R, C).reduce((s, y, i) => s + y * w[i], 0);
    const grad = softmaxBackwardRef(softmaxRef(x, R, C), w, R, C);
    expectGradientMatchesFiniteDifference(f, x, grad, 'softmax dx', { samples: R * C });
  });

  it('uses the adapter default layout on [B, H, S, S] scores', async () => {
    const ctx = gpu();
    const done = leakCheck(ctx);
    const shape = [2, 3, 5, 5];
    const n = 150;
    const x = uniform(n, rng(2), -4, 4);
    const tx = ctx.upload(x, shape);
    const y = softmax(ctx, tx);
    expect(y.shape).toEqual(shape);
    expectClose(await ctx.readF32(y), softmaxRef(f64(x), 30, 5), 'softmax 4-d');
    ctx.release(tx, y);
    done();
  });

  it('rejects bad arguments before dispatching', () => {
    const ctx = gpu();
    const done = leakCheck(ctx);
    const x = ctx.empty([4, 6]);
    const xi = ctx.empty([4, 6], 'i32');
    const wrong = ctx.empty([6, 4]);
    expect(() => softmax(ctx, xi)).toThrow(ShapeError);
    expect(() => softmax(ctx, xi)).toThrow(/x is i32, expected f32/);
    expect(() => softmax(ctx, x, { out: wrong })).toThrow(/out has shape \[6, 4\], expected \[4, 6\]/);
    expect(() => softmax(ctx, x, { rowThreads: 512 })).toThrow(/rowThreads must be a power of two/);
    expect(() => softmax(ctx, x, { rowThreads: 0 })).toThrow(/rowThreads must be a power of two/);
    expect(() => softmaxBackward(ctx, x, wrong)).toThrow(/dy has shape \[6, 4\], expected \[4, 6\]/);
    expect(() => softmaxBackward(ctx, x, xi)).toThrow(/dy is i32, expected f32/);
    expect(() => softmaxBackward(ctx, x, x, { dx: x })).toThrow(/dx may not share a buffer with y/);
    ctx.release(x, xi, wrong);
    done();
  });
});

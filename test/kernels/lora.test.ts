import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/gpu/errors';
import { loraBackward, loraForward } from '../../src/kernels/lora';
import { matmul, MATMUL_VARIANTS } from '../../src/kernels/matmul';
import { loraBackwardRef, loraForwardRef, type LoraDimsRef } from '../../src/reference/lora';
import { rng, uniform } from '../../src/util/random';
import { expectClose, expectGradientMatchesFiniteDifference, f64 } from '../helpers/compare';
import { useGpu } from '../helpers/gpu';

const gpu = useGpu();

// [M, K, N, r]: token counts and widths off every tile size, ranks 1, 4 and 8.
const SIZES: Array<[number, number, number, number]> = [
  [1, 1, 1, 1],
  [7, 33, 65, 4],
  [65, 130, 7, 8],
  [130, 7, 33, 1],
  [33, 65, 130, 8],
  [65, 33, 1, 4],
];

function inputs(d: LoraDimsRef, seed: number) {
  const r = rng(seed);
  return {
    x: uniform(d.M * d.K, r),
    W: uniform(d.N * d.K, r),
    A: uniform(d.r * d.K, r),
    B: uniform(d.N * d.r, r),
    dy: uniform(d.M * d.N, r),
    scale: 16 / d.r,
  };
}

describe('lora reference', () => {
  it.each([
    [5, 7, 6, 3],
    [1, 4, 3, 1],
    [4, 3, 5, 8],
  ])('backward matches finite differences of the forward (M=%i K=%i N=%i r=%i)', (M, K, N, r) => {
    const d = { M, K, N, r };
    const h = inputs(d, 11);
    const [x, W, A, B, dy] = [f64(h.x), f64(h.W), f64(h.A), f64(h.B), f64(h.dy)];
    const loss = (xx: Float64Array, AA: Float64Array, BB: Float64Array) => {
      const { y } = loraForwardRef(xx, W, AA, BB, h.scale, d);
      let s = 0;
      for (let i = 0; i < y.length; i++) s += y[i] * dy[i];
      return s;
    };
    const g = loraBackwardRef(x, W, A, B, h.scale, dy, d);
    // Every coordinate is checked (the sizes are small), so no sampling is involved.
    expectGradientMatchesFiniteDifference((v) => loss(v, A, B), x, g.dx, 'dx', { samples: x.length });
    expectGradientMatchesFiniteDifference((v) => loss(x, v, B), A, g.dA, 'dA', { samples: A.length });
    expectGradientMatchesFiniteDifference((v) => loss(x, A, v), B, g.dB, 'dB', { samples: B.length });
  });
});

describe('lora (fused)', () => {
  it.each(MATMUL_VARIANTS)('%s: forward and backward match float64 on awkward sizes', async (variant) => {
    const ctx = gpu();
    const live = ctx.poolStats().live;
    let seed = 1;
    for (const [M, K, N, r] of SIZES) {
      const d = { M, K, N, r };
      const h = inputs(d, seed++);
      const x = ctx.upload(h.x, [M, K]);
      const W = ctx.upload(h.W, [N, K]);
      const A = ctx.upload(h.A, [r, K]);
      const B = ctx.upload(h.B, [N, r]);
      const dy = ctx.upload(h.dy, [M, N]);
      const outs = {
        y: ctx.empty([M, N]),
        xa: ctx.empty([M, r]),
        dx: ctx.empty([M, K]),
        dA: ctx.empty([r, K]),
        dB: ctx.empty([N, r]),
      };
      for (const t of Object.values(outs)) ctx.fill(t, NaN);

      const fwd = loraForward(ctx, x, W, A, B, h.scale, { y: outs.y, xa: outs.xa, variant });
      expect(fwd.y).toBe(outs.y);
      const grads = { dx: outs.dx, dA: outs.dA, dB: outs.dB };
      const bwd = loraBackward(ctx, x, W, A, B, h.scale, fwd.xa, dy, { ...grads, variant });

      const want = loraForwardRef(f64(h.x), f64(h.W), f64(h.A), f64(h.B), h.scale, d);
      const wantGrads = loraBackwardRef(f64(h.x), f64(h.W), f64(h.A), f64(h.B), h.scale, f64(h.dy), d);
      const what = `${variant} M=${M} K=${K} N=${N} r=${r}`;
      expectClose(await ctx.readF32(fwd.y), want.y, `${what} y`);
      expectClose(await ctx.readF32(fwd.xa), want.xa, `${what} xa`);
      expectClose(await ctx.readF32(bwd.dx), wantGrads.dx, `${what} dx`);
      expectClose(await ctx.readF32(bwd.dA), wantGrads.dA, `${what} dA`);
      expectClose(await ctx.readF32(bwd.dB), wantGrads.dB, `${what} dB`);
      ctx.release(x, W, A, B, dy, ...Object.values(outs));
    }
    expect(ctx.poolStats().live).toBe(live);
  });

  it('allocates outputs, keeps a [batch, T, K] x batched, and accumulates gradients', async () => {
    const ctx = gpu();
    const live = ctx.poolStats().live;
    const [bt, T, K, N, r] = [3, 11, 37, 21, 4];
    const M = bt * T;
    const d = { M, K, N, r };
    const h = inputs(d, 5);
    const x = ctx.upload(h.x, [bt, T, K]);
    const W = ctx.upload(h.W, [N, K]);
    const A = ctx.upload(h.A, [r, K]);
    const B = ctx.upload(h.B, [N, r]);
    const dy = ctx.upload(h.dy, [bt, T, N]);
    const { y, xa } = loraForward(ctx, x, W, A, B, h.scale);
    expect(y.shape).toEqual([bt, T, N]);
    expect(xa.shape).toEqual([bt, T, r]);
    const g1 = loraBackward(ctx, x, W, A, B, h.scale, xa, dy);
    expect(g1.dx.shape).toEqual([bt, T, K]);
    expect(g1.dA.shape).toEqual([r, K]);
    expect(g1.dB.shape).toEqual([N, r]);
    const want = loraForwardRef(f64(h.x), f64(h.W), f64(h.A), f64(h.B), h.scale, d);
    const grads = loraBackwardRef(f64(h.x), f64(h.W), f64(h.A), f64(h.B), h.scale, f64(h.dy), d);
    expectClose(await ctx.readF32(y), want.y, 'batched y');
    expectClose(await ctx.readF32(g1.dx), grads.dx, 'batched dx');

    // A second backward added into the first: every gradient doubles.
    loraBackward(ctx, x, W, A, B, h.scale, xa, dy, { ...g1, accumulate: true });
    const twice = (a: Float64Array) => a.map((v) => 2 * v);
    expectClose(await ctx.readF32(g1.dx), twice(grads.dx), 'accumulated dx');
    expectClose(await ctx.readF32(g1.dA), twice(grads.dA), 'accumulated dA');
    expectClose(await ctx.readF32(g1.dB), twice(grads.dB), 'accumulated dB');
    ctx.release(x, W, A, B, dy, y, xa, g1.dx, g1.dA, g1.dB);
    expect(ctx.poolStats().live).toBe(live);
  });

  it.each(MATMUL_VARIANTS)('%s: B = 0 gives exactly x W^T', async (variant) => {
    const ctx = gpu();
    const [M, K, N, r] = [33, 65, 7, 8];
    const h = inputs({ M, K, N, r }, 3);
    const x = ctx.upload(h.x, [M, K]);
    const W = ctx.upload(h.W, [N, K]);
    const A = ctx.upload(h.A, [r, K]);
    const B = ctx.upload(new Float32Array(N * r), [N, r]);
    const { y, xa } = loraForward(ctx, x, W, A, B, h.scale, { variant });
    const plain = matmul(ctx, x, W, { transB: true, variant });
    const got = await ctx.readF32(y);
    expect(got).toEqual(await ctx.readF32(plain));
    expect(got.every(Number.isFinite)).toBe(true);
    ctx.release(x, W, A, B, y, xa, plain);
  });

  // The skinny kernels (shaders/lora_forward_prep.wgsl, lora_backward_prep.wgsl,
  // lora_backward_da.wgsl) keep 8x8 blocks and reduce four steps per trip: ranks past 8
  // need several column blocks, and M, N, K off multiples of 4 and 8 exercise the tails.
  const RANKS: Array<[number, number, number, number]> = [
    [9, 13, 5, 9],
    [66, 5, 31, 13],
    [3, 40, 70, 17],
    [131, 9, 10, 16],
  ];

  it.each([false, true])('ranks past 8 and reduction tails, accumulate=%s, match float64', async (accumulate) => {
    const ctx = gpu();
    const live = ctx.poolStats().live;
    let seed = 40;
    for (const [M, K, N, r] of RANKS) {
      const d = { M, K, N, r };
      const h = inputs(d, seed++);
      const x = ctx.upload(h.x, [M, K]);
      const W = ctx.upload(h.W, [N, K]);
      const A = ctx.upload(h.A, [r, K]);
      const B = ctx.upload(h.B, [N, r]);
      const dy = ctx.upload(h.dy, [M, N]);
      const random = rng(seed * 7);
      const start = { dx: uniform(M * K, random), dA: uniform(r * K, random), dB: uniform(N * r, random) };
      const outs = {
        y: ctx.empty([M, N]),
        xa: ctx.empty([M, r]),
        dx: accumulate ? ctx.upload(start.dx, [M, K]) : ctx.empty([M, K]),
        dA: accumulate ? ctx.upload(start.dA, [r, K]) : ctx.empty([r, K]),
        dB: accumulate ? ctx.upload(start.dB, [N, r]) : ctx.empty([N, r]),
      };
      ctx.fill(outs.y, NaN);
      ctx.fill(outs.xa, NaN);
      if (!accumulate) for (const t of [outs.dx, outs.dA, outs.dB]) ctx.fill(t, NaN);
      loraForward(ctx, x, W, A, B, h.scale, { y: outs.y, xa: outs.xa });
      loraBackward(ctx, x, W, A, B, h.scale, outs.xa, dy, { dx: outs.dx, dA: outs.dA, dB: outs.dB, accumulate });

      const want = loraForwardRef(f64(h.x), f64(h.W), f64(h.A), f64(h.B), h.scale, d);
      const g = loraBackwardRef(f64(h.x), f64(h.W), f64(h.A), f64(h.B), h.scale, f64(h.dy), d);
      const plus = (a: Float64Array, b: Float32Array) => (accumulate ? a.map((v, i) => v + b[i]) : a);
      const what = `M=${M} K=${K} N=${N} r=${r}${accumulate ? ' accumulated' : ''}`;
      expectClose(await ctx.readF32(outs.xa), want.xa, `${what} xa`);
      expectClose(await ctx.readF32(outs.y), want.y, `${what} y`);
      expectClose(await ctx.readF32(outs.dx), plus(g.dx, start.dx), `${what} dx`);
      expectClose(await ctx.readF32(outs.dA), plus(g.dA, start.dA), `${what} dA`);
      expectClose(await ctx.readF32(outs.dB), plus(g.dB, start.dB), `${what} dB`);
      ctx.release(x, W, A, B, dy, ...Object.values(outs));
    }
    expect(ctx.poolStats().live).toBe(live);
  });

  it('with no tokens gives empty y and dx and zero dA, dB', async () => {
    const ctx = gpu();
    const [K, N, r] = [6, 5, 3];
    const x = ctx.empty([0, K]);
    const W = ctx.upload(new Float32Array(N * K).fill(1), [N, K]);
    const A = ctx.upload(new Float32Array(r * K).fill(1), [r, K]);
    const B = ctx.upload(new Float32Array(N * r).fill(1), [N, r]);
    const dy = ctx.empty([0, N]);
    const { y, xa } = loraForward(ctx, x, W, A, B, 2);
    expect(y.shape).toEqual([0, N]);
    const dA = ctx.empty([r, K]);
    const dB = ctx.empty([N, r]);
    ctx.fill(dA, NaN);
    ctx.fill(dB, NaN);
    const g = loraBackward(ctx, x, W, A, B, 2, xa, dy, { dA, dB });
    expect(g.dx.shape).toEqual([0, K]);
    expect(Array.from(await ctx.readF32(dA))).toEqual(new Array(r * K).fill(0));
    expect(Array.from(await ctx.readF32(dB))).toEqual(new Array(N * r).fill(0));
    ctx.release(x, W, A, B, dy, y, xa, g.dx, dA, dB);
  });

  it('rejects bad arguments with a ShapeError', () => {
    const ctx = gpu();
    const [M, K, N, r] = [5, 6, 7, 2];
    const x = ctx.empty([M, K]);
    const W = ctx.empty([N, K]);
    const A = ctx.empty([r, K]);
    const B = ctx.empty([N, r]);
    const xa = ctx.empty([M, r]);
    const dy = ctx.empty([M, N]);
    const wBad = ctx.empty([N, K + 1]);
    const aBad = ctx.empty([r, K + 1]);
    const bBad = ctx.empty([N, r + 1]);
    const xi = ctx.empty([M, K], 'i32');
    const x1 = ctx.empty([M * K]);
    const dA = ctx.empty([r, K]);
    const before = ctx.pipelinesCompiled;
    const live = ctx.poolStats().live;
    const bad: Array<[() => unknown, RegExp]> = [
      [() => loraForward(ctx, x, wBad, A, B, 1), /loraForward: W has shape \[7, 7\], expected \[7, 6\]/],
      [() => loraForward(ctx, x, W, aBad, B, 1), /A has shape \[2, 7\], expected \[2, 6\]/],
      [() => loraForward(ctx, x, W, A, bBad, 1), /B has shape \[7, 3\], expected \[7, 2\]/],
      [() => loraForward(ctx, xi, W, A, B, 1), /x is i32, expected f32/],
      [() => loraForward(ctx, x1, W, A, B, 1), /x has shape \[30\], expected \[M, K\] or \[batch, T, K\]/],
      [() => loraForward(ctx, x, W, A, B, NaN), /scale must be finite/],
      [() => loraForward(ctx, x, W, A, B, 1, { y: dy, xa: { ...dy, shape: [M, r], size: M * r } }), /y may not share a buffer with xa/],
      [() => loraForward(ctx, x, W, A, B, 1, { y: xa }), /y has shape \[5, 2\], expected \[5, 7\]/],
      [() => loraForward(ctx, x, W, A, B, 1, { xa: A }), /xa has shape \[2, 6\], expected \[5, 2\]/],
      [() => loraBackward(ctx, x, W, A, B, 1, dy, dy), /loraBackward: xa has shape \[5, 7\], expected \[5, 2\]/],
      [() => loraBackward(ctx, x, W, A, B, 1, xa, xa), /dy has shape \[5, 2\], expected \[5, 7\]/],
      [() => loraBackward(ctx, x, W, A, B, Infinity, xa, dy), /scale must be finite/],
      [() => loraBackward(ctx, x, W, A, B, 1, xa, dy, { dA, accumulate: true }), /accumulate needs dx, dA and dB/],
      [() => loraBackward(ctx, x, W, A, B, 1, xa, dy, { dA: A }), /dA may not share a buffer with A/],
      [() => loraBackward(ctx, x, wBad, A, B, 1, xa, dy), /W has shape \[7, 7\], expected \[7, 6\]/],
      [() => loraBackward(ctx, x, W, A, B, 1, xa, dy, { dA, dB: { ...dA, shape: [N, r], size: N * r } }), /dA may not share a buffer with dB/],
    ];
    for (const [f, msg] of bad) {
      expect(f).toThrow(ShapeError);
      expect(f).toThrow(msg);
    }
    expect(ctx.pipelinesCompiled).toBe(before);
    expect(ctx.poolStats().live).toBe(live);
    ctx.release(x, W, A, B, xa, dy, wBad, aBad, bBad, xi, x1, dA);
  });
});

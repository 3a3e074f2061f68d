import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/gpu/errors';
import type { GpuContext } from '../../src/gpu/context';
import type { GpuTensor } from '../../src/gpu/tensor';
import { multiLoraBackward, multiLoraForward, NO_ADAPTER, uploadAdapterSlots } from '../../src/kernels/multiLora';
import { topkRoute, topkRouteBackward } from '../../src/kernels/topkRouting';
import { multiLoraBackwardRef, multiLoraForwardRef, type MultiLoraDims } from '../../src/reference/multiLora';
import { topkRouteBackwardRef, topkRouteRef } from '../../src/reference/topkRouting';
import { normal, rng, uniform } from '../../src/util/random';
import { expectClose, expectGradientMatchesFiniteDifference, f64 } from '../helpers/compare';
import { useGpu } from '../helpers/gpu';

const gpu = useGpu();

interface Problem {
  d: MultiLoraDims;
  x: Float32Array;
  A: Float32Array;
  B: Float32Array;
  idx: Uint32Array;
  w: Float32Array;
  base: Float32Array;
  dy: Float32Array;
  scale: number;
}

/**
 * Random problem; about one slot in six is empty (NO_ADAPTER), one in twenty points past
 * the pool (E + 2, which the GPU must also treat as empty), and rows may use the same
 * adapter in two slots.
 */
function problem(d: MultiLoraDims, seed: number, { emptyRows = [] as number[] } = {}): Problem {
  const { M, K, N, E, r, k } = d;
  const g = rng(seed);
  const idx = new Uint32Array(M * k);
  for (let s = 0; s < M * k; s++) {
    const u = g();
    idx[s] = u < 1 / 6 ? NO_ADAPTER : u < 1 / 6 + 1 / 20 ? E + 2 : Math.floor(g() * E);
  }
  for (const m of emptyRows) idx.fill(NO_ADAPTER, m * k, m * k + k);
  return {
    d,
    x: uniform(M * K, g),
    A: normal(E * r * K, g, 0.5),
    B: normal(E * N * r, g, 0.5),
    idx,
    w: uniform(M * k, g, 0.1, 1),
    base: uniform(M * N, g),
    dy: uniform(M * N, g),
    scale: 0.75,
  };
}

function uploadProblem(ctx: GpuContext, p: Problem) {
  const { M, K, N, E, r, k } = p.d;
  return {
    x: ctx.upload(p.x, [M, K]),
    A: ctx.upload(p.A, [E, r, K]),
    B: ctx.upload(p.B, [E, N, r]),
    idx: ctx.upload(p.idx, [M, k]),
    w: ctx.upload(p.w, [M, k]),
    base: ctx.upload(p.base, [M, N]),
    dy: ctx.upload(p.dy, [M, N]),
  };
}

function poisoned(ctx: GpuContext, shape: number[]): GpuTensor {
  const t = ctx.empty(shape);
  ctx.fill(t, NaN);
  return t;
}

const SHAPES: Array<[number, number, number, number, number, number]> = [
  // M, K, N, E, r, k
  [1, 1, 1, 1, 1, 1],
  [7, 33, 5, 3, 3, 2],
  [33, 65, 130, 5, 7, 3],
  [130, 17, 33, 9, 4, 1],
  [65, 9, 7, 4, 13, 4],
  [20, 40, 24, 3, 12, 2],
];

describe('multiLoraForward', () => {
  it.each(SHAPES)('matches float64 for M=%i K=%i N=%i E=%i r=%i k=%i', async (M, K, N, E, r, k) => {
    const ctx = gpu();
    const p = problem({ M, K, N, E, r, k }, M * 131 + K * 17 + N);
    const t = uploadProblem(ctx, p);
    const want = multiLoraForwardRef(p.d, f64(p.x), f64(p.A), f64(p.B), p.idx, f64(p.w), p.scale, f64(p.base));
    const wantDelta = multiLoraForwardRef(p.d, f64(p.x), f64(p.A), f64(p.B), p.idx, f64(p.w), p.scale);

    const y = poisoned(ctx, [M, N]);
    const xa = poisoned(ctx, [M, k, r]);
    multiLoraForward(ctx, t.x, t.A, t.B, t.idx, t.w, p.scale, { base: t.base, out: y, xa });
    expectClose(await ctx.readF32(xa), want.xa, 'xa');
    expectClose(await ctx.readF32(y), want.y, 'y = base + delta');

    // Without a base: the delta alone.
    ctx.fill(y, NaN);
    multiLoraForward(ctx, t.x, t.A, t.B, t.idx, t.w, p.scale, { out: y, xa });
    expectClose(await ctx.readF32(y), wantDelta.y, 'y = delta');

    // In place: out is base.
    const acc = ctx.upload(p.base, [M, N]);
    const res = multiLoraForward(ctx, t.x, t.A, t.B, t.idx, t.w, p.scale, { base: acc, out: acc });
    expect(res.y).toBe(acc);
    expectClose(await ctx.readF32(acc), want.y, 'y += delta in place');

    ctx.release(...Object.values(t), y, xa, acc, res.xa);
  });

  it('rows whose slots are all empty give exactly base (or exactly zero)', async () => {
    const ctx = gpu();
    const d = { M: 9, K: 10, N: 11, E: 3, r: 5, k: 2 };
    const p = problem(d, 4, { emptyRows: [0, 4, 8] });
    const t = uploadProblem(ctx, p);
    const { y, xa } = multiLoraForward(ctx, t.x, t.A, t.B, t.idx, t.w, p.scale, { base: t.base });
    const noBase = multiLoraForward(ctx, t.x, t.A, t.B, t.idx, t.w, p.scale);
    const got = await ctx.readF32(y);
    const gotDelta = await ctx.readF32(noBase.y);
    const gotXa = await ctx.readF32(xa);
    for (const m of [0, 4, 8]) {
      expect(Array.from(got.subarray(m * d.N, (m + 1) * d.N))).toEqual(Array.from(p.base.subarray(m * d.N, (m + 1) * d.N)));
      expect(Array.from(gotDelta.subarray(m * d.N, (m + 1) * d.N))).toEqual(new Array(d.N).fill(0));
      expect(Array.from(gotXa.subarray(m * d.k * d.r, (m + 1) * d.k * d.r))).toEqual(new Array(d.k * d.r).fill(0));
    }
    ctx.release(...Object.values(t), y, xa, noBase.y, noBase.xa);
  });
});

describe('multiLoraBackward', () => {
  it('float64 reference passes finite differences for x, A, B and w', () => {
    const d = { M: 5, K: 6, N: 7, E: 3, r: 3, k: 2 };
    const p = problem(d, 11);
    const [x, A, B, w, c] = [f64(p.x), f64(p.A), f64(p.B), f64(p.w), f64(p.dy)];
    const g = multiLoraBackwardRef(d, x, A, B, p.idx, w, p.scale, c);
    const L = (xx: Float64Array, AA: Float64Array, BB: Float64Array, ww: Float64Array) =>
      multiLoraForwardRef(d, xx, AA, BB, p.idx, ww, p.scale).y.reduce((s, v, i) => s + v * c[i], 0);
    expectGradientMatchesFiniteDifference((v) => L(v, A, B, w), x, g.dx, 'dx');
    expectGradientMatchesFiniteDifference((v) => L(x, v, B, w), A, g.dA, 'dA', { samples: 40 });
    expectGradientMatchesFiniteDifference((v) => L(x, A, v, w), B, g.dB, 'dB', { samples: 40 });
    expectGradientMatchesFiniteDifference((v) => L(x, A, B, v), w, g.dw, 'dw');
  });

  it.each(SHAPES)('GPU matches float64 for M=%i K=%i N=%i E=%i r=%i k=%i', async (M, K, N, E, r, k) => {
    const ctx = gpu();
    const p = problem({ M, K, N, E, r, k }, M * 7 + K * 3 + N * 5);
    const t = uploadProblem(ctx, p);
    const { y, xa } = multiLoraForward(ctx, t.x, t.A, t.B, t.idx, t.w, p.scale);
    const out = {
      dx: poisoned(ctx, [M, K]),
      dA: poisoned(ctx, [E, r, K]),
      dB: poisoned(ctx, [E, N, r]),
      dw: poisoned(ctx, [M, k]),
    };
    const res = multiLoraBackward(ctx, t.x, t.A, t.B, t.idx, t.w, p.scale, xa, t.dy, out);
    expect(res.dA).toBe(out.dA);
    const want = multiLoraBackwardRef(p.d, f64(p.x), f64(p.A), f64(p.B), p.idx, f64(p.w), p.scale, f64(p.dy));
    expectClose(await ctx.readF32(out.dx), want.dx, 'dx');
    expectClose(await ctx.readF32(out.dA), want.dA, 'dA');
    expectClose(await ctx.readF32(out.dB), want.dB, 'dB');
    expectClose(await ctx.readF32(out.dw), want.dw, 'dw');
    ctx.release(...Object.values(t), y, xa, ...Object.values(out));
  });

  it('is bitwise reproducible, gives unused adapters and empty slots exact zeros, and leaks nothing', async () => {
    const ctx = gpu();
    const d = { M: 40, K: 12, N: 9, E: 6, r: 5, k: 2 };
    const p = problem(d, 21, { emptyRows: [3] });
    // Adapter 5 is never used.
    for (let s = 0; s < p.idx.length; s++) if (p.idx[s] === 5) p.idx[s] = 1;
    const t = uploadProblem(ctx, p);
    const before = ctx.poolStats().live;
    const run = async () => {
      const { y, xa } = multiLoraForward(ctx, t.x, t.A, t.B, t.idx, t.w, p.scale);
      const g = multiLoraBackward(ctx, t.x, t.A, t.B, t.idx, t.w, p.scale, xa, t.dy);
      const host = {
        dx: await ctx.readF32(g.dx),
        dA: await ctx.readF32(g.dA),
        dB: await ctx.readF32(g.dB),
        dw: await ctx.readF32(g.dw),
      };
      ctx.release(y, xa, g.dx, g.dA, g.dB, g.dw);
      return host;
    };
    const a = await run();
    const b = await run();
    expect(ctx.poolStats().live).toBe(before);
    for (const key of ['dx', 'dA', 'dB', 'dw'] as const) expect(a[key]).toEqual(b[key]);
    const { K, N, r, k } = d;
    expect(Array.from(a.dA.subarray(5 * r * K))).toEqual(new Array(r * K).fill(0));
    expect(Array.from(a.dB.subarray(5 * N * r))).toEqual(new Array(N * r).fill(0));
    expect(Array.from(a.dx.subarray(3 * K, 4 * K))).toEqual(new Array(K).fill(0));
    for (let s = 0; s < p.idx.length; s++) if (p.idx[s] >= d.E) expect(a.dw[s]).toBe(0);
    expect(Array.from(a.dw.subarray(3 * k, 4 * k))).toEqual([0, 0]);
    ctx.release(...Object.values(t));
  });
});

describe('MoSEs chain: topkRoute -> multiLora -> topkRouteBackward', () => {
  it('routes tokens through gated sub-experts and back to the router logits', async () => {
    const ctx = gpu();
    const d = { M: 37, K: 10, N: 6, E: 9, r: 3, k: 3 };
    const { M, K, N, E, r, k } = d;
    const g = rng(77);
    const logits = normal(M * E, g, 2);
    const x = uniform(M * K, g);
    const A = normal(E * r * K, g, 0.5);
    const B = normal(E * N * r, g, 0.5);
    const dy = uniform(M * N, g);
    const tl = ctx.upload(logits, [M, E]);
    const tx = ctx.upload(x, [M, K]);
    const tA = ctx.upload(A, [E, r, K]);
    const tB = ctx.upload(B, [E, N, r]);
    const tdy = ctx.upload(dy, [M, N]);
    const route = topkRoute(ctx, tl, k);
    const { y, xa } = multiLoraForward(ctx, tx, tA, tB, route.indices, route.gates, 2);
    const grads = multiLoraBackward(ctx, tx, tA, tB, route.indices, route.gates, 2, xa, tdy);
    const dlogits = topkRouteBackward(ctx, route.probs, route.indices, route.gates, grads.dw);

    const ref = topkRouteRef(logits, M, E, k);
    const fy = multiLoraForwardRef(d, f64(x), f64(A), f64(B), ref.indices, ref.gates, 2);
    const fg = multiLoraBackwardRef(d, f64(x), f64(A), f64(B), ref.indices, ref.gates, 2, f64(dy));
    const fl = topkRouteBackwardRef(ref.probs, ref.indices, ref.gates, fg.dw, M, E, k);
    expectClose(await ctx.readF32(y), fy.y, 'routed y');
    expectClose(await ctx.readF32(grads.dA), fg.dA, 'routed dA');
    expectClose(await ctx.readF32(dlogits), fl, 'router dlogits');
    ctx.release(tl, tx, tA, tB, tdy, route.indices, route.gates, route.probs, y, xa, dlogits);
    ctx.release(grads.dx, grads.dA, grads.dB, grads.dw);
  });
});

describe('argument checks', () => {
  it('rejects wrong shapes, dtypes and a non-finite scale before dispatching', () => {
    const ctx = gpu();
    const x = ctx.empty([4, 6]);
    const A = ctx.empty([3, 2, 6]);
    const B = ctx.empty([3, 5, 2]);
    const idx = ctx.empty([4, 2], 'u32');
    const w = ctx.empty([4, 2]);
    const xa = ctx.empty([4, 2, 2]);
    const dy = ctx.empty([4, 5]);
    const Abad = ctx.empty([3, 2, 7]);
    const Bbad = ctx.empty([3, 5, 3]);
    const idxF = ctx.empty([4, 2]);
    const wBad = ctx.empty([4, 3]);
    const idxEmpty = ctx.empty([4, 0], 'u32');
    const before = ctx.poolStats().live;
    expect(() => multiLoraForward(ctx, x, Abad, B, idx, w, 1)).toThrow(/A has shape \[3, 2, 7\], expected \[3, 2, 6\]/);
    expect(() => multiLoraForward(ctx, x, A, Bbad, idx, w, 1)).toThrow(/B has shape \[3, 5, 3\], expected \[3, 5, 2\]/);
    expect(() => multiLoraForward(ctx, x, A, B, idxF, w, 1)).toThrow(/idx is f32, expected u32/);
    expect(() => multiLoraForward(ctx, x, A, B, idx, wBad, 1)).toThrow(/w has shape \[4, 3\], expected \[4, 2\]/);
    expect(() => multiLoraForward(ctx, x, A, B, idxEmpty, w, 1)).toThrow(/k \(idx.shape\[1\]\) must be a positive integer/);
    expect(() => multiLoraForward(ctx, x, A, B, idx, w, NaN)).toThrow(/scale must be finite/);
    expect(() => multiLoraForward(ctx, x, A, B, idx, w, Infinity)).toThrow(ShapeError);
    expect(() => multiLoraForward(ctx, x, A, B, idx, w, 1, { base: dy, out: x })).toThrow(/out has shape/);
    expect(() => multiLoraForward(ctx, x, A, B, idx, w, 1, { xa: dy })).toThrow(/xa has shape/);
    expect(() => multiLoraBackward(ctx, x, A, B, idx, w, 1, xa, x)).toThrow(/dy has shape \[4, 6\], expected \[4, 5\]/);
    expect(() => multiLoraBackward(ctx, x, A, B, idx, w, 1, dy, dy)).toThrow(/xa has shape/);
    expect(() => multiLoraBackward(ctx, x, A, B, idx, w, NaN, xa, dy)).toThrow(/scale must be finite/);
    expect(() => multiLoraBackward(ctx, x, A, B, idx, w, 1, xa, dy, { dx: x })).toThrow(/dx may not share a buffer with x/);
    // None of the failed calls allocated anything.
    expect(ctx.poolStats().live).toBe(before);
    ctx.release(x, A, B, idx, w, xa, dy, Abad, Bbad, idxF, wBad, idxEmpty);
  });

  it('uploadAdapterSlots accepts NO_ADAPTER and rejects indices outside the pool', async () => {
    const ctx = gpu();
    const ok = uploadAdapterSlots(ctx, [0, NO_ADAPTER, 2, 1], [1, 0, 1, 1], 4, 1, 3);
    expect(Array.from((await ctx.read(ok.idx)) as Uint32Array)).toEqual([0, NO_ADAPTER, 2, 1]);
    expect(ok.idx.dtype).toBe('u32');
    expect(() => uploadAdapterSlots(ctx, [0, 3, 2, 1], [1, 1, 1, 1], 4, 1, 3)).toThrow(/idx\[1\] = 3 is not an adapter in 0..2/);
    expect(() => uploadAdapterSlots(ctx, [0, -1, 2, 1], [1, 1, 1, 1], 4, 1, 3)).toThrow(ShapeError);
    expect(() => uploadAdapterSlots(ctx, [0, 1], [1, 1], 4, 1, 3)).toThrow(/idx has 2 values, expected M \* k = 4/);
    expect(() => uploadAdapterSlots(ctx, [0, 1, 2, 1], [1, NaN, 1, 1], 4, 1, 3)).toThrow(/w\[1\] must be finite/);
    ctx.release(ok.idx, ok.w);
  });
});

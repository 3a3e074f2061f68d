import { describe, expect, it, vi } from 'vitest';
import { ShapeError } from '../../src/gpu/errors';
import type { GpuContext } from '../../src/gpu/context';
import type { GpuTensor } from '../../src/gpu/tensor';
import { matmul, MATMUL_VARIANTS, splitKSlices, type MatmulOptions, type MatmulVariant } from '../../src/kernels/matmul';
import {
  forgetMatmulTuning,
  matmulTuningKey,
  seedMatmulTuning,
  tunedVariant,
  tuneMatmul,
} from '../../src/kernels/matmulTuning';
import { matmulRef } from '../../src/reference/matmul';
import { rng, uniform } from '../../src/util/random';
import { expectClose, f64 } from '../helpers/compare';
import { useGpu } from '../helpers/gpu';

const gpu = useGpu();

interface Case {
  aShape: number[];
  bShape: number[];
  transA: boolean;
  transB: boolean;
  accumulate: boolean;
  alpha: number;
  variant: MatmulVariant;
  lowRank?: { R: number; vTransposed: boolean; scale: number };
  splitK?: number;
  bias?: boolean;
}

/** Shapes of A and B that give op(A) [batch?, M, K] and op(B) [batch?, K, N]. */
function operandShapes(M: number, N: number, K: number, transA: boolean, transB: boolean, batchA = 0, batchB = 0) {
  const a = transA ? [K, M] : [M, K];
  const b = transB ? [N, K] : [K, N];
  return { aShape: batchA ? [batchA, ...a] : a, bShape: batchB ? [batchB, ...b] : b };
}

/**
 * Uploads into a pooled buffer whose bytes past the tensor are NaN, so a kernel that reads
 * outside its operand (and multiplies the garbage by a zero) is caught.
 */
function uploadNaNPadded(ctx: GpuContext, data: Float32Array, shape: number[]): GpuTensor {
  const probe = ctx.empty(shape);
  const capacity = probe.buffer.size / 4;
  ctx.release(probe);
  const whole = ctx.empty([capacity]);
  ctx.fill(whole, NaN);
  ctx.release(whole);
  const t = ctx.upload(data, shape);
  expect(t.buffer).toBe(whole.buffer);
  return t;
}

/** Runs one case on the GPU with a NaN-poisoned (or random, when accumulating) output and checks it. */
async function check(c: Case, seed: number): Promise<void> {
  const ctx = gpu();
  const r = rng(seed);
  const size = (s: number[]) => s.reduce((x, y) => x * y, 1);
  const a = uniform(size(c.aShape), r);
  const b = uniform(size(c.bShape), r);
  const ra = c.aShape.length;
  const rb = c.bShape.length;
  const M = c.transA ? c.aShape[ra - 1] : c.aShape[ra - 2];
  const N = c.transB ? c.bShape[rb - 2] : c.bShape[rb - 1];
  const batch = ra === 3 ? c.aShape[0] : rb === 3 ? c.bShape[0] : 0;
  const outShape = batch ? [batch, M, N] : [M, N];
  const c0 = uniform(size(outShape), r);

  const ta = uploadNaNPadded(ctx, a, c.aShape);
  const tb = uploadNaNPadded(ctx, b, c.bShape);
  const out = ctx.empty(outShape);
  if (c.accumulate) ctx.write(out, c0);
  else ctx.fill(out, NaN);
  const extra: GpuTensor[] = [];
  let lowRef;
  let lowOpt: MatmulOptions['lowRank'];
  if (c.lowRank) {
    const { R, vTransposed, scale } = c.lowRank;
    const u = uniform(M * R, r);
    const v = uniform(N * R, r);
    const tu = uploadNaNPadded(ctx, u, [M, R]);
    const tv = uploadNaNPadded(ctx, v, vTransposed ? [R, N] : [N, R]);
    extra.push(tu, tv);
    lowOpt = { u: tu, v: tv, vTransposed, scale };
    lowRef = { u: f64(u), v: f64(v), R, vTransposed, scale };
  }
  let biasT: GpuTensor | undefined;
  let biasRef: Float32Array | null = null;
  if (c.bias) {
    biasRef = uniform(N, r);
    biasT = uploadNaNPadded(ctx, biasRef, [N]);
    extra.push(biasT);
  }
  const got = matmul(ctx, ta, tb, {
    bias: biasT,
    transA: c.transA,
    transB: c.transB,
    accumulate: c.accumulate,
    alpha: c.alpha,
    out,
    variant: c.variant,
    lowRank: lowOpt,
    splitK: c.splitK,
  });
  expect(got).toBe(out);
  const want = matmulRef(f64(a), c.aShape, f64(b), c.bShape, {
    transA: c.transA,
    transB: c.transB,
    alpha: c.alpha,
    c: c.accumulate ? f64(c0) : undefined,
    lowRank: lowRef,
  });
  if (biasRef) for (let i = 0; i < want.length; i++) want[i] += biasRef[i % N];
  const what = `${c.variant} a${JSON.stringify(c.aShape)}${c.transA ? 'T' : ''} b${JSON.stringify(c.bShape)}${
    c.transB ? 'T' : ''
  }${c.accumulate ? ' +=' : ''}${c.lowRank ? ` lowRank ${JSON.stringify(c.lowRank)}` : ''}${c.splitK ? ` splitK ${c.splitK}` : ''}${c.bias ? ' + bias' : ''}`;
  expectClose(await ctx.readF32(out), want, what);
  ctx.release(ta, tb, out, ...extra);
}

// M, N, K triples: none a multiple of the 4x4 / 64x64 tiles, K % 4 != 0 among them, and
// degenerate 1s.
const SIZES: Array<[number, number, number]> = [
  [1, 1, 1],
  [7, 33, 65],
  [65, 7, 130],
  [33, 130, 7],
  [130, 65, 33],
];

const combos: Array<[MatmulVariant, boolean, boolean, boolean]> = [];
for (const variant of MATMUL_VARIANTS) {
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      for (const accumulate of [false, true]) combos.push([variant, transA, transB, accumulate]);
    }
  }
}

describe('matmul bias epilogue', () => {
  it.each(combos)('%s transA=%s transB=%s accumulate=%s adds bias[n] to every row (with and without a low-rank term)', async (...combo) => {
    const [variant, transA, transB, accumulate] = combo;
    const ctx = gpu();
    const live = ctx.poolStats().live;
    let seed = 70;
    for (const [M, N, K] of SIZES) {
      const shapes = operandShapes(M, N, K, transA, transB);
      await check({ ...shapes, transA, transB, accumulate, alpha: 0.5, variant, bias: true }, seed++);
      await check({ ...shapes, transA, transB, accumulate, alpha: 0.5, variant, bias: true, lowRank: { R: 3, vTransposed: transB, scale: 1.5 } }, seed++);
    }
    expect(ctx.poolStats().live).toBe(live);
  });
});

describe('matmul split-K', () => {
  // Long reductions into few outputs, K cut into slices whose last one is shorter.
  const SPLIT_SIZES: Array<[number, number, number, number]> = [
    [7, 9, 1031, 3],
    [5, 13, 777, 7],
    [1, 1, 600, 2],
    [33, 3, 2049, 64],
  ];
  it.each(combos)('%s transA=%s transB=%s accumulate=%s matches float64', async (...combo) => {
    const [variant, transA, transB, accumulate] = combo;
    const ctx = gpu();
    const live = ctx.poolStats().live;
    let seed = 40;
    for (const [M, N, K, splitK] of SPLIT_SIZES) {
      await check({ ...operandShapes(M, N, K, transA, transB), transA, transB, accumulate, alpha: -1.25, variant, splitK }, seed++);
    }
    expect(ctx.poolStats().live).toBe(live);
  });

  it('is chosen for long reductions into few outputs (the LM head input gradient of a BPE model) and off otherwise', async () => {
    expect(splitKSlices(1, 50257)).toBe(32);
    expect(splitKSlices(4, 50257)).toBe(8);
    expect(splitKSlices(64, 50257)).toBe(1);
    expect(splitKSlices(1, 300)).toBe(1);
    const ctx = gpu();
    const before = ctx.dispatchCount;
    // [12, 16] output over K = 5003: one register-tile workgroup without split-K.
    await check({ ...operandShapes(12, 16, 5003, false, false), transA: false, transB: false, accumulate: false, alpha: 1, variant: 'regtile' }, 3);
    expect(ctx.dispatchCount - before).toBe(2);
  });

  it('refuses a split of a batched or low-rank product', () => {
    const ctx = gpu();
    const a = ctx.upload(new Float32Array(2 * 3 * 4), [2, 3, 4]);
    const b = ctx.upload(new Float32Array(4 * 5), [4, 5]);
    expect(() => matmul(ctx, a, b, { splitK: 2 })).toThrow(/splitK needs an unbatched product/);
    expect(() => matmul(ctx, { ...a, shape: [6, 4] }, b, { splitK: 0 })).toThrow(/splitK must be a positive integer/);
    ctx.release(a, b);
  });
});

describe('matmul', () => {
  it.each(combos)('%s transA=%s transB=%s accumulate=%s matches float64 on awkward sizes', async (...combo) => {
    const [variant, transA, transB, accumulate] = combo;
    const ctx = gpu();
    const live = ctx.poolStats().live;
    let seed = 1;
    for (const [M, N, K] of SIZES) {
      const shapes = operandShapes(M, N, K, transA, transB);
      await check({ ...shapes, transA, transB, accumulate, alpha: 0.75, variant }, seed++);
    }
    expect(ctx.poolStats().live).toBe(live);
  });

  it.each(MATMUL_VARIANTS)('%s: batched, with a shared rank-2 operand on either side', async (variant) => {
    let seed = 100;
    for (const [transA, transB] of [[false, false], [false, true], [true, false], [true, true]] as const) {
      const common = { transA, transB, variant };
      // Activations [batch, M, K] times shared weights (the x W^T case is transB).
      const shared = operandShapes(33, 7, 65, transA, transB, 3, 0);
      await check({ ...shared, ...common, accumulate: false, alpha: 1 }, seed++);
      // Shared left operand, batched right one.
      const left = operandShapes(7, 65, 33, transA, transB, 0, 2);
      await check({ ...left, ...common, accumulate: true, alpha: -1.5 }, seed++);
      // Both batched.
      const both = operandShapes(65, 33, 7, transA, transB, 2, 2);
      await check({ ...both, ...common, accumulate: false, alpha: 2 }, seed++);
    }
  });

  it.each(MATMUL_VARIANTS)('%s: adds a low-rank term scale * U V^T in the epilogue', async (variant) => {
    let seed = 200;
    for (const [M, N, K, R] of [[1, 1, 1, 1], [33, 65, 7, 4], [130, 33, 65, 8], [7, 130, 33, 3]]) {
      for (const vTransposed of [false, true]) {
        for (const accumulate of [false, true]) {
          const shapes = operandShapes(M, N, K, false, true);
          const lowRank = { R, vTransposed, scale: 0.625 };
          await check({ ...shapes, transA: false, transB: true, accumulate, alpha: 1, variant, lowRank }, seed++);
        }
      }
    }
  });

  it('gives zeros for K = 0 and leaves a 0-row product alone', async () => {
    const ctx = gpu();
    for (const variant of MATMUL_VARIANTS) {
      const a = ctx.empty([5, 0]);
      const b = ctx.empty([0, 6]);
      const out = ctx.empty([5, 6]);
      ctx.fill(out, NaN);
      matmul(ctx, a, b, { out, variant });
      expect([...(await ctx.readF32(out))].every((x) => x === 0)).toBe(true);
      const e = ctx.empty([0, 3]);
      const f = ctx.empty([3, 4]);
      const g = matmul(ctx, e, f, { variant });
      expect(g.shape).toEqual([0, 4]);
      ctx.release(a, b, out, e, f, g);
    }
  });

  it('uses the default (tuned) variant when none is given, allocating [batch?, M, N]', async () => {
    const ctx = gpu();
    const r = rng(7);
    const a = uniform(3 * 5 * 9, r);
    const w = uniform(4 * 9, r);
    const ta = ctx.upload(a, [3, 5, 9]);
    const tw = ctx.upload(w, [4, 9]);
    const y = matmul(ctx, ta, tw, { transB: true });
    expect(y.shape).toEqual([3, 5, 4]);
    expectClose(await ctx.readF32(y), matmulRef(f64(a), [3, 5, 9], f64(w), [4, 9], { transB: true }), 'default variant');
    ctx.release(ta, tw, y);
  });

  it('rejects bad operands with a ShapeError before dispatching', () => {
    const ctx = gpu();
    const a = ctx.empty([3, 4]);
    const b = ctx.empty([5, 6]);
    const b2 = ctx.empty([4, 6]);
    const a3 = ctx.empty([2, 3, 4]);
    const b3 = ctx.empty([3, 4, 6]);
    const v1 = ctx.empty([12]);
    const ai = ctx.empty([3, 4], 'i32');
    const out = ctx.empty([3, 6]);
    const outBad = ctx.empty([6, 3]);
    const u = ctx.empty([3, 2]);
    const v = ctx.empty([6, 2]);
    const sq = ctx.empty([4, 4]);
    const sq2 = ctx.empty([4, 4]);
    const before = ctx.pipelinesCompiled;
    const live = ctx.poolStats().live;
    const bad: Array<[() => unknown, RegExp]> = [
      [() => matmul(ctx, a, b), /inner dimensions differ: op\(a\) is 3x4.*op\(b\) is 5x6/],
      [() => matmul(ctx, a, b2, { transA: true }), /inner dimensions differ: op\(a\) is 4x3 \(a \[3, 4\] transposed\)/],
      [() => matmul(ctx, a3, b3), /batch sizes differ/],
      [() => matmul(ctx, v1, b2), /a has shape \[12\], expected rank 2 or 3/],
      [() => matmul(ctx, ai, b2), /a is i32, expected f32/],
      [() => matmul(ctx, a, b2, { accumulate: true }), /accumulate needs `out`/],
      [() => matmul(ctx, a, b2, { out: outBad }), /out has shape \[6, 3\], expected \[3, 6\]/],
      [() => matmul(ctx, a, b2, { alpha: NaN }), /alpha must be finite/],
      [() => matmul(ctx, a, b2, { alpha: Infinity }), /alpha must be finite/],
      [() => matmul(ctx, a, b2, { variant: 'fastest' as MatmulVariant }), /unknown variant "fastest"/],
      [() => matmul(ctx, a, b2, { out: a }), /out has shape \[3, 4\]/],
      [() => matmul(ctx, sq, sq, { out: sq }), /out may not share a buffer with a/],
      [() => matmul(ctx, sq2, sq, { out: sq }), /out may not share a buffer with b/],
      [() => matmul(ctx, a, b2, { lowRank: { u, v: u, scale: 1 } }), /lowRank.v has shape \[3, 2\], expected \[6, 2\]/],
      [() => matmul(ctx, a, b2, { lowRank: { u: v, v, scale: 1 } }), /lowRank.u has shape \[6, 2\], expected \[3, 2\]/],
      [() => matmul(ctx, a, b2, { lowRank: { u, v, vTransposed: true, scale: 1 } }), /lowRank.v has shape \[6, 2\], expected \[2, 6\]/],
      [() => matmul(ctx, a, b2, { lowRank: { u, v, scale: NaN } }), /lowRank.scale must be finite/],
      [() => matmul(ctx, a3, b2, { lowRank: { u, v, scale: 1 } }), /lowRank needs an unbatched product/],
      // A batch past the grid's z limit (the operand is a view: nothing is read).
      [() => matmul(ctx, { ...a, shape: [70_000, 1, 1], size: 70_000 }, { ...a, shape: [1, 1] }), /maxComputeWorkgroupsPerDimension/],
    ];
    for (const [f, msg] of bad) {
      expect(f).toThrow(ShapeError);
      expect(f).toThrow(msg);
    }
    // Nothing was compiled, dispatched or allocated for the rejected calls.
    expect(ctx.pipelinesCompiled).toBe(before);
    expect(ctx.poolStats().live).toBe(live);
    expect(() => matmul(ctx, a, b2, { out })).not.toThrow();
    ctx.release(a, b, b2, a3, b3, v1, ai, out, outBad, u, v, sq, sq2);
  });
});

describe('matmul autotune', () => {
  it('falls back to regtile before tuning, then measures once and remembers the winner', async () => {
    const ctx = gpu();
    forgetMatmulTuning(ctx);
    expect(tunedVariant(ctx)).toBe('regtile');
    const live = ctx.poolStats().live;
    const first = await tuneMatmul(ctx, { size: 48, reps: 1 });
    expect(MATMUL_VARIANTS).toContain(first.winner);
    for (const v of MATMUL_VARIANTS) expect(first.gflops[v]).toBeGreaterThan(0);
    const best = Math.max(...MATMUL_VARIANTS.map((v) => first.gflops[v]));
    expect(first.gflops[first.winner]).toBe(best);
    expect(first.key).toBe(matmulTuningKey(ctx.adapter));
    expect(tunedVariant(ctx)).toBe(first.winner);
    expect(ctx.poolStats().live).toBe(live);

    const dispatch = vi.spyOn(ctx, 'dispatch');
    const second = await tuneMatmul(ctx, { size: 48, reps: 1 });
    expect(second).toBe(first);
    expect(dispatch).not.toHaveBeenCalled();
    dispatch.mockRestore();
  });

  it('runs one measurement for concurrent callers', async () => {
    const ctx = gpu();
    forgetMatmulTuning(ctx);
    const [x, y] = await Promise.all([tuneMatmul(ctx, { size: 32, reps: 1 }), tuneMatmul(ctx, { size: 32, reps: 1 })]);
    expect(x).toBe(y);
  });

  it('can be seeded from a stored result for the same adapter, and refuses others', async () => {
    const ctx = gpu();
    forgetMatmulTuning(ctx);
    const key = matmulTuningKey(ctx.adapter);
    const gflops = Object.fromEntries(MATMUL_VARIANTS.map((v, i) => [v, i + 1]));
    gflops.wgtile = 9;
    const stored = { key, winner: 'wgtile', gflops };
    // What a browser would keep in localStorage: plain JSON.
    expect(seedMatmulTuning(ctx, JSON.parse(JSON.stringify(stored)))).toBe(true);
    expect(tunedVariant(ctx)).toBe('wgtile');
    const dispatch = vi.spyOn(ctx, 'dispatch');
    const result = await tuneMatmul(ctx);
    expect(dispatch).not.toHaveBeenCalled();
    dispatch.mockRestore();
    expect(result.winner).toBe('wgtile');
    expect(result.gflops.wgtile).toBe(9);

    forgetMatmulTuning(ctx);
    expect(seedMatmulTuning(ctx, { ...stored, key: 'some other adapter' })).toBe(false);
    expect(seedMatmulTuning(ctx, { ...stored, winner: 'turbo' })).toBe(false);
    expect(seedMatmulTuning(ctx, { key, winner: 'naive' })).toBe(false);
    expect(seedMatmulTuning(ctx, { key, winner: 'naive', gflops: { naive: 1 } })).toBe(false);
    expect(seedMatmulTuning(ctx, { key, winner: 'naive', gflops: { ...gflops, regtile: NaN } })).toBe(false);
    expect(seedMatmulTuning(ctx, null)).toBe(false);
    expect(seedMatmulTuning(ctx, 'regtile')).toBe(false);
    expect(tunedVariant(ctx)).toBe('regtile');
  });

  it('keys stored results by the adapter description', () => {
    const ctx = gpu();
    const base = ctx.adapter;
    expect(matmulTuningKey(base)).toBe(matmulTuningKey({ ...base }));
    expect(matmulTuningKey(base)).not.toBe(matmulTuningKey({ ...base, description: base.description + ' (2)' }));
    expect(matmulTuningKey(base)).not.toBe(matmulTuningKey({ ...base, architecture: 'other' }));
    expect(matmulTuningKey(base)).toContain(base.vendor);
  });
});

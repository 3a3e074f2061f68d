import { afterAll, describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/gpu/errors';
import type { GpuTensor } from '../../src/gpu/tensor';
import {
  attentionBackward,
  attentionForward,
  chooseAttentionVariant,
  ROWS_MAX_HEAD_DIM,
  type AttentionVariant,
} from '../../src/kernels/attention';
import { mergeHeads, splitQkv } from '../../src/kernels/heads';
import { attentionBackwardRef, attentionForwardRef, attentionProbsRef } from '../../src/reference/attention';
import { mergeHeadsRef, splitQkvRef } from '../../src/reference/heads';
import { rng, uniform } from '../../src/util/random';
import { expectClose, expectGradientMatchesFiniteDifference, f64 } from '../helpers/compare';
import { useGpu } from '../helpers/gpu';

const gpu = useGpu();

// Registered after useGpu's teardown, so it runs first: every tensor made here was released.
afterAll(() => {
  expect(gpu().poolStats().live, 'tensors left allocated by this file').toBe(0);
});

const VARIANTS: AttentionVariant[] = ['rows', 'probs'];

// [B, H, T, D]: awkward sizes (T around the 4-row tiles and the 64-thread workgroups, D
// not a multiple of 4), plus D = 1 and the rows variant's largest D.
const SHAPES: Array<[number, number, number, number]> = [
  [1, 1, 1, 1],
  [2, 3, 7, 4],
  [1, 2, 33, 7],
  [2, 1, 65, 16],
  [1, 2, 130, 5],
  [1, 1, 19, 64],
  [1, 1, 9, ROWS_MAX_HEAD_DIM],
];
const CASES = VARIANTS.flatMap((variant) => SHAPES.map((s) => [variant, ...s] as const));

interface Inputs {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  tq: GpuTensor;
  tk: GpuTensor;
  tv: GpuTensor;
}

function inputs(seed: number, B: number, H: number, T: number, D: number, amplitude = 1): Inputs {
  const ctx = gpu();
  const r = rng(seed);
  const n = B * H * T * D;
  const q = uniform(n, r, -amplitude, amplitude);
  const k = uniform(n, r, -amplitude, amplitude);
  const v = uniform(n, r);
  const shape = [B, H, T, D];
  return { q, k, v, tq: ctx.upload(q, shape), tk: ctx.upload(k, shape), tv: ctx.upload(v, shape) };
}

function poisoned(shape: number[]): GpuTensor {
  const t = gpu().empty(shape);
  gpu().fill(t, NaN);
  return t;
}

/** Releases tensors, and every tensor field of result objects (forward outputs, grads). */
function releaseAll(...items: Array<GpuTensor | object>): void {
  for (const item of items) {
    if ('buffer' in item) gpu().release(item as GpuTensor);
    else for (const t of Object.values(item)) if (t) gpu().release(t as GpuTensor);
  }
}

describe('attentionForward', () => {
  it.each(CASES)('%s matches the float64 reference for B=%i H=%i T=%i D=%i', async (variant, B, H, T, D) => {
    const ctx = gpu();
    const x = inputs(B * 7 + H * 13 + T * 17 + D, B, H, T, D);
    const out = poisoned([B, H, T, D]);
    const lse = poisoned([B, H, T]);
    const probs = variant === 'probs' ? poisoned([B, H, T, T]) : undefined;
    const got = attentionForward(ctx, x.tq, x.tk, x.tv, { variant, out, lse, probs });
    expect(got.probs).toBe(probs);
    const want = attentionForwardRef(x.q, x.k, x.v, B, H, T, D);
    expectClose(await ctx.readF32(out), want.out, 'out');
    expectClose(await ctx.readF32(lse), want.lse, 'lse');
    if (probs) expectClose(await ctx.readF32(probs), attentionProbsRef(x.q, x.k, B, H, T, D), 'probs');
    releaseAll(x.tq, x.tk, x.tv, got);
  });

  it.each(VARIANTS)('%s stays finite and accurate with large scores (|q.k*scale| bounded by 100)', async (variant) => {
    const ctx = gpu();
    const [B, H, T, D] = [1, 2, 40, 16];
    const x = inputs(99, B, H, T, D, 5);
    const got = attentionForward(ctx, x.tq, x.tk, x.tv, { variant });
    const want = attentionForwardRef(x.q, x.k, x.v, B, H, T, D);
    expectClose(await ctx.readF32(got.out), want.out, 'out');
    expectClose(await ctx.readF32(got.lse), want.lse, 'lse');
    releaseAll(x.tq, x.tk, x.tv, got);
  });

  it.each(VARIANTS)('%s honours an explicit scale', async (variant) => {
    const ctx = gpu();
    const [B, H, T, D] = [1, 1, 12, 6];
    const x = inputs(5, B, H, T, D);
    const got = attentionForward(ctx, x.tq, x.tk, x.tv, { variant, scale: 0.9 });
    const want = attentionForwardRef(x.q, x.k, x.v, B, H, T, D, 0.9);
    expectClose(await ctx.readF32(got.out), want.out, 'out');
    expectClose(await ctx.readF32(got.lse), want.lse, 'lse');
    releaseAll(x.tq, x.tk, x.tv, got);
  });

  it.each(VARIANTS)('%s is causal: changing key/value row t0 leaves every earlier output bit-identical', async (variant) => {
    const ctx = gpu();
    const [B, H, T, D] = [2, 2, 33, 7];
    const t0 = 20;
    const x = inputs(21, B, H, T, D);
    const before = attentionForward(ctx, x.tq, x.tk, x.tv, { variant });
    const k2 = x.k.slice();
    const v2 = x.v.slice();
    for (let bh = 0; bh < B * H; bh++) {
      for (let d = 0; d < D; d++) {
        k2[(bh * T + t0) * D + d] += 3;
        v2[(bh * T + t0) * D + d] -= 2;
      }
    }
    const tk2 = ctx.upload(k2, [B, H, T, D]);
    const tv2 = ctx.upload(v2, [B, H, T, D]);
    const after = attentionForward(ctx, x.tq, tk2, tv2, { variant });
    const [o1, o2] = [await ctx.readF32(before.out), await ctx.readF32(after.out)];
    for (let bh = 0; bh < B * H; bh++) {
      for (let t = 0; t < T; t++) {
        const row1 = o1.subarray((bh * T + t) * D, (bh * T + t + 1) * D);
        const row2 = o2.subarray((bh * T + t) * D, (bh * T + t + 1) * D);
        if (t < t0) expect(Array.from(row2), `row ${t} of head ${bh}`).toEqual(Array.from(row1));
        else expect(Array.from(row2), `row ${t} of head ${bh} should see the change`).not.toEqual(Array.from(row1));
      }
    }
    releaseAll(x.tq, x.tk, x.tv, tk2, tv2, before, after);
  });

  it('composes with splitQkv and mergeHeads like the GPT-2 block does', async () => {
    const ctx = gpu();
    const [B, T, H, D] = [2, 13, 3, 5];
    const C = H * D;
    const x = uniform(B * T * 3 * C, rng(77));
    const qkv = ctx.upload(x, [B * T, 3 * C]);
    const heads = splitQkv(ctx, qkv, B, T, H);
    const got = attentionForward(ctx, heads.q, heads.k, heads.v);
    const merged = mergeHeads(ctx, got.out);
    const r = splitQkvRef(x, B, T, H, D);
    const want = mergeHeadsRef(attentionForwardRef(r.q, r.k, r.v, B, H, T, D).out, B, H, T, D);
    expectClose(await ctx.readF32(merged), want, 'merged attention');
    releaseAll(qkv, merged, heads, got);
  });

  it("'auto' keeps P when it fits the budget, and the probs variant has no head-size cap", async () => {
    const ctx = gpu();
    expect(chooseAttentionVariant(ctx, [2, 2, 64, 8])).toBe('probs');
    expect(chooseAttentionVariant(ctx, [2, 2, 64, 8], { probsBudgetBytes: 2 * 2 * 64 * 64 * 4 - 1 })).toBe('rows');
    expect(chooseAttentionVariant(ctx, [1, 1, 8192, 8])).toBe('rows'); // 256 MiB of P
    expect(chooseAttentionVariant(ctx, [1, 1, 8192, 8], { variant: 'probs' })).toBe('probs');

    const [B, H, T, D] = [1, 1, 6, ROWS_MAX_HEAD_DIM + 5];
    const x = inputs(31, B, H, T, D);
    const got = attentionForward(ctx, x.tq, x.tk, x.tv);
    expect(got.probs, 'auto took the probs variant').toBeDefined();
    expectClose(await ctx.readF32(got.out), attentionForwardRef(x.q, x.k, x.v, B, H, T, D).out, 'out');
    const dOut = ctx.upload(uniform(B * H * T * D, rng(2)), [B, H, T, D]);
    const g = attentionBackward(ctx, { q: x.tq, k: x.tk, v: x.tv, ...got }, dOut);
    const want = attentionBackwardRef(x.q, x.k, x.v, await ctx.readF32(dOut), B, H, T, D);
    expectClose(await ctx.readF32(g.dk), want.dk, 'dk');
    releaseAll(x.tq, x.tk, x.tv, dOut, got, g);
  });
});

describe('attention backward', () => {
  it.each([
    [1, 1, 1, 1],
    [2, 2, 5, 3],
    [1, 1, 9, 4],
  ])('float64 reference gradients match finite differences for B=%i H=%i T=%i D=%i', (B, H, T, D) => {
    const r = rng(B + 10 * H + 100 * T + 1000 * D);
    const n = B * H * T * D;
    const q = f64(uniform(n, r));
    const k = f64(uniform(n, r));
    const v = f64(uniform(n, r));
    const w = f64(uniform(n, r)); // L = sum(out * w), so dL/dout = w
    const scale = 0.7;
    const loss = (qq: Float64Array, kk: Float64Array, vv: Float64Array): number => {
      const { out } = attentionForwardRef(qq, kk, vv, B, H, T, D, scale);
      let s = 0;
      for (let i = 0; i < n; i++) s += out[i] * w[i];
      return s;
    };
    const g = attentionBackwardRef(q, k, v, w, B, H, T, D, scale);
    const opts = { eps: 1e-6, rtol: 1e-6, samples: n }; // every coordinate
    expectGradientMatchesFiniteDifference((x) => loss(x, k, v), q, g.dq, 'dq', opts);
    expectGradientMatchesFiniteDifference((x) => loss(q, x, v), k, g.dk, 'dk', opts);
    expectGradientMatchesFiniteDifference((x) => loss(q, k, x), v, g.dv, 'dv', opts);
  });

  it.each(CASES)('%s GPU gradients match the float64 reference for B=%i H=%i T=%i D=%i', async (variant, B, H, T, D) => {
    const ctx = gpu();
    const x = inputs(B * 3 + H * 5 + T * 11 + D, B, H, T, D);
    const gOut = uniform(B * H * T * D, rng(T * D));
    const dOut = ctx.upload(gOut, [B, H, T, D]);
    const fwd = attentionForward(ctx, x.tq, x.tk, x.tv, { variant });
    const [dq, dk, dv] = [poisoned([B, H, T, D]), poisoned([B, H, T, D]), poisoned([B, H, T, D])];
    attentionBackward(ctx, { q: x.tq, k: x.tk, v: x.tv, ...fwd }, dOut, { dq, dk, dv });
    const want = attentionBackwardRef(x.q, x.k, x.v, gOut, B, H, T, D);
    expectClose(await ctx.readF32(dq), want.dq, 'dq');
    expectClose(await ctx.readF32(dk), want.dk, 'dk');
    expectClose(await ctx.readF32(dv), want.dv, 'dv');
    releaseAll(x.tq, x.tk, x.tv, dOut, fwd, { dq, dk, dv });
  });

  it.each(VARIANTS)('%s matches the reference with large scores (bounded by 50) and an explicit scale', async (variant) => {
    const ctx = gpu();
    const [B, H, T, D] = [1, 2, 40, 16];
    const scale = 0.35;
    const x = inputs(123, B, H, T, D, 3);
    const gOut = uniform(B * H * T * D, rng(4));
    const dOut = ctx.upload(gOut, [B, H, T, D]);
    const fwd = attentionForward(ctx, x.tq, x.tk, x.tv, { scale, variant });
    const g = attentionBackward(ctx, { q: x.tq, k: x.tk, v: x.tv, ...fwd }, dOut, { scale });
    const want = attentionBackwardRef(x.q, x.k, x.v, gOut, B, H, T, D, scale);
    expectClose(await ctx.readF32(g.dq), want.dq, 'dq');
    expectClose(await ctx.readF32(g.dk), want.dk, 'dk');
    expectClose(await ctx.readF32(g.dv), want.dv, 'dv');
    releaseAll(x.tq, x.tk, x.tv, dOut, fwd, g);
  });

  it.each(VARIANTS)('%s is deterministic and frees its scratch buffers', async (variant) => {
    const ctx = gpu();
    const [B, H, T, D] = [2, 2, 33, 8];
    const x = inputs(8, B, H, T, D);
    const dOut = ctx.upload(uniform(B * H * T * D, rng(9)), [B, H, T, D]);
    const fwd = attentionForward(ctx, x.tq, x.tk, x.tv, { variant });
    const saved = { q: x.tq, k: x.tk, v: x.tv, ...fwd };
    const live = ctx.poolStats().live;
    const a = attentionBackward(ctx, saved, dOut);
    expect(ctx.poolStats().live, 'only dq, dk, dv stay allocated').toBe(live + 3);
    const b = attentionBackward(ctx, saved, dOut);
    for (const name of ['dq', 'dk', 'dv'] as const) {
      expect(Array.from(await ctx.readF32(b[name])), name).toEqual(Array.from(await ctx.readF32(a[name])));
    }
    releaseAll(x.tq, x.tk, x.tv, dOut, fwd, a, b);
  });
});

describe('attention argument checks', () => {
  it('rejects bad shapes, dtypes, scales, variants and aliasing before allocating or dispatching', () => {
    const ctx = gpu();
    const shape = [2, 3, 5, 4];
    const q = ctx.empty(shape);
    const k = ctx.empty(shape);
    const v = ctx.empty(shape);
    const out = ctx.empty(shape);
    const lse = ctx.empty([2, 3, 5]);
    const probs = ctx.empty([2, 3, 5, 5]);
    const u = ctx.empty(shape, 'u32');
    const short = ctx.empty([2, 3, 4, 4]);
    const rank3 = ctx.empty([6, 5, 4]);
    const wide = ctx.empty([1, 1, 2, ROWS_MAX_HEAD_DIM + 1]);
    const tooLong = Math.floor(Math.sqrt(ctx.limits.maxStorageBufferBindingSize / 4)) + 1;
    const long = ctx.empty([1, 1, tooLong, 1]); // P would not fit one binding
    const saved = { q, k, v, out, lse };
    const wideSaved = { q: wide, k: wide, v: wide, out: wide, lse: ctx.empty([1, 1, 2]) };
    const live = ctx.poolStats().live;

    expect(() => attentionForward(ctx, q, short, v)).toThrow(/k has shape \[2, 3, 4, 4\], expected \[2, 3, 5, 4\]/);
    expect(() => attentionForward(ctx, q, k, short)).toThrow(ShapeError);
    expect(() => attentionForward(ctx, rank3, rank3, rank3)).toThrow(/expected rank 4/);
    expect(() => attentionForward(ctx, u, k, v)).toThrow(/q is u32, expected f32/);
    expect(() => attentionForward(ctx, q, k, u)).toThrow(/v is u32, expected f32/);
    expect(() => attentionForward(ctx, wide, wide, wide, { variant: 'rows' })).toThrow(
      /D=129 is over the 'rows' variant's maximum of 128/,
    );
    expect(() => attentionForward(ctx, long, long, long, { variant: 'probs' })).toThrow(
      /probs \[1, 1, \d+, \d+\] needs \d+ bytes, over this device's maxStorageBufferBindingSize/,
    );
    expect(() => attentionForward(ctx, q, k, v, { variant: 'fast' as AttentionVariant })).toThrow(/unknown variant "fast"/);
    expect(() => attentionForward(ctx, q, k, v, { variant: 'rows', probs })).toThrow(/probs was given but the variant is "rows"/);
    expect(() => attentionForward(ctx, q, k, v, { probs: out })).toThrow(/probs has shape \[2, 3, 5, 4\]/);
    expect(() => attentionForward(ctx, q, k, v, { scale: NaN })).toThrow(/scale must be finite/);
    expect(() => attentionForward(ctx, q, k, v, { scale: Infinity })).toThrow(ShapeError);
    expect(() => attentionForward(ctx, q, k, v, { probsBudgetBytes: NaN })).toThrow(/probsBudgetBytes must be finite/);
    expect(() => attentionForward(ctx, q, k, v, { lse: out })).toThrow(/lse has shape \[2, 3, 5, 4\]/);
    expect(() => attentionForward(ctx, q, k, v, { out: short })).toThrow(/out has shape/);
    expect(() => attentionForward(ctx, q, k, v, { out: q })).toThrow(/out may not share a buffer with q/);
    expect(() => attentionForward(ctx, q, k, v, { out, lse: out })).toThrow(ShapeError);

    expect(() => attentionBackward(ctx, saved, short)).toThrow(/dOut has shape/);
    expect(() => attentionBackward(ctx, { ...saved, lse: out }, out)).toThrow(/lse has shape/);
    expect(() => attentionBackward(ctx, { ...saved, out: short }, out)).toThrow(/out has shape/);
    expect(() => attentionBackward(ctx, { ...saved, probs: out }, out)).toThrow(/probs has shape \[2, 3, 5, 4\]/);
    expect(() => attentionBackward(ctx, saved, u)).toThrow(/dOut is u32/);
    expect(() => attentionBackward(ctx, saved, out, { scale: -Infinity })).toThrow(/scale must be finite/);
    expect(() => attentionBackward(ctx, saved, out, { dk: short })).toThrow(/dk has shape/);
    expect(() => attentionBackward(ctx, saved, out, { dv: v })).toThrow(/dv may not share a buffer with v/);
    expect(() => attentionBackward(ctx, { ...saved, probs }, out, { dq: probs })).toThrow(ShapeError);
    expect(() => attentionBackward(ctx, saved, k, { dq: lse })).toThrow(/dq has shape/);
    expect(() => attentionBackward(ctx, saved, k, { dq: v, dk: v })).toThrow(/may not share a buffer/);
    expect(() => attentionBackward(ctx, wideSaved, wide)).toThrow(/D=129 is over the 'rows' variant's maximum/);

    expect(ctx.poolStats().live, 'a rejected call allocated nothing').toBe(live);
    ctx.release(q, k, v, out, lse, probs, u, short, rank3, wide, long, wideSaved.lse);
  });
});

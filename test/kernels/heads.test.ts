import { afterAll, describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/gpu/errors';
import { mergeHeads, mergeHeadsBackward, splitQkv, splitQkvBackward } from '../../src/kernels/heads';
import {
  mergeHeadsBackwardRef,
  mergeHeadsRef,
  splitQkvBackwardRef,
  splitQkvRef,
} from '../../src/reference/heads';
import { rng, uniform } from '../../src/util/random';
import { expectClose } from '../helpers/compare';
import { useGpu } from '../helpers/gpu';

const gpu = useGpu();

// Registered after useGpu's teardown, so it runs first: every tensor made here was released.
afterAll(() => {
  expect(gpu().poolStats().live, 'tensors left allocated by this file').toBe(0);
});

// [B, T, H, D]: awkward sizes, none a multiple of the 256-thread workgroup.
const SHAPES: Array<[number, number, number, number]> = [
  [1, 1, 1, 1],
  [2, 7, 3, 4],
  [1, 33, 2, 7],
  [3, 65, 4, 16],
  [2, 130, 1, 5],
];

describe('splitQkv / splitQkvBackward', () => {
  it.each(SHAPES)('splits qkv into heads for B=%i T=%i H=%i D=%i', async (B, T, H, D) => {
    const ctx = gpu();
    const C = H * D;
    const x = uniform(B * T * 3 * C, rng(B * 1000 + T * 10 + D));
    const qkv = ctx.upload(x, [B, T, 3 * C]);
    const out = {
      q: ctx.empty([B, H, T, D]),
      k: ctx.empty([B, H, T, D]),
      v: ctx.empty([B, H, T, D]),
    };
    for (const t of Object.values(out)) ctx.fill(t, NaN);
    splitQkv(ctx, qkv, B, T, H, out);
    const want = splitQkvRef(x, B, T, H, D);
    expectClose(await ctx.readF32(out.q), want.q, 'q');
    expectClose(await ctx.readF32(out.k), want.k, 'k');
    expectClose(await ctx.readF32(out.v), want.v, 'v');
    ctx.release(qkv, out.q, out.k, out.v);
  });

  it.each(SHAPES)('joins head gradients into dqkv for B=%i T=%i H=%i D=%i', async (B, T, H, D) => {
    const ctx = gpu();
    const r = rng(7 + B + T + H + D);
    const n = B * H * T * D;
    const [dq, dk, dv] = [uniform(n, r), uniform(n, r), uniform(n, r)];
    const tq = ctx.upload(dq, [B, H, T, D]);
    const tk = ctx.upload(dk, [B, H, T, D]);
    const tv = ctx.upload(dv, [B, H, T, D]);
    const out = ctx.empty([B * T, 3 * H * D]);
    ctx.fill(out, NaN);
    splitQkvBackward(ctx, tq, tk, tv, out);
    expectClose(await ctx.readF32(out), splitQkvBackwardRef(dq, dk, dv, B, T, H, D), 'dqkv');
    ctx.release(tq, tk, tv, out);
  });

  it('round-trips: join(split(qkv)) == qkv, with a flattened (B*T, 3C) input', async () => {
    const ctx = gpu();
    const [B, T, H, D] = [2, 9, 3, 5];
    const x = uniform(B * T * 3 * H * D, rng(3));
    const qkv = ctx.upload(x, [B * T, 3 * H * D]);
    const { q, k, v } = splitQkv(ctx, qkv, B, T, H);
    expect(q.shape).toEqual([B, H, T, D]);
    const back = splitQkvBackward(ctx, q, k, v);
    expect(back.shape).toEqual([B, T, 3 * H * D]);
    expect(Array.from(await ctx.readF32(back))).toEqual(Array.from(x));
    ctx.release(qkv, q, k, v, back);
  });

  it('rejects bad shapes, dtypes and aliasing before dispatching', () => {
    const ctx = gpu();
    const qkv = ctx.empty([2, 5, 12]);
    const u = ctx.empty([2, 5, 12], 'u32');
    const q = ctx.empty([2, 2, 5, 2]);
    const wrong = ctx.empty([2, 2, 5, 3]);
    const badOut = ctx.empty([2, 5, 11]);
    const live = ctx.poolStats().live;
    expect(() => splitQkv(ctx, qkv, 2, 5, 5)).toThrow(ShapeError); // 12 is not 3*5*D
    expect(() => splitQkv(ctx, qkv, 2, 6, 2)).toThrow(/qkv has shape \[2, 5, 12\], expected \[2, 6, 12\]/);
    expect(() => splitQkv(ctx, qkv, 0, 5, 2)).toThrow(/B must be a positive integer/);
    expect(() => splitQkv(ctx, qkv, 2, 5, 1.5)).toThrow(ShapeError);
    expect(() => splitQkv(ctx, u, 2, 5, 2)).toThrow(/qkv is u32, expected f32/);
    expect(() => splitQkv(ctx, qkv, 2, 5, 2, { q: wrong })).toThrow(/q has shape \[2, 2, 5, 3\]/);
    expect(() => splitQkv(ctx, qkv, 2, 5, 2, { q, k: q })).toThrow(/may not share a buffer/);
    expect(() => splitQkvBackward(ctx, q, q, wrong)).toThrow(/dv has shape/);
    expect(() => splitQkvBackward(ctx, q, q, q, badOut)).toThrow(ShapeError);
    const view = { ...qkv, shape: [2, 2, 5, 2], size: 40 }; // a reshaped alias of qkv's buffer
    expect(() => splitQkvBackward(ctx, view, q, q, qkv)).toThrow(/out may not share a buffer with dq/);
    expect(() => splitQkvBackward(ctx, qkv, qkv, qkv)).toThrow(/expected rank 4/);
    expect(ctx.poolStats().live, 'a rejected call allocated nothing').toBe(live);
    ctx.release(qkv, u, q, wrong, badOut);
  });
});

describe('mergeHeads / mergeHeadsBackward', () => {
  it.each(SHAPES)('merges heads for B=%i T=%i H=%i D=%i', async (B, T, H, D) => {
    const ctx = gpu();
    const x = uniform(B * H * T * D, rng(11 + B * T * H * D));
    const o = ctx.upload(x, [B, H, T, D]);
    const out = ctx.empty([B, T, H * D]);
    ctx.fill(out, NaN);
    mergeHeads(ctx, o, out);
    expectClose(await ctx.readF32(out), mergeHeadsRef(x, B, H, T, D), 'merged');
    ctx.release(o, out);
  });

  it.each(SHAPES)('splits the merged gradient back into heads for B=%i T=%i H=%i D=%i', async (B, T, H, D) => {
    const ctx = gpu();
    const x = uniform(B * T * H * D, rng(13 + B * T * H * D));
    const dOut = ctx.upload(x, [B * T, H * D]);
    const out = ctx.empty([B, H, T, D]);
    ctx.fill(out, NaN);
    mergeHeadsBackward(ctx, dOut, B, T, H, out);
    expectClose(await ctx.readF32(out), mergeHeadsBackwardRef(x, B, H, T, D), 'dO');
    ctx.release(dOut, out);
  });

  it('the backward is the adjoint: <merge(o), g> == <o, mergeBackward(g)>', async () => {
    const ctx = gpu();
    const [B, T, H, D] = [2, 11, 3, 6];
    const r = rng(5);
    const o = uniform(B * H * T * D, r);
    const g = uniform(B * T * H * D, r);
    const to = ctx.upload(o, [B, H, T, D]);
    const tg = ctx.upload(g, [B, T, H * D]);
    const tm = mergeHeads(ctx, to);
    const tb = mergeHeadsBackward(ctx, tg, B, T, H);
    const merged = await ctx.readF32(tm);
    const back = await ctx.readF32(tb);
    let lhs = 0;
    let rhs = 0;
    for (let i = 0; i < g.length; i++) lhs += merged[i] * g[i];
    for (let i = 0; i < o.length; i++) rhs += o[i] * back[i];
    expect(Math.abs(lhs - rhs)).toBeLessThan(1e-9 * (Math.abs(lhs) + 1));
    ctx.release(to, tg, tm, tb);
  });

  it('rejects bad shapes and dtypes before dispatching', () => {
    const ctx = gpu();
    const o = ctx.empty([2, 3, 4, 5]);
    const u = ctx.empty([2, 3, 4, 5], 'i32');
    const flat = ctx.empty([8, 15]);
    const rank3 = ctx.empty([2, 3, 4]);
    const badOut = ctx.empty([2, 4, 14]);
    const badHeads = ctx.empty([2, 3, 4, 4]);
    const live = ctx.poolStats().live;
    expect(() => mergeHeads(ctx, rank3)).toThrow(/expected rank 4/);
    expect(() => mergeHeads(ctx, u)).toThrow(/o is i32, expected f32/);
    expect(() => mergeHeads(ctx, o, badOut)).toThrow(/out has shape \[2, 4, 14\]/);
    expect(() => mergeHeads(ctx, o, o)).toThrow(ShapeError);
    expect(() => mergeHeadsBackward(ctx, flat, 2, 4, 4)).toThrow(/last dim must be H\*D/);
    expect(() => mergeHeadsBackward(ctx, flat, 2, 5, 3)).toThrow(/dOut has shape \[8, 15\]/);
    expect(() => mergeHeadsBackward(ctx, flat, 2, 4, 3, badHeads)).toThrow(/out has shape/);
    expect(ctx.poolStats().live, 'a rejected call allocated nothing').toBe(live);
    ctx.release(o, u, flat, rank3, badOut, badHeads);
  });
});

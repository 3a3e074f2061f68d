import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/gpu/errors';
import { embedding, embeddingBackward, positionIds } from '../../src/kernels/embedding';
import { embeddingBackwardRef, embeddingRef } from '../../src/reference/embedding';
import { rng, uniform } from '../../src/util/random';
import { expectClose, expectGradientMatchesFiniteDifference, f64 } from '../helpers/compare';
import { useGpu } from '../helpers/gpu';

const gpu = useGpu();

/** Returns a check that no pooled buffer allocated since this call is still live. */
function leakCheck(ctx: ReturnType<typeof gpu>) {
  const live = ctx.poolStats().live;
  return () => expect(ctx.poolStats().live, 'live buffers').toBe(live);
}

function randomIds(T: number, V: number, r: () => number, outOfRange = 0): Uint32Array {
  const ids = new Uint32Array(T);
  for (let t = 0; t < T; t++) ids[t] = Math.floor(r() * V);
  // Some ids past the table, including the largest u32, to exercise the GPU guard.
  for (let k = 0; k < outOfRange && k < T; k++) ids[Math.floor(r() * T)] = [V, V + 7, 0xffffffff][k % 3];
  return ids;
}

describe('embedding gather (forward)', () => {
  it.each([
    [1, 1, 1],
    [7, 5, 3],
    [33, 261, 65],
    [130, 17, 33],
  ])('matches the float64 gather for T=%i V=%i C=%i, zero rows for out-of-range ids', async (T, V, C) => {
    const ctx = gpu();
    const done = leakCheck(ctx);
    const r = rng(T * 1000 + V);
    const ids = randomIds(T, V, r, T > 1 ? 3 : 0);
    const table = uniform(V * C, r);
    const tIds = ctx.upload(ids, [T]);
    // The table is a view on a larger buffer whose tail holds 7s: an unguarded read past
    // row V - 1 would find them instead of an out-of-bounds zero.
    const storage = ctx.upload(new Float32Array((V + 8) * C).fill(7), [(V + 8) * C]);
    ctx.write(storage, Float32Array.from({ length: (V + 8) * C }, (_, i) => (i < V * C ? table[i] : 7)));
    const tTable = { ...storage, shape: [V, C], size: V * C };
    const out = ctx.empty([T, C]);
    ctx.fill(out, NaN);
    embedding(ctx, tIds, tTable, { out });
    expectClose(await ctx.readF32(out), embeddingRef(ids, f64(table), V, C), `embedding T=${T} V=${V} C=${C}`);
    ctx.release(tIds, storage, out);
    done();
  });

  it('adds learned positions onto token embeddings (accumulate) with positionIds', async () => {
    const ctx = gpu();
    const done = leakCheck(ctx);
    const [B, S, V, C, P] = [3, 11, 29, 33, 16];
    const r = rng(5);
    const ids = randomIds(B * S, V, r);
    const wte = uniform(V * C, r);
    const wpe = uniform(P * C, r);
    const tIds = ctx.upload(ids, [B, S]);
    const tWte = ctx.upload(wte, [V, C]);
    const tWpe = ctx.upload(wpe, [P, C]);
    const pos = positionIds(ctx, B, S, 2);
    expect(pos.shape).toEqual([B, S]);
    const x = embedding(ctx, tIds, tWte);
    expect(x.shape).toEqual([B, S, C]);
    embedding(ctx, pos, tWpe, { out: x, accumulate: true });
    const posIds = Array.from({ length: B * S }, (_, i) => 2 + (i % S));
    const tok = embeddingRef(ids, f64(wte), V, C);
    const want = embeddingRef(posIds, f64(wpe), P, C).map((v, i) => v + tok[i]);
    expectClose(await ctx.readF32(x), want, 'token + position embedding');
    ctx.release(tIds, tWte, tWpe, pos, x);
    done();
  });

  it('rejects bad arguments before dispatching', () => {
    const ctx = gpu();
    const done = leakCheck(ctx);
    const idsF = ctx.empty([4], 'f32');
    const ids = ctx.empty([4], 'u32');
    const table = ctx.empty([5, 3]);
    const flat = ctx.empty([15]);
    const wrongOut = ctx.empty([4, 4]);
    expect(() => embedding(ctx, idsF, table)).toThrow(ShapeError);
    expect(() => embedding(ctx, idsF, table)).toThrow(/ids is f32, expected u32/);
    expect(() => embedding(ctx, ids, flat)).toThrow(/table has shape \[15\], expected rank 2/);
    expect(() => embedding(ctx, ids, table, { out: wrongOut })).toThrow(/out has shape \[4, 4\], expected \[4, 3\]/);
    expect(() => embedding(ctx, ids, table, { accumulate: true })).toThrow(/accumulate needs an existing out/);
    expect(() => embedding(ctx, ids, table, { out: table as never })).toThrow(ShapeError);
    expect(() => embeddingBackward(ctx, ids, wrongOut, table)).toThrow(/dout has shape \[4, 4\], expected \[4, 3\]/);
    expect(() => embeddingBackward(ctx, idsF, wrongOut, table)).toThrow(/ids is f32/);
    expect(() => positionIds(ctx, 0, 4)).toThrow(/batch must be a positive integer/);
    ctx.release(idsF, ids, table, flat, wrongOut);
    done();
  });
});

describe('embedding scatter-add (backward)', () => {
  it('float64 reference backward matches finite differences of the reference forward', () => {
    const [T, V, C] = [13, 6, 5];
    const r = rng(77);
    const ids = randomIds(T, V, r, 2);
    const w = f64(uniform(T * C, r));
    const table = f64(uniform(V * C, r));
    const f = (tab: Float64Array) => embeddingRef(ids, tab, V, C).reduce((s, v, i) => s + v * w[i], 0);
    const grad = embeddingBackwardRef(ids, w, V, C);
    expectGradientMatchesFiniteDifference(f, table, grad, 'dtable', { samples: V * C });
  });

  it.each([
    [1, 1, 1, 'one token'],
    [7, 3, 33, 'long chains of repeated ids'],
    [65, 261, 7, 'byte vocabulary'],
    [130, 5000, 3, 'mostly distinct ids'],
    [600, 2, 5, 'two ids, 300-token chains'],
  ])('accumulates into the existing gradient: T=%i V=%i C=%i (%s)', async (T, V, C) => {
    const ctx = gpu();
    const done = leakCheck(ctx);
    const r = rng(T + V + C);
    const ids = randomIds(T, V, r, T > 7 ? 4 : 0);
    const dout = uniform(T * C, r);
    const dtable0 = uniform(V * C, r);
    const tIds = ctx.upload(ids, [T]);
    const tDout = ctx.upload(dout, [T, C]);
    // dtable is a view on a larger buffer with 7s past row V - 1: out-of-range ids must
    // not write there.
    const total = (V + 8) * C;
    const storage = ctx.upload(Float32Array.from({ length: total }, (_, i) => (i < V * C ? dtable0[i] : 7)), [total]);
    const tD = { ...storage, shape: [V, C], size: V * C };
    embeddingBackward(ctx, tIds, tDout, tD);
    const all = await ctx.readF32(storage);
    expectClose(all.subarray(0, V * C), embeddingBackwardRef(ids, f64(dout), V, C, f64(dtable0)), `dtable T=${T} V=${V} C=${C}`);
    expect(all.subarray(V * C).every((v) => v === 7), 'nothing written past the table').toBe(true);
    ctx.release(tIds, tDout, storage);
    done();
  });

  it('is bit-for-bit reproducible and leaves rows of unused ids untouched', async () => {
    const ctx = gpu();
    const [T, V, C] = [257, 40, 9];
    const r = rng(9);
    const ids = randomIds(T, 20, r); // ids 20..39 never occur
    const dout = uniform(T * C, r, -100, 100);
    const tIds = ctx.upload(ids, [T]);
    const tDout = ctx.upload(dout, [T, C]);
    const runs: Float32Array[] = [];
    for (let k = 0; k < 2; k++) {
      const tD = ctx.empty([V, C]);
      ctx.fill(tD, 0.5);
      embeddingBackward(ctx, tIds, tDout, tD);
      runs.push(await ctx.readF32(tD));
      ctx.release(tD);
    }
    expect(Buffer.from(runs[0].buffer).equals(Buffer.from(runs[1].buffer))).toBe(true);
    expect(runs[0].subarray(20 * C).every((v) => v === 0.5)).toBe(true);
    ctx.release(tIds, tDout);
  });
});

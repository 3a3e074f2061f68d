import { describe, expect, it } from 'vitest';
import { adaptedLinear, type Slots } from '../../src/autograd/adapterOps';
import { Parameter, Tape } from '../../src/autograd/tape';
import { ShapeError } from '../../src/gpu/errors';
import { dropout } from '../../src/kernels/dropout';
import { dropoutMaskRef, dropoutRef } from '../../src/reference/dropout';
import { matmulRef } from '../../src/reference/matmul';
import { rng, uniform } from '../../src/util/random';
import { expectClose, expectGradientMatchesFiniteDifference, f64 } from '../helpers/compare';
import { useGpu } from '../helpers/gpu';

const gpu = useGpu();

describe('dropout kernel', () => {
  it.each([
    [1, 0.1, 3],
    [7, 0.5, 4],
    [257, 0.1, 123456789],
    [70_001, 0.3, 2 ** 32 - 1],
  ])('n=%i p=%f seed=%i: same mask and values as the float64 reference', async (n, p, seed) => {
    const ctx = gpu();
    const live = ctx.poolStats().live;
    const x = uniform(n, rng(n), 0.5, 2); // never 0, so a zero output means dropped
    const tx = ctx.upload(x, [n]);
    const out = ctx.empty([n]);
    ctx.fill(out, NaN);
    dropout(ctx, tx, p, seed, out);
    const got = await ctx.readF32(out);
    const keep = dropoutMaskRef(n, p, seed);
    for (let i = 0; i < n; i++) expect(got[i] !== 0, `element ${i} kept`).toBe(keep[i] === 1);
    expectClose(got, dropoutRef(x, p, seed), 'dropout', 1e-6);
    ctx.release(tx, out);
    expect(ctx.poolStats().live).toBe(live);
  });

  it('keeps 1 - p of the elements, a new mask per seed, the same mask for the same seed', async () => {
    const ctx = gpu();
    const n = 200_000;
    const tx = ctx.upload(new Float32Array(n).fill(1), [n]);
    for (const p of [0.05, 0.1, 0.5]) {
      const a = await ctx.readF32(dropout(ctx, tx, p, 11));
      const b = await ctx.readF32(dropout(ctx, tx, p, 12));
      const again = await ctx.readF32(dropout(ctx, tx, p, 11));
      const kept = a.reduce((k, v) => k + (v !== 0 ? 1 : 0), 0) / n;
      // Binomial standard deviation is at most 0.0011 here; 0.005 is over 4 sigma.
      expect(Math.abs(kept - (1 - p)), `kept fraction at p=${p}`).toBeLessThan(0.005);
      expect(a.every((v) => v === 0 || Math.abs(v - 1 / (1 - p)) < 1e-6)).toBe(true);
      let differ = 0;
      for (let i = 0; i < n; i++) if ((a[i] === 0) !== (b[i] === 0)) differ++;
      // Independent masks disagree on 2p(1-p) of the elements.
      expect(differ / n).toBeGreaterThan(2 * p * (1 - p) - 0.01);
      expect(Array.from(again)).toEqual(Array.from(a));
    }
    const identity = await ctx.readF32(dropout(ctx, tx, 0, 5));
    expect(identity.every((v) => v === 1)).toBe(true);
  });

  it('refuses a rate outside [0, 1) and a seed that is not a u32', () => {
    const ctx = gpu();
    const tx = ctx.upload(new Float32Array(4), [4]);
    expect(() => dropout(ctx, tx, 1, 0)).toThrow(ShapeError);
    expect(() => dropout(ctx, tx, -0.1, 0)).toThrow(/\[0, 1\)/);
    expect(() => dropout(ctx, tx, 0.1, -1)).toThrow(/seed/);
    expect(() => dropout(ctx, tx, 0.1, 2 ** 32)).toThrow(/seed/);
    ctx.release(tx);
  });
});

// The same checks through both paths of the adapter pool's op: the fused kernels of a pool
// of one, and the multi-adapter kernels (one adapter chosen per token).
describe.each([
  ['fused pool of one', { kind: 'all' } as Slots],
  ['multi-adapter kernels', { kind: 'perToken', adapterOfToken: new Uint32Array(13) } as Slots],
])('LoRA dropout (%s)', (_path, slots) => {
  // y = x W + b + scale * (d(x) A^T) B^T on awkward sizes; loss = sum(y * G).
  const [M, K, N, R, scale, rate] = [13, 9, 11, 3, 2, 0.25];
  const r = rng(5);
  const init = { x: uniform(M * K, r), W: uniform(K * N, r), b: uniform(N, r), A: uniform(R * K, r), B: uniform(N * R, r) };
  const G = uniform(M * N, r);
  const shapes = { x: [M, K], W: [K, N], b: [N], A: [R, K], B: [N, R] };
  type Name = keyof typeof init;

  function lossRef(w: Record<Name, Float64Array>, seed: number | null): number {
    const xd = seed === null ? w.x : dropoutRef(w.x, rate, seed);
    const y = matmulRef(w.x, [M, K], w.W, [K, N]);
    const xa = matmulRef(xd, [M, K], w.A, [R, K], { transB: true });
    const low = matmulRef(xa, [M, R], w.B, [N, R], { transB: true });
    let loss = 0;
    for (let i = 0; i < M * N; i++) loss += (y[i] + w.b[i % N] + scale * low[i]) * G[i];
    return loss;
  }

  function run(ctx: ReturnType<typeof gpu>, tapeSeed: number | undefined) {
    const p = Object.fromEntries(Object.entries(init).map(([n, v]) => [n, new Parameter(ctx.upload(v, shapes[n as Name]), n)])) as Record<Name, Parameter>;
    const tape = new Tape(ctx, tapeSeed === undefined ? {} : { seed: tapeSeed });
    const pool = { pairs: [[{ A: p.A, B: p.B, column: 0 }]], scale, dropout: rate };
    const y = adaptedLinear(tape, p.x, p.W, p.b, pool, slots);
    y.grad = ctx.upload(G, [M, N]);
    tape.backward();
    return { p, y, tape };
  }

  it('is the identity on a tape without a seed (evaluation)', async () => {
    const ctx = gpu();
    const { y, tape } = run(ctx, undefined);
    expectClose(await ctx.readF32(y.value), (() => {
      const w = f64(init.x);
      const out = matmulRef(w, [M, K], f64(init.W), [K, N]);
      const low = matmulRef(matmulRef(w, [M, K], f64(init.A), [R, K], { transB: true }), [M, R], f64(init.B), [N, R], { transB: true });
      return out.map((v, i) => v + init.b[i % N] + scale * low[i]);
    })(), 'y without dropout', 1e-5);
    tape.dispose();
  });

  it('drops the branch input on training tapes, with finite-difference gradients for x, A and B', async () => {
    const ctx = gpu();
    const tapeSeed = 99;
    const seed = new Tape(ctx, { seed: tapeSeed }).nextSeed()!; // the seed the op draws first
    const { p, y, tape } = run(ctx, tapeSeed);
    const w = Object.fromEntries(Object.entries(init).map(([n, v]) => [n, f64(v)])) as Record<Name, Float64Array>;
    const yRef = (() => {
      const xd = dropoutRef(w.x, rate, seed);
      const out = matmulRef(w.x, [M, K], w.W, [K, N]);
      const low = matmulRef(matmulRef(xd, [M, K], w.A, [R, K], { transB: true }), [M, R], w.B, [N, R], { transB: true });
      return out.map((v, i) => v + w.b[i % N] + scale * low[i]);
    })();
    expectClose(await ctx.readF32(y.value), yRef, 'y with dropout', 1e-5);
    // Dropout really changed something: the evaluation output differs.
    expect(Math.abs(lossRef(w, seed) - lossRef(w, null))).toBeGreaterThan(1e-3);
    for (const n of ['x', 'A', 'B', 'W', 'b'] as Name[]) {
      const g = await ctx.readF32(p[n].grad!);
      const at = (v: Float64Array) => lossRef({ ...w, [n]: v }, seed);
      expectGradientMatchesFiniteDifference(at, Float64Array.from(w[n]), g, `d loss / d ${n}`, { eps: 1e-4, rtol: 1e-4 });
    }
    tape.dispose();
  });

  it('draws a different mask for each op and each training tape seed', () => {
    const ctx = gpu();
    const t = new Tape(ctx, { seed: 1 });
    const seeds = [t.nextSeed(), t.nextSeed(), new Tape(ctx, { seed: 2 }).nextSeed()];
    expect(new Set(seeds).size).toBe(3);
    expect(new Tape(ctx, { seed: 1 }).nextSeed()).toBe(seeds[0]);
    expect(new Tape(ctx).nextSeed()).toBeNull();
  });
});

import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/gpu/errors';
import { gatedCombine, gatedCombineBackward, topkRoute, topkRouteBackward } from '../../src/kernels/topkRouting';
import {
  gatedCombineBackwardRef,
  gatedCombineRef,
  topkRouteBackwardRef,
  topkRouteRef,
} from '../../src/reference/topkRouting';
import { normal, rng, uniform } from '../../src/util/random';
import { expectClose, expectGradientMatchesFiniteDifference, f64 } from '../helpers/compare';
import { useGpu } from '../helpers/gpu';

const gpu = useGpu();

/** Rows of E well-separated logits (a shuffled ramp plus small noise) so that tiny
 * perturbations never change which experts are chosen. */
function separatedLogits(T: number, E: number, seed: number): Float64Array {
  const r = rng(seed);
  const out = new Float64Array(T * E);
  for (let t = 0; t < T; t++) {
    const perm = [...Array(E).keys()];
    for (let i = E - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [perm[i], perm[j]] = [perm[j], perm[i]];
    }
    for (let e = 0; e < E; e++) out[t * E + e] = 0.3 * perm[e] - 1 + 0.05 * r();
  }
  return out;
}

async function route(T: number, E: number, k: number, logits: Float32Array) {
  const ctx = gpu();
  const tl = ctx.upload(logits, [T, E]);
  const out = {
    probs: ctx.empty([T, E]),
    indices: ctx.empty([T, k], 'u32'),
    gates: ctx.empty([T, k]),
  };
  ctx.fill(out.probs, NaN);
  ctx.fill(out.indices, 0xdeadbeef);
  ctx.fill(out.gates, NaN);
  const res = topkRoute(ctx, tl, k, out);
  expect(res.probs).toBe(out.probs);
  const got = {
    probs: await ctx.readF32(res.probs),
    indices: (await ctx.read(res.indices)) as Uint32Array,
    gates: await ctx.readF32(res.gates),
  };
  ctx.release(tl, res.probs, res.indices, res.gates);
  return got;
}

describe('topkRoute (softmax, top-k, renormalised gates)', () => {
  it.each([
    [1, 1, 1],
    [7, 5, 2],
    [33, 64, 4],
    [130, 9, 9],
    [65, 33, 1],
    [5, 100, 7],
  ])('matches the float64 reference for T=%i E=%i k=%i', async (T, E, k) => {
    const logits = normal(T * E, rng(T * 1000 + E), 2);
    const got = await route(T, E, k, logits);
    const want = topkRouteRef(logits, T, E, k);
    expect(Array.from(got.indices)).toEqual(Array.from(want.indices));
    expectClose(got.probs, want.probs, `probs T=${T} E=${E}`);
    expectClose(got.gates, want.gates, `gates T=${T} E=${E} k=${k}`);
    if (k === E) {
      for (let t = 0; t < T; t++) {
        const row = Array.from(got.indices.subarray(t * k, t * k + k)).sort((a, b) => a - b);
        expect(row).toEqual([...Array(E).keys()]);
      }
    }
  });

  it('breaks ties towards the lower index and sorts by descending probability', async () => {
    const T = 33;
    const E = 11;
    const k = 5;
    // Logits drawn from {0, 1, 2}: most rows have many equal values.
    const r = rng(7);
    const logits = Float32Array.from({ length: T * E }, () => Math.floor(r() * 3));
    const got = await route(T, E, k, logits);
    const want = topkRouteRef(logits, T, E, k);
    expect(Array.from(got.indices)).toEqual(Array.from(want.indices));
    expectClose(got.gates, want.gates, 'tied gates');
    // A row that is entirely tied picks 0..k-1 with equal gates.
    const flat = await route(1, E, k, new Float32Array(E).fill(0.5));
    expect(Array.from(flat.indices)).toEqual([0, 1, 2, 3, 4]);
    expectClose(flat.gates, new Float64Array(k).fill(1 / k), 'flat row gates');
    for (let t = 0; t < T; t++) {
      for (let j = 1; j < k; j++) {
        const a = logits[t * E + got.indices[t * k + j - 1]];
        const b = logits[t * E + got.indices[t * k + j]];
        expect(a > b || (a === b && got.indices[t * k + j - 1] < got.indices[t * k + j])).toBe(true);
      }
    }
  });

  it('rejects k outside 1..E, wrong dtypes and ranks', () => {
    const ctx = gpu();
    const logits = ctx.empty([4, 6]);
    const ints = ctx.empty([4, 6], 'u32');
    const flat = ctx.empty([24]);
    expect(() => topkRoute(ctx, logits, 0)).toThrow(/k must be an integer in 1..E \(E = 6\), got 0/);
    expect(() => topkRoute(ctx, logits, 7)).toThrow(ShapeError);
    expect(() => topkRoute(ctx, logits, 1.5)).toThrow(ShapeError);
    expect(() => topkRoute(ctx, logits, NaN)).toThrow(ShapeError);
    expect(() => topkRoute(ctx, ints, 2)).toThrow(/logits is u32, expected f32/);
    expect(() => topkRoute(ctx, flat, 2)).toThrow(/expected rank 2/);
    expect(() => topkRoute(ctx, logits, 2, { gates: ctx.empty([4, 3]) })).toThrow(/gates has shape \[4, 3\]/);
    expect(() => topkRoute(ctx, logits, 2, { indices: ctx.empty([4, 2]) })).toThrow(/indices is f32, expected u32/);
    expect(() => topkRoute(ctx, logits, 6, { probs: logits })).toThrow(/probs may not share a buffer with logits/);
    ctx.release(logits, ints, flat);
  });
});

describe('topkRouteBackward', () => {
  it.each([
    [1, 1, 1, false],
    [7, 5, 2, true],
    [33, 64, 4, false],
    [33, 64, 4, true],
    [130, 9, 9, true],
    [65, 33, 1, false],
  ])('reference passes finite differences; GPU matches it (T=%i E=%i k=%i dprobs=%s)', async (T, E, k, withProbs) => {
    const ctx = gpu();
    const logits = separatedLogits(T, E, T + E + k);
    const r = rng(99 + T);
    const c = f64(uniform(T * k, r));
    const cp = f64(uniform(T * E, r));
    const fwd = topkRouteRef(logits, T, E, k);
    const dprobs = withProbs ? cp : undefined;
    const want = topkRouteBackwardRef(fwd.probs, fwd.indices, fwd.gates, c, T, E, k, dprobs);

    // L = <c, gates> (+ <cp, probs>): its gradient is what the backward computes.
    const loss = (l: Float64Array) => {
      const f = topkRouteRef(l, T, E, k);
      for (let i = 0; i < fwd.indices.length; i++) expect(f.indices[i]).toBe(fwd.indices[i]);
      let s = 0;
      for (let i = 0; i < c.length; i++) s += c[i] * f.gates[i];
      if (withProbs) for (let i = 0; i < cp.length; i++) s += cp[i] * f.probs[i];
      return s;
    };
    expectGradientMatchesFiniteDifference(loss, Float64Array.from(logits), want, `dlogits T=${T} E=${E} k=${k}`);

    const tl = ctx.upload(Float32Array.from(logits), [T, E]);
    const routed = topkRoute(ctx, tl, k);
    const dg = ctx.upload(Float32Array.from(c), [T, k]);
    const dp = ctx.upload(Float32Array.from(cp), [T, E]);
    const out = ctx.empty([T, E]);
    ctx.fill(out, NaN);
    topkRouteBackward(ctx, routed.probs, routed.indices, routed.gates, dg, { dprobs: withProbs ? dp : undefined, out });
    // The reference backward evaluated on the GPU's own forward (fp32 probs and gates).
    const gotFwd = {
      probs: f64(await ctx.readF32(routed.probs)),
      indices: (await ctx.read(routed.indices)) as Uint32Array,
      gates: f64(await ctx.readF32(routed.gates)),
    };
    const wantFromGpu = topkRouteBackwardRef(gotFwd.probs, gotFwd.indices, gotFwd.gates, c, T, E, k, dprobs);
    const got = await ctx.readF32(out);
    expectClose(got, wantFromGpu, `GPU dlogits T=${T} E=${E} k=${k}`);
    expectClose(got, want, `GPU dlogits vs float64 chain T=${T} E=${E} k=${k}`);
    ctx.release(tl, routed.probs, routed.indices, routed.gates, dg, dp, out);
  });

  it('gives zero gradient to experts that were not chosen, and skips empty slots', async () => {
    const ctx = gpu();
    const T = 3;
    const E = 6;
    const k = 2;
    const indices = ctx.upload(Uint32Array.from([4, 1, 0, 0xffffffff, 5, 2]), [T, k]);
    const gates = ctx.upload(Float32Array.from([0.7, 0.3, 1, 0, 0.5, 0.5]), [T, k]);
    const dg = ctx.upload(Float32Array.from([1, -2, 3, 4, 0.5, -0.5]), [T, k]);
    const probs = ctx.empty([T, E]);
    const out = ctx.empty([T, E]);
    ctx.fill(out, NaN);
    const got = await ctx.readF32(topkRouteBackward(ctx, probs, indices, gates, dg, { out }));
    const want = topkRouteBackwardRef(
      new Float64Array(T * E),
      [4, 1, 0, 0xffffffff, 5, 2],
      f64([0.7, 0.3, 1, 0, 0.5, 0.5]),
      f64([1, -2, 3, 4, 0.5, -0.5]),
      T,
      E,
      k,
    );
    expectClose(got, want, 'sparse dlogits');
    for (const i of [0, 2, 3, 5, 7, 8, 9, 10, 11, 12, 13, 15, 16]) expect(got[i]).toBe(0);
    expect(got[4]).not.toBe(0);
    expect(got[17]).not.toBe(0);
    ctx.release(indices, gates, dg, probs, out);
  });

  it('rejects mismatched shapes and dtypes', () => {
    const ctx = gpu();
    const probs = ctx.empty([4, 6]);
    const idx = ctx.empty([4, 2], 'u32');
    const g = ctx.empty([4, 2]);
    const bad = ctx.empty([4, 3]);
    const idxF = ctx.empty([4, 2]);
    const idxWide = ctx.empty([4, 7], 'u32');
    expect(() => topkRouteBackward(ctx, probs, idx, g, bad)).toThrow(/dgates has shape \[4, 3\], expected \[4, 2\]/);
    expect(() => topkRouteBackward(ctx, probs, idxF, g, g)).toThrow(/indices is f32, expected u32/);
    expect(() => topkRouteBackward(ctx, probs, idxWide, g, g)).toThrow(/k must be an integer in 1..E/);
    expect(() => topkRouteBackward(ctx, probs, idx, g, g, { dprobs: bad })).toThrow(/dprobs has shape/);
    expect(() => topkRouteBackward(ctx, probs, idx, g, g, { out: probs, dprobs: probs })).toThrow(/may not share a buffer/);
    ctx.release(probs, idx, g, bad, idxF, idxWide);
  });
});

describe('gatedCombine', () => {
  it.each([
    [1, 1, 1],
    [7, 3, 33],
    [65, 4, 130],
    [33, 7, 5],
  ])('forward and backward match float64 (T=%i k=%i D=%i)', async (T, k, D) => {
    const ctx = gpu();
    const r = rng(T * 31 + k * 7 + D);
    const eo = uniform(T * k * D, r);
    const g = uniform(T * k, r, 0, 1);
    const dy = uniform(T * D, r);
    const te = ctx.upload(eo, [T, k, D]);
    const tg = ctx.upload(g, [T, k]);
    const tdy = ctx.upload(dy, [T, D]);
    const y = ctx.empty([T, D]);
    const dE = ctx.empty([T, k, D]);
    const dG = ctx.empty([T, k]);
    for (const t of [y, dE, dG]) ctx.fill(t, NaN);
    gatedCombine(ctx, te, tg, y);
    gatedCombineBackward(ctx, te, tg, tdy, { dExpertOut: dE, dGates: dG });
    expectClose(await ctx.readF32(y), gatedCombineRef(f64(eo), f64(g), T, k, D), 'y');
    const want = gatedCombineBackwardRef(f64(eo), f64(g), f64(dy), T, k, D);
    expectClose(await ctx.readF32(dE), want.dExpertOut, 'dExpertOut');
    expectClose(await ctx.readF32(dG), want.dGates, 'dGates');
    ctx.release(te, tg, tdy, y, dE, dG);
  });

  it('reference backward passes finite differences', () => {
    const T = 5;
    const k = 3;
    const D = 7;
    const r = rng(5);
    const eo = f64(uniform(T * k * D, r));
    const g = f64(uniform(T * k, r));
    const c = f64(uniform(T * D, r));
    const dot = (y: Float64Array) => y.reduce((s, v, i) => s + v * c[i], 0);
    const { dExpertOut, dGates } = gatedCombineBackwardRef(eo, g, c, T, k, D);
    expectGradientMatchesFiniteDifference((e) => dot(gatedCombineRef(e, g, T, k, D)), eo, dExpertOut, 'dExpertOut');
    expectGradientMatchesFiniteDifference((gg) => dot(gatedCombineRef(eo, gg, T, k, D)), g, dGates, 'dGates');
  });

  it('rejects mismatched shapes', () => {
    const ctx = gpu();
    const eo = ctx.empty([4, 2, 5]);
    const g = ctx.empty([4, 3]);
    const g2 = ctx.empty([4, 2]);
    const dy = ctx.empty([4, 4]);
    const flat = ctx.empty([40]);
    expect(() => gatedCombine(ctx, eo, g)).toThrow(/gates has shape \[4, 3\], expected \[4, 2\]/);
    expect(() => gatedCombine(ctx, flat, g2)).toThrow(/expected rank 3/);
    expect(() => gatedCombineBackward(ctx, eo, g2, dy)).toThrow(/dy has shape \[4, 4\], expected \[4, 5\]/);
    expect(() => gatedCombine(ctx, eo, g2, dy)).toThrow(/out has shape/);
    ctx.release(eo, g, g2, dy, flat);
  });
});

describe('routing leaks nothing', () => {
  it('releases every temporary', async () => {
    const ctx = gpu();
    const before = ctx.poolStats().live;
    const tl = ctx.upload(normal(20 * 8, rng(3)), [20, 8]);
    const routed = topkRoute(ctx, tl, 3);
    const dg = ctx.upload(uniform(60, rng(4)), [20, 3]);
    const dl = topkRouteBackward(ctx, routed.probs, routed.indices, routed.gates, dg);
    await ctx.sync();
    ctx.release(tl, routed.probs, routed.indices, routed.gates, dg, dl);
    expect(ctx.poolStats().live).toBe(before);
  });
});

import { afterAll, describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/gpu/errors';
import { appendKv, attentionDecode, DECODE_MAX_HEAD_DIM } from '../../src/kernels/attentionDecode';
import { selectTokens } from '../../src/kernels/selectTokens';
import { attentionForwardRef } from '../../src/reference/attention';
import { splitQkvRef } from '../../src/reference/heads';
import { rng, uniform } from '../../src/util/random';
import { expectClose } from '../helpers/compare';
import { useGpu } from '../helpers/gpu';

const gpu = useGpu();

// Registered after useGpu's teardown, so it runs first: every tensor made here was released.
afterAll(() => {
  expect(gpu().poolStats().live, 'tensors left allocated by this file').toBe(0);
});

const POISON_U32 = 0xffffffff;

/**
 * One decoding call checked against full causal attention: a random qkv for T tokens per
 * row; row b's cache holds times 0..pos[b]-1 (the rest NaN), the call appends tokens
 * pos[b]..pos[b]+S-1 and must reproduce those rows of the float64 reference.
 */
async function checkDecode(B: number, H: number, T: number, D: number, S: number, Tmax: number, amplitude = 1) {
  const ctx = gpu();
  const C = H * D;
  const r = rng(B * 31 + H * 7 + T * 3 + D + S * 101 + Tmax);
  const qkv = uniform(B * T * 3 * C, r, -amplitude, amplitude);
  const { q, k, v } = splitQkvRef(qkv, B, T, H, D);
  const want = attentionForwardRef(q, k, v, B, H, T, D).out;
  // Rows start at different times: the last row ends at T, the first starts at 0.
  const pos = Array.from({ length: B }, (_, b) => (b === 0 ? 0 : b === B - 1 ? T - S : Math.floor(r() * (T - S + 1))));

  const cacheK = new Float32Array(B * H * Tmax * D).fill(NaN);
  const cacheV = new Float32Array(B * H * Tmax * D).fill(NaN);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let t = 0; t < pos[b]; t++) {
        for (let d = 0; d < D; d++) {
          cacheK[((b * H + h) * Tmax + t) * D + d] = k[((b * H + h) * T + t) * D + d];
          cacheV[((b * H + h) * Tmax + t) * D + d] = v[((b * H + h) * T + t) * D + d];
        }
      }
    }
  }
  const fresh = new Float32Array(B * S * 3 * C);
  for (let b = 0; b < B; b++) fresh.set(qkv.subarray((b * T + pos[b]) * 3 * C, (b * T + pos[b] + S) * 3 * C), b * S * 3 * C);

  const tk = ctx.upload(cacheK, [B, H, Tmax, D]);
  const tv = ctx.upload(cacheV, [B, H, Tmax, D]);
  const tpos = ctx.upload(Uint32Array.from(pos), [B], 'u32');
  const tqkv = ctx.upload(fresh, [B * S, 3 * C]);
  const tq = ctx.empty([B, H, S, D]);
  ctx.fill(tq, NaN);
  const out = ctx.empty([B, S, C]);
  ctx.fill(out, NaN);
  appendKv(ctx, tqkv, tk, tv, tpos, S, { q: tq });
  attentionDecode(ctx, tq, tk, tv, tpos, { out });

  const wantOut = new Float64Array(B * S * C);
  const wantQ = new Float64Array(B * H * S * D);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let s = 0; s < S; s++) {
        for (let d = 0; d < D; d++) {
          const src = ((b * H + h) * T + pos[b] + s) * D + d;
          wantOut[((b * S + s) * H + h) * D + d] = want[src];
          wantQ[((b * H + h) * S + s) * D + d] = q[src];
        }
      }
    }
  }
  const label = `B=${B} H=${H} T=${T} D=${D} S=${S} Tmax=${Tmax}`;
  expectClose(await ctx.readF32(out), wantOut, `out ${label}`);
  expect(Array.from(await ctx.readF32(tq)), `q ${label}`).toEqual(Array.from(wantQ));
  // The cache now holds exactly times < pos[b] + S; later times were never touched.
  const gotK = await ctx.readF32(tk);
  const gotV = await ctx.readF32(tv);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let t = 0; t < Tmax; t++) {
        for (let d = 0; d < D; d++) {
          const i = ((b * H + h) * Tmax + t) * D + d;
          if (t < pos[b] + S) {
            const j = ((b * H + h) * T + t) * D + d;
            expect(gotK[i], `kCache ${label} [${b},${h},${t},${d}]`).toBe(k[j]);
            expect(gotV[i], `vCache ${label} [${b},${h},${t},${d}]`).toBe(v[j]);
          } else {
            expect(gotK[i], `kCache ${label} [${b},${h},${t},${d}] written`).toBeNaN();
            expect(gotV[i], `vCache ${label} [${b},${h},${t},${d}] written`).toBeNaN();
          }
        }
      }
    }
  }
  ctx.release(tk, tv, tpos, tqkv, tq, out);
}

describe('appendKv + attentionDecode', () => {
  // [B, H, T, D, S, Tmax]: awkward sizes, single-token steps and multi-token (prefill-like)
  // calls, caches larger than needed, D not a multiple of 4, the largest supported D.
  it.each([
    [1, 1, 1, 1, 1, 1],
    [2, 3, 7, 5, 1, 9],
    [3, 2, 33, 7, 3, 40],
    [1, 2, 65, 16, 1, 65],
    [2, 1, 130, 6, 7, 131],
    [2, 2, 19, 64, 19, 19],
    [1, 1, 9, DECODE_MAX_HEAD_DIM, 2, 11],
  ])('matches rows of the float64 causal attention for B=%i H=%i T=%i D=%i S=%i Tmax=%i', async (B, H, T, D, S, Tmax) => {
    await checkDecode(B, H, T, D, S, Tmax);
  });

  it('stays accurate when large scores force the running maximum to be rescaled', async () => {
    await checkDecode(2, 2, 33, 8, 2, 34, 4);
  });

  it('prefill then one token per call reproduces full causal attention at every time', async () => {
    const ctx = gpu();
    const [B, H, T, D, P] = [2, 2, 11, 3, 4];
    const C = H * D;
    const r = rng(77);
    const qkv = uniform(B * T * 3 * C, r);
    const { q, k, v } = splitQkvRef(qkv, B, T, H, D);
    const want = attentionForwardRef(q, k, v, B, H, T, D).out;
    const tk = ctx.empty([B, H, T, D]);
    const tv = ctx.empty([B, H, T, D]);
    ctx.fill(tk, NaN);
    ctx.fill(tv, NaN);
    const step = async (start: number, S: number) => {
      const fresh = new Float32Array(B * S * 3 * C);
      for (let b = 0; b < B; b++) fresh.set(qkv.subarray((b * T + start) * 3 * C, (b * T + start + S) * 3 * C), b * S * 3 * C);
      const tqkv = ctx.upload(fresh, [B, S, 3 * C]);
      const tpos = ctx.upload(new Uint32Array(B).fill(start), [B], 'u32');
      const tq = appendKv(ctx, tqkv, tk, tv, tpos, S);
      const out = attentionDecode(ctx, tq, tk, tv, tpos);
      const wantOut = new Float64Array(B * S * C);
      for (let b = 0; b < B; b++)
        for (let s = 0; s < S; s++)
          for (let h = 0; h < H; h++)
            for (let d = 0; d < D; d++) wantOut[((b * S + s) * H + h) * D + d] = want[((b * H + h) * T + start + s) * D + d];
      expectClose(await ctx.readF32(out), wantOut, `times ${start}..${start + S - 1}`);
      ctx.release(tqkv, tpos, tq, out);
    };
    await step(0, P);
    for (let t = P; t < T; t++) await step(t, 1);
    ctx.release(tk, tv);
  });

  it('never writes past the cache capacity (into the next head) when pos runs over', async () => {
    const ctx = gpu();
    const [B, H, Tmax, D, S] = [1, 2, 3, 4, 2];
    const tk = ctx.upload(new Float32Array(B * H * Tmax * D).fill(-7), [B, H, Tmax, D]);
    const tv = ctx.upload(new Float32Array(B * H * Tmax * D).fill(-7), [B, H, Tmax, D]);
    const tpos = ctx.upload(Uint32Array.of(Tmax - 1), [B], 'u32');
    const tqkv = ctx.upload(new Float32Array(B * S * 3 * H * D).fill(1), [B * S, 3 * H * D]);
    const tq = appendKv(ctx, tqkv, tk, tv, tpos, S);
    const gotK = await ctx.readF32(tk);
    // Head 0: only its last time was written; head 1's first time is intact.
    expect(gotK[(Tmax - 1) * D]).toBe(1);
    expect(gotK[Tmax * D]).toBe(-7);
    ctx.release(tk, tv, tpos, tqkv, tq);
  });

  it('rejects bad arguments with a ShapeError before dispatching', () => {
    const ctx = gpu();
    const [B, H, Tmax, D, S] = [2, 2, 5, 4, 1];
    const kc = ctx.empty([B, H, Tmax, D]);
    const vc = ctx.empty([B, H, Tmax, D]);
    const pos = ctx.zeros([B], 'u32');
    const qkv = ctx.empty([B * S, 3 * H * D]);
    const q = ctx.empty([B, H, S, D]);
    const posF = ctx.empty([B]);
    const vcBad = ctx.empty([B, H, Tmax + 1, D]);
    const huge = ctx.empty([1, 1, 1, DECODE_MAX_HEAD_DIM + 1]);
    const huge2 = ctx.empty([1, 1, 1, DECODE_MAX_HEAD_DIM + 1]);
    const qkvBad = ctx.empty([B * S, 3 * H * D + 1]);
    const cases: Array<[() => unknown, RegExp]> = [
      [() => appendKv(ctx, qkv, kc, vc, posF, S), /appendKv: pos is f32, expected u32/],
      [() => appendKv(ctx, qkv, kc, vcBad, pos, S), /appendKv: vCache has shape \[2, 2, 6, 4\], expected \[2, 2, 5, 4\]/],
      [() => appendKv(ctx, qkvBad, kc, vc, pos, S), /appendKv: qkv has shape \[2, 25\]/],
      [() => appendKv(ctx, qkv, kc, vc, pos, 0), /appendKv: S must be a positive integer/],
      [() => appendKv(ctx, qkv, kc, vc, pos, Tmax + 1), /do not fit a cache of 5 times/],
      [() => appendKv(ctx, qkv, kc, kc, pos, S), /kCache may not share a buffer with vCache/],
      [() => appendKv(ctx, qkv, kc, vc, pos, S, { q: kc }), /appendKv: q has shape/],
      [() => attentionDecode(ctx, huge, huge, huge2, pos), /attentionDecode: head size D=129 is over the maximum of 128/],
      [() => attentionDecode(ctx, q, kc, vc, posF), /attentionDecode: pos is f32, expected u32/],
      [() => attentionDecode(ctx, qkv, kc, vc, pos), /attentionDecode: q has shape \[2, 24\], expected rank 4/],
      [() => attentionDecode(ctx, q, kc, vc, pos, { scale: NaN }), /attentionDecode: scale must be finite/],
      [() => attentionDecode(ctx, q, kc, vc, pos, { out: q }), /attentionDecode: out has shape \[2, 2, 1, 4\], expected \[2, 1, 8\]/],
    ];
    for (const [f, message] of cases) {
      expect(f).toThrow(ShapeError);
      expect(f).toThrow(message);
    }
    ctx.release(kc, vc, pos, qkv, q, posF, vcBad, huge, huge2, qkvBad);
  });
});

/** Float64 inverse-CDF draw from softmax(row / temperature) at u (the sampling reference). */
function sampleRef(row: ArrayLike<number>, temperature: number, u: number): number {
  let m = -Infinity;
  for (let v = 0; v < row.length; v++) m = Math.max(m, row[v]);
  const w = Array.from(row, (l) => Math.exp((l - m) / temperature));
  const total = w.reduce((a, b) => a + b, 0);
  let cum = 0;
  for (let v = 0; v < w.length; v++) {
    cum += w[v];
    if (cum > u * total) return v;
  }
  return w.length - 1;
}

function argmaxRef(row: ArrayLike<number>): number {
  let best = 0;
  for (let v = 1; v < row.length; v++) if (row[v] > row[best]) best = v;
  return best;
}

describe('selectTokens', () => {
  it.each([
    [1, 1],
    [7, 13],
    [70, 130],
    [3, 1000],
  ])('greedy picks the first largest logit for B=%i V=%i', async (B, V) => {
    const ctx = gpu();
    const r = rng(B * 1000 + V);
    const logits = uniform(B * V, r, -3, 3);
    // Ties: the earlier index must win.
    if (V > 2) for (let b = 0; b < B; b += 2) logits[b * V + V - 1] = logits[b * V + 1] = 5;
    const t = ctx.upload(logits, [B, V]);
    const out = ctx.empty([B], 'u32');
    ctx.fill(out, POISON_U32);
    selectTokens(ctx, t, { out });
    const want = Array.from({ length: B }, (_, b) => argmaxRef(logits.subarray(b * V, (b + 1) * V)));
    expect(Array.from(await ctx.read(out))).toEqual(want);
    ctx.release(t, out);
  });

  it.each([
    [1, 1, 1],
    [9, 13, 0.5],
    [65, 130, 1],
    [4, 1000, 3],
  ])('samples the float64 inverse-CDF draw for B=%i V=%i temperature=%f', async (B, V, temperature) => {
    const ctx = gpu();
    const r = rng(B * 7 + V);
    const logits = uniform(B * V, r, -4, 4);
    const u = Float32Array.from({ length: B }, () => r());
    // The ends of [0, 1): 0 must pick the first token with weight, nearly 1 the last.
    u[0] = 0;
    if (B > 1) u[B - 1] = 0.99999994;
    const t = ctx.upload(logits, [B, V]);
    const tu = ctx.upload(u, [B]);
    const out = ctx.empty([B], 'u32');
    ctx.fill(out, POISON_U32);
    selectTokens(ctx, t, { temperature, uniforms: tu, out });
    const want = Array.from({ length: B }, (_, b) => sampleRef(logits.subarray(b * V, (b + 1) * V), temperature, u[b]));
    expect(Array.from(await ctx.read(out))).toEqual(want);
    ctx.release(t, tu, out);
  });

  it('draws tokens with the softmax probabilities when the uniforms sweep [0, 1)', async () => {
    const ctx = gpu();
    const [N, V, temperature] = [2000, 6, 0.7];
    const row = [0.3, -1, 2, 0.5, -3, 1.2];
    const logits = new Float32Array(N * V);
    for (let n = 0; n < N; n++) logits.set(row, n * V);
    const u = Float32Array.from({ length: N }, (_, n) => (n + 0.5) / N);
    const t = ctx.upload(logits, [N, V]);
    const tu = ctx.upload(u, [N]);
    const tokens = selectTokens(ctx, t, { temperature, uniforms: tu });
    const got = await ctx.read(tokens);
    const w = row.map((l) => Math.exp(l / temperature));
    const total = w.reduce((a, b) => a + b, 0);
    for (let v = 0; v < V; v++) {
      const count = got.filter((x) => x === v).length;
      expect(Math.abs(count / N - w[v] / total), `frequency of token ${v}`).toBeLessThanOrEqual(1 / N + 1e-6);
    }
    ctx.release(t, tu, tokens);
  });

  it('rejects bad arguments with a ShapeError before dispatching', () => {
    const ctx = gpu();
    const logits = ctx.empty([2, 5]);
    const ids = ctx.empty([2, 5], 'u32');
    const u = ctx.empty([2]);
    const uBad = ctx.empty([3]);
    const outF = ctx.empty([2]);
    const cases: Array<[() => unknown, RegExp]> = [
      [() => selectTokens(ctx, ids), /selectTokens: logits is u32, expected f32/],
      [() => selectTokens(ctx, u), /selectTokens: logits has shape \[2\], expected rank 2/],
      [() => selectTokens(ctx, logits, { temperature: -1, uniforms: u }), /temperature must be >= 0/],
      [() => selectTokens(ctx, logits, { temperature: NaN, uniforms: u }), /temperature must be finite/],
      [() => selectTokens(ctx, logits, { temperature: 1e-45, uniforms: u }), /too small/],
      [() => selectTokens(ctx, logits, { temperature: 1 }), /uniforms \(f32 \[B\]\) are required/],
      [() => selectTokens(ctx, logits, { temperature: 1, uniforms: uBad }), /uniforms has shape \[3\], expected \[2\]/],
      [() => selectTokens(ctx, logits, { out: outF }), /selectTokens: out is f32, expected u32/],
    ];
    for (const [f, message] of cases) {
      expect(f).toThrow(ShapeError);
      expect(f).toThrow(message);
    }
    ctx.release(logits, ids, u, uBad, outF);
  });
});

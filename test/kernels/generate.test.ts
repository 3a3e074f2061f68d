import { afterAll, describe, expect, it } from 'vitest';
import { Tape } from '../../src/autograd/tape';
import { loadGpt2Checkpoint } from '../../src/checkpoint/gpt2Checkpoint';
import { ShapeError } from '../../src/gpu/errors';
import { generate, generateGreedy } from '../../src/model/generate';
import { GptModel } from '../../src/model/gpt';
import { KvCache } from '../../src/model/kvCache';
import { AdapterPool } from '../../src/model/adapterPool';
import { LORA_TARGETS, LoraAdapter } from '../../src/model/lora';
import { gptForwardRef } from '../../src/reference/gpt';
import { normal, rng } from '../../src/util/random';
import { expectClose } from '../helpers/compare';
import { useGpu } from '../helpers/gpu';
import { makeTinyGpt2Checkpoint } from '../helpers/tinyGpt2';

const gpu = useGpu();

afterAll(() => {
  expect(gpu().poolStats().live, 'tensors left allocated by this file').toBe(0);
});

// A tiny GPT-2 in Hugging Face's format, loaded through the real loader; head size 5 (not
// a multiple of 4) exercises the tail lanes of the attention kernels.
const tiny = makeTinyGpt2Checkpoint({ seed: 11, n_layer: 2, n_head: 2, n_embd: 10, vocab_size: 13, n_positions: 16 });
const loaded = loadGpt2Checkpoint(tiny.configJson, tiny.safetensors);
const { config } = loaded;
const weights64 = new Map([...loaded.tensors].map(([n, t]) => [n, Float64Array.from(t)]));
const PAD = 0;
const NEVER = -1; // an end id no token matches
// Different lengths, the longest not first, so right padding and per-row positions matter.
const PROMPTS = [[5, 2, 9], [7], [1, 3, 3, 8, 12, 4]];

/** The model, optionally with a LoRA adapter on every projection whose B is non-zero. */
function makeModel(withLora: boolean) {
  const ctx = gpu();
  const model = GptModel.fromTensors(ctx, config, loaded.tensors);
  let adapter: LoraAdapter | null = null;
  if (withLora) {
    adapter = LoraAdapter.create(ctx, config, { rank: 2, alpha: 4, targets: [...LORA_TARGETS], seed: 3 });
    const r = rng(4);
    for (const pair of adapter.pairs.values()) ctx.write(pair.B.value, normal(pair.B.value.size, r, 0.5));
    model.adapters = new AdapterPool(config, [adapter]);
  }
  return {
    model,
    dispose() {
      model.dispose();
      adapter?.dispose(ctx);
    },
  };
}

/** Float64 greedy continuation of one prompt, re-running the CPU reference per token. */
function greedyRef(prompt: number[], n: number): number[] {
  const seq = [...prompt];
  const V = config.vocab_size;
  for (let i = 0; i < n; i++) {
    const logits = gptForwardRef(config, weights64, seq, 1, seq.length);
    const row = logits.subarray((seq.length - 1) * V, seq.length * V);
    let best = 0;
    for (let v = 1; v < V; v++) if (row[v] > row[best]) best = v;
    seq.push(best);
  }
  return seq.slice(prompt.length);
}

/** Logits [B, V] at each row's last real token, from the uncached forward over padded rows. */
async function uncachedLastLogits(model: GptModel, seqs: number[][]): Promise<Float32Array> {
  const ctx = gpu();
  const B = seqs.length;
  const T = Math.max(...seqs.map((s) => s.length));
  const V = config.vocab_size;
  const ids = new Uint32Array(B * T).fill(PAD);
  seqs.forEach((s, b) => ids.set(s, b * T));
  const tIds = ctx.upload(ids, [B, T], 'u32');
  const tPos = ctx.upload(Uint32Array.from({ length: B * T }, (_, i) => i % T), [B, T], 'u32');
  const tape = new Tape(ctx);
  const all = await ctx.readF32(model.forward(tape, tIds, tPos, B, T).value);
  tape.dispose();
  ctx.release(tIds, tPos);
  const out = new Float32Array(B * V);
  seqs.forEach((s, b) => out.set(all.subarray((b * T + s.length - 1) * V, (b * T + s.length) * V), b * V));
  return out;
}

describe('KV-cache inference (GptModel.forwardCached)', () => {
  it.each([false, true])('gives the uncached forward last-position logits at every step (LoRA: %s)', async (withLora) => {
    const ctx = gpu();
    const live = ctx.poolStats().live;
    const { model, dispose } = makeModel(withLora);
    const B = PROMPTS.length;
    const longest = Math.max(...PROMPTS.map((p) => p.length));
    const steps = 4;
    const cache = KvCache.create(ctx, config, B, longest + steps);
    const seqs = PROMPTS.map((p) => [...p]);
    const ids = new Uint32Array(B * longest).fill(PAD);
    PROMPTS.forEach((p, b) => ids.set(p, b * longest));
    const tIds = ctx.upload(ids, [B, longest], 'u32');
    // The cache's unused times hold NaN, so reading one would show.
    for (const t of [...cache.k, ...cache.v]) ctx.fill(t, NaN);
    let logits = model.forwardCached(
      cache,
      tIds,
      PROMPTS.map((p) => p.length - 1),
    );
    ctx.release(tIds);
    expect(cache.lengths).toEqual(PROMPTS.map((p) => p.length));
    const r = rng(9);
    for (let step = 0; step <= steps; step++) {
      expectClose(await ctx.readF32(logits), await uncachedLastLogits(model, seqs), `logits after ${step} decode steps`);
      ctx.release(logits);
      if (step === steps) break;
      const next = seqs.map(() => Math.floor(r() * config.vocab_size));
      seqs.forEach((s, b) => s.push(next[b]));
      const tNext = ctx.upload(Uint32Array.from(next), [B, 1], 'u32');
      logits = model.forwardCached(cache, tNext);
      ctx.release(tNext);
    }
    expect(cache.lengths).toEqual(seqs.map((s) => s.length));
    cache.dispose();
    dispose();
    expect(ctx.poolStats().live).toBe(live);
  });

  it('refuses a cache over n_positions and tokens past the cache, with clear messages', () => {
    const ctx = gpu();
    const live = ctx.poolStats().live;
    expect(() => KvCache.create(ctx, config, 1, 17)).toThrow(ShapeError);
    expect(() => KvCache.create(ctx, config, 1, 17)).toThrow(/capacity 17 .* exceeds the model's n_positions 16/);
    const { model, dispose } = makeModel(false);
    const cache = KvCache.create(ctx, config, 2, 3);
    const ids = ctx.zeros([2, 4], 'u32');
    expect(() => model.forwardCached(cache, ids)).toThrow(/row 0 holds 0 tokens and cannot take 4 more: the cache was made for 3/);
    expect(() => model.forwardCached(cache, ids, [0, 4])).toThrow(/last must hold 2 token indices in 0..3/);
    const wrongBatch = ctx.zeros([3, 1], 'u32');
    expect(() => model.forwardCached(cache, wrongBatch)).toThrow(/ids has shape \[3, 1\], expected \[2, S\]/);
    ctx.release(ids, wrongBatch);
    cache.dispose();
    dispose();
    expect(ctx.poolStats().live).toBe(live);
  });
});

describe('generate', () => {
  it('greedy with the cache gives exactly the tokens of the uncached path and of the float64 model', async () => {
    const ctx = gpu();
    const live = ctx.poolStats().live;
    const { model, dispose } = makeModel(false);
    const opts = { maxNewTokens: 7, endId: NEVER, padId: PAD };
    const cached = await generate(model, PROMPTS, opts);
    expect(ctx.poolStats().live, 'tensors left by the cached path').toBe(live + model.params.size);
    const uncached = await generate(model, PROMPTS, { ...opts, useCache: false });
    expect(ctx.poolStats().live, 'tensors left by the uncached path').toBe(live + model.params.size);
    expect(cached.map((o) => o.length)).toEqual(PROMPTS.map(() => 7));
    expect(cached).toEqual(uncached);
    expect(cached).toEqual(PROMPTS.map((p) => greedyRef(p, 7)));
    expect(await generateGreedy(model, PROMPTS, opts)).toEqual(cached);
    dispose();
    expect(ctx.poolStats().live).toBe(live);
  });

  it('stops each row after the end token', async () => {
    const { model, dispose } = makeModel(false);
    const full = await generate(model, PROMPTS, { maxNewTokens: 7, endId: NEVER, padId: PAD });
    const endId = full[0][2];
    const want = full.map((o) => (o.includes(endId) ? o.slice(0, o.indexOf(endId) + 1) : o));
    for (const useCache of [true, false]) {
      expect(await generate(model, PROMPTS, { maxNewTokens: 7, endId, padId: PAD, useCache }), `useCache ${useCache}`).toEqual(want);
    }
    dispose();
  });

  it('with a non-zero LoRA adapter, the cached path gives the uncached tokens (and the adapter matters)', async () => {
    const ctx = gpu();
    const live = ctx.poolStats().live;
    const { model, dispose } = makeModel(true);
    const opts = { maxNewTokens: 6, endId: NEVER, padId: PAD };
    const cached = await generate(model, PROMPTS, opts);
    expect(cached).toEqual(await generate(model, PROMPTS, { ...opts, useCache: false }));
    const pool = model.adapters;
    model.adapters = null;
    const base = await generate(model, PROMPTS, opts);
    model.adapters = pool;
    expect(base).not.toEqual(cached);
    dispose();
    expect(ctx.poolStats().live).toBe(live);
  });

  it('temperature sampling is reproducible from the seed, differs for another seed, and matches without the cache', async () => {
    const ctx = gpu();
    const live = ctx.poolStats().live;
    const { model, dispose } = makeModel(true);
    const opts = { maxNewTokens: 8, endId: NEVER, padId: PAD, temperature: 1 };
    const a = await generate(model, PROMPTS, { ...opts, seed: 1 });
    const again = await generate(model, PROMPTS, { ...opts, seed: 1 });
    const other = await generate(model, PROMPTS, { ...opts, seed: 2 });
    const uncached = await generate(model, PROMPTS, { ...opts, seed: 1, useCache: false });
    expect(again).toEqual(a);
    expect(other).not.toEqual(a);
    expect(uncached).toEqual(a);
    // Sampling, not greedy: at temperature 1 on a near-uniform tiny model the rows differ.
    expect(a).not.toEqual(await generate(model, PROMPTS, { ...opts, temperature: 0 }));
    dispose();
    expect(ctx.poolStats().live).toBe(live);
  });

  it('refuses a prompt plus maxNewTokens over n_positions, and bad options, with clear messages', async () => {
    const ctx = gpu();
    const live = ctx.poolStats().live;
    const { model, dispose } = makeModel(false);
    const base = { endId: NEVER, padId: PAD };
    for (const useCache of [true, false]) {
      await expect(generate(model, PROMPTS, { ...base, maxNewTokens: 11, useCache })).rejects.toThrow(
        /longest prompt \(6 tokens\) plus maxNewTokens 11 is 17, over the model's n_positions 16/,
      );
    }
    await expect(generate(model, [[1], []], { ...base, maxNewTokens: 1 })).rejects.toThrow(/prompt 1 is empty/);
    await expect(generate(model, [[1, 13]], { ...base, maxNewTokens: 1 })).rejects.toThrow(/prompt 0 holds 13, not a token id below 13/);
    await expect(generate(model, PROMPTS, { ...base, maxNewTokens: 1, temperature: -1 })).rejects.toThrow(ShapeError);
    await expect(generate(model, PROMPTS, { ...base, maxNewTokens: 1.5 })).rejects.toThrow(/maxNewTokens must be/);
    // Exactly n_positions is allowed.
    const fits = await generate(model, PROMPTS, { ...base, maxNewTokens: 10 });
    expect(fits.map((o) => o.length)).toEqual([10, 10, 10]);
    expect(await generate(model, PROMPTS, { ...base, maxNewTokens: 0 })).toEqual([[], [], []]);
    dispose();
    expect(ctx.poolStats().live).toBe(live);
  });
});

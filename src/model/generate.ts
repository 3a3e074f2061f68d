import { Tape } from '../autograd/tape';
import type { GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import type { GpuTensor } from '../gpu/tensor';
import { selectTokens } from '../kernels/selectTokens';
import { embedding } from '../kernels/embedding';
import { rng } from '../util/random';
import type { GptModel } from './gpt';
import { KvCache } from './kvCache';

export interface GenerateOptions {
  maxNewTokens: number;
  /** Generation of a row stops after this token (it is included in the output). */
  endId: number;
  /** Token used to pad shorter rows of the batch (never attended to by the rows' last token). */
  padId: number;
  /** 0 (the default) decodes greedily; > 0 samples from softmax(logits / temperature). */
  temperature?: number;
  /** Seed of the sampling RNG, so sampled runs are reproducible (default 0). */
  seed?: number;
  /**
   * Keep every layer's keys and values on the GPU and run the model over one new token per
   * step (default true); false re-runs the whole sequence per token.
   */
  useCache?: boolean;
}

/**
 * Continues a batch of prompts (token ids) and returns the new tokens of each row: up to
 * maxNewTokens, ending early after endId. Prompts of different lengths share the batch:
 * rows are right-padded, each row's next token is read at its own last real token, and
 * with the cache each row writes its new tokens at its own next position, so under the
 * causal mask no row ever sees its padding or another row.
 *
 * Token choice runs on the GPU; only the chosen ids come back each step (the host needs
 * them to stop rows). Sampling draws one uniform per row per step from a seeded RNG, in
 * the same order with or without the cache.
 */
export async function generate(model: GptModel, prompts: readonly number[][], opts: GenerateOptions): Promise<number[][]> {
  const { config } = model;
  const K = 'generate';
  const { maxNewTokens, endId, padId } = opts;
  const temperature = opts.temperature ?? 0;
  const V = config.vocab_size;
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) {
    throw new ShapeError(K, `maxNewTokens must be a non-negative integer, got ${maxNewTokens}`);
  }
  if (!Number.isInteger(endId)) throw new ShapeError(K, `endId must be an integer, got ${endId}`);
  if (!Number.isInteger(padId) || padId < 0 || padId >= V) throw new ShapeError(K, `padId ${padId} is not a token id below ${V}`);
  if (!Number.isFinite(temperature) || temperature < 0) {
    throw new ShapeError(K, `temperature must be finite and >= 0 (0 is greedy), got ${temperature}`);
  }
  prompts.forEach((p, b) => {
    if (p.length === 0) throw new ShapeError(K, `prompt ${b} is empty: there is nothing to continue`);
    const bad = p.find((id) => !Number.isInteger(id) || id < 0 || id >= V);
    if (bad !== undefined) throw new ShapeError(K, `prompt ${b} holds ${bad}, not a token id below ${V}`);
  });
  if (prompts.length === 0 || maxNewTokens === 0) return prompts.map(() => []);
  const longest = Math.max(...prompts.map((p) => p.length));
  if (longest + maxNewTokens > config.n_positions) {
    throw new ShapeError(
      K,
      `the longest prompt (${longest} tokens) plus maxNewTokens ${maxNewTokens} is ${longest + maxNewTokens}, ` +
        `over the model's n_positions ${config.n_positions}: shorten the prompt or ask for fewer tokens`,
    );
  }
  const run: Run = {
    model,
    prompts,
    maxNewTokens,
    endId,
    padId,
    temperature,
    random: rng(opts.seed ?? 0),
  };
  return (opts.useCache ?? true) ? generateCached(run) : generateUncached(run);
}

/**
 * Greedy decoding: generate() at temperature 0 (with the KV cache unless useCache is
 * false).
 */
export async function generateGreedy(
  model: GptModel,
  prompts: readonly number[][],
  opts: Omit<GenerateOptions, 'temperature' | 'seed'>,
): Promise<number[][]> {
  return generate(model, prompts, { ...opts, temperature: 0 });
}

interface Run {
  model: GptModel;
  prompts: readonly number[][];
  maxNewTokens: number;
  endId: number;
  padId: number;
  temperature: number;
  random: () => number;
}

/** Right-padded ids [B, T] of the given rows. */
function padded(ctx: GpuContext, rows: readonly number[][], T: number, padId: number): GpuTensor {
  const ids = new Uint32Array(rows.length * T).fill(padId);
  rows.forEach((r, b) => ids.set(r, b * T));
  return ctx.upload(ids, [rows.length, T], 'u32', 'generate.ids');
}

/** One token per row of logits [B, V], chosen on the GPU. The caller owns the result. */
function choose(run: Run, logits: GpuTensor): GpuTensor {
  const { ctx } = run.model;
  const B = logits.shape[0];
  if (run.temperature === 0) return selectTokens(ctx, logits);
  const uniforms = ctx.upload(Float32Array.from({ length: B }, () => run.random()), [B], 'f32', 'generate.uniforms');
  const tokens = selectTokens(ctx, logits, { temperature: run.temperature, uniforms });
  ctx.release(uniforms);
  return tokens;
}

/** Appends this step's tokens to the rows still going; true when every row is done. */
function record(run: Run, tokens: ArrayLike<number>, outs: number[][], done: boolean[]): boolean {
  outs.forEach((o, b) => {
    if (done[b]) return;
    o.push(tokens[b]);
    if (tokens[b] === run.endId || o.length >= run.maxNewTokens) done[b] = true;
  });
  return done.every((d) => d);
}

/**
 * Prefill over the padded prompts, then one token per row per step. Finished rows keep
 * stepping with their last token (their outputs are dropped): the batch stays rectangular
 * and the other rows are unaffected.
 */
async function generateCached(run: Run): Promise<number[][]> {
  const { model, prompts } = run;
  const { ctx } = model;
  const B = prompts.length;
  const longest = Math.max(...prompts.map((p) => p.length));
  const outs: number[][] = prompts.map(() => []);
  const done = prompts.map(() => false);
  // The last chosen token is never fed back, hence the - 1.
  const cache = KvCache.create(ctx, model.config, B, longest + run.maxNewTokens - 1);
  let logits: GpuTensor | null = null;
  let tokens: GpuTensor | null = null;
  try {
    const ids = padded(ctx, prompts, longest, run.padId);
    try {
      logits = model.forwardCached(
        cache,
        ids,
        prompts.map((p) => p.length - 1),
      );
    } finally {
      ctx.release(ids);
    }
    for (;;) {
      tokens = choose(run, logits);
      ctx.release(logits);
      logits = null;
      if (record(run, await ctx.read(tokens), outs, done)) break;
      logits = model.forwardCached(cache, { ...tokens, shape: [B, 1] });
      ctx.release(tokens);
      tokens = null;
    }
  } finally {
    if (logits) ctx.release(logits);
    if (tokens) ctx.release(tokens);
    cache.dispose();
  }
  return outs;
}

/** Re-runs the whole (padded) sequence for every new token. */
async function generateUncached(run: Run): Promise<number[][]> {
  const { model, prompts } = run;
  const { ctx } = model;
  const B = prompts.length;
  const seqs = prompts.map((p) => [...p]);
  const outs: number[][] = prompts.map(() => []);
  const done = prompts.map(() => false);
  for (;;) {
    const T = Math.max(...seqs.map((s) => s.length));
    const ids = padded(ctx, seqs, T, run.padId);
    const positions = ctx.upload(
      Uint32Array.from({ length: B * T }, (_, i) => i % T),
      [B, T],
      'u32',
      'generate.positions',
    );
    const lastRows = ctx.upload(Uint32Array.from(seqs, (s, b) => b * T + s.length - 1), [B], 'u32', 'generate.last');
    const tape = new Tape(ctx);
    let last: GpuTensor;
    try {
      last = embedding(ctx, lastRows, model.forward(tape, ids, positions, B, T).value);
    } finally {
      tape.dispose();
      ctx.release(ids, positions, lastRows);
    }
    const tokens = choose(run, last);
    ctx.release(last);
    let chosen: ArrayLike<number>;
    try {
      chosen = await ctx.read(tokens);
    } finally {
      ctx.release(tokens);
    }
    seqs.forEach((s, b) => {
      if (!done[b]) s.push(chosen[b]);
    });
    if (record(run, chosen, outs, done)) break;
  }
  return outs;
}

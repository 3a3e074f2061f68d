import { Tape } from '../autograd/tape';
import { crossEntropyLoss } from '../kernels/crossEntropy';
import type { GptModel } from '../model/gpt';
import type { Tokenizer } from '../tokenizer/tokenizer';

export interface TextLoss {
  /** Tokens whose loss was measured (each window's first token has no context and is skipped). */
  tokens: number;
  /** UTF-8 bytes of the text. */
  bytes: number;
  /** UTF-8 bytes of the scored tokens: the text less each window's unscored first token. */
  scoredBytes: number;
  natsPerToken: number;
  /**
   * Bits per scored byte: total nats over the scored tokens / ln 2 / scoredBytes. Dividing
   * by every byte of the text would credit the model with bytes it never predicted.
   */
  bitsPerByte: number;
  windows: number;
}

/**
 * Mean next-token cross-entropy of a text under the model, over consecutive windows of
 * `window` tokens (default n_positions): the usual way GPT-2 perplexity is reported, so
 * the figure can be checked against another implementation.
 */
export async function textLoss(
  model: GptModel,
  tokenizer: Tokenizer,
  text: string,
  opts: { window?: number; batch?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<TextLoss> {
  const { ctx, config } = model;
  const ids = tokenizer.encode(text);
  const window = opts.window ?? config.n_positions;
  if (!(window >= 2 && window <= config.n_positions)) {
    throw new Error(`window must be in 2..${config.n_positions} (n_positions), got ${window}`);
  }
  const starts: number[] = [];
  for (let s = 0; s + 1 < ids.length; s += window) starts.push(s);
  if (starts.length === 0) throw new Error('the text is too short: it needs at least two tokens');
  const batch = opts.batch ?? 8;
  let nats = 0;
  let tokens = 0;
  for (let i = 0; i < starts.length; i += batch) {
    const group = starts.slice(i, i + batch);
    const T = Math.max(...group.map((s) => Math.min(window, ids.length - s))) - 1;
    const B = group.length;
    const inp = new Uint32Array(B * T);
    const tgt = new Uint32Array(B * T);
    const mask = new Float32Array(B * T);
    const pos = new Uint32Array(B * T);
    group.forEach((s, b) => {
      const len = Math.min(window, ids.length - s);
      for (let t = 0; t < T; t++) {
        pos[b * T + t] = t;
        if (t + 1 < len) {
          inp[b * T + t] = ids[s + t];
          tgt[b * T + t] = ids[s + t + 1];
          mask[b * T + t] = 1;
        }
      }
    });
    const tIds = ctx.upload(inp, [B, T], 'u32');
    const tPos = ctx.upload(pos, [B, T], 'u32');
    const tTgt = ctx.upload(tgt, [B * T], 'u32');
    const tMask = ctx.upload(mask, [B * T], 'f32');
    const tape = new Tape(ctx);
    const logits = model.forward(tape, tIds, tPos, B, T);
    const r = crossEntropyLoss(ctx, logits.value, tTgt, tMask);
    const losses = await ctx.readF32(r.losses);
    ctx.release(r.losses, r.meanLoss, tIds, tPos, tTgt, tMask);
    tape.dispose();
    for (let j = 0; j < B * T; j++) {
      if (mask[j] > 0) {
        nats += losses[j];
        tokens++;
      }
    }
    opts.onProgress?.(Math.min(i + batch, starts.length), starts.length);
  }
  const utf8 = new TextEncoder();
  const bytes = utf8.encode(text).length;
  // A BPE token that splits a multi-byte character decodes to U+FFFD on its own; such a
  // window start is counted as that character's bytes, which is off by at most two bytes.
  const unscored = starts.reduce((n, s) => n + utf8.encode(tokenizer.decode([ids[s]])).length, 0);
  const scoredBytes = bytes - unscored;
  return { tokens, bytes, scoredBytes, natsPerToken: nats / tokens, bitsPerByte: nats / Math.LN2 / scoredBytes, windows: starts.length };
}

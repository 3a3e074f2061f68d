import type { GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import type { EncodedPair } from '../tokenizer/tokenizer';

/** One padded batch on the GPU: inputs, next-token targets, loss mask, positions. */
export interface GpuBatch {
  B: number;
  T: number;
  ids: GpuTensor;
  positions: GpuTensor;
  targets: GpuTensor;
  mask: GpuTensor;
  /** Tokens that carry loss (answer tokens), for tokens/s and averaging. */
  lossTokens: number;
}

/**
 * Lays encoded (prompt, answer) pairs out for next-token training: position t predicts
 * token t+1 with weight lossMask[t+1], so the loss falls on answer tokens only. Rows are
 * right-padded to the longest pair (T = longest - 1); padding carries no loss.
 */
export function makeBatch(ctx: GpuContext, pairs: readonly EncodedPair[], padId: number): GpuBatch {
  if (pairs.length === 0) throw new Error('makeBatch: no examples');
  const longest = Math.max(...pairs.map((p) => p.ids.length));
  if (longest < 2) throw new Error('makeBatch: every example needs at least two tokens');
  const B = pairs.length;
  const T = longest - 1;
  const ids = new Uint32Array(B * T).fill(padId);
  const targets = new Uint32Array(B * T).fill(padId);
  const mask = new Float32Array(B * T);
  const positions = new Uint32Array(B * T);
  let lossTokens = 0;
  pairs.forEach((p, b) => {
    for (let t = 0; t < T; t++) {
      positions[b * T + t] = t;
      if (t < p.ids.length) ids[b * T + t] = p.ids[t];
      if (t + 1 < p.ids.length) {
        targets[b * T + t] = p.ids[t + 1];
        mask[b * T + t] = p.lossMask[t + 1];
        lossTokens += p.lossMask[t + 1] > 0 ? 1 : 0;
      }
    }
  });
  return {
    B,
    T,
    ids: ctx.upload(ids, [B, T], 'u32', 'batch.ids'),
    positions: ctx.upload(positions, [B, T], 'u32', 'batch.positions'),
    targets: ctx.upload(targets, [B * T], 'u32', 'batch.targets'),
    mask: ctx.upload(mask, [B * T], 'f32', 'batch.mask'),
    lossTokens,
  };
}

export function releaseBatch(ctx: GpuContext, b: GpuBatch): void {
  ctx.release(b.ids, b.positions, b.targets, b.mask);
}

import type { GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import type { EncodedPair } from '../tokenizer/tokenizer';

/**
 * One padded batch on the GPU: inputs, positions, and the next-token targets with their loss
 * weights. When few positions carry loss (a short answer after its prompt, as in
 * continual-learning tasks), `lossRows` lists them (b * T + t) and `targets` / `mask` hold
 * one entry per listed row: the model then computes the LM head and the loss for those rows
 * alone. Otherwise targets and mask are [B * T].
 */
export interface GpuBatch {
  B: number;
  T: number;
  ids: GpuTensor;
  positions: GpuTensor;
  lossRows?: GpuTensor;
  targets: GpuTensor;
  mask: GpuTensor;
  /** Tokens that carry loss (answer tokens), for tokens/s and averaging. */
  lossTokens: number;
}

/** Rows are listed (and the rest skipped by the LM head) only when at most this share carry loss. */
const LOSS_ROWS_MAX_SHARE = 0.5;

/** A batch's host arrays: ids and targets [B * T] row-major, mask [B * T] of loss weights. */
export interface HostBatch {
  B: number;
  T: number;
  ids: ArrayLike<number>;
  targets: ArrayLike<number>;
  mask: ArrayLike<number>;
  /** Default: 0..T-1 in every row. */
  positions?: ArrayLike<number>;
}

/**
 * Uploads a batch, listing its loss rows when they are few enough to be worth it
 * (`listLossRows` forces the choice either way).
 */
export function uploadBatch(ctx: GpuContext, h: HostBatch, opts: { listLossRows?: boolean } = {}): GpuBatch {
  const { B, T } = h;
  const n = B * T;
  const rows: number[] = [];
  for (let i = 0; i < n; i++) if (h.mask[i] > 0) rows.push(i);
  const positions = h.positions ? Uint32Array.from(h.positions) : Uint32Array.from({ length: n }, (_, i) => i % T);
  const listed = rows.length > 0 && (opts.listLossRows ?? rows.length <= LOSS_ROWS_MAX_SHARE * n);
  const targets = listed ? Uint32Array.from(rows, (i) => h.targets[i]) : Uint32Array.from(h.targets);
  const mask = listed ? Float32Array.from(rows, (i) => h.mask[i]) : Float32Array.from(h.mask);
  return {
    B,
    T,
    ids: ctx.upload(Uint32Array.from(h.ids), [B, T], 'u32', 'batch.ids'),
    positions: ctx.upload(positions, [B, T], 'u32', 'batch.positions'),
    lossRows: listed ? ctx.upload(Uint32Array.from(rows), [rows.length], 'u32', 'batch.lossRows') : undefined,
    targets: ctx.upload(targets, [targets.length], 'u32', 'batch.targets'),
    mask: ctx.upload(mask, [mask.length], 'f32', 'batch.mask'),
    lossTokens: rows.length,
  };
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
  pairs.forEach((p, b) => {
    for (let t = 0; t < T; t++) {
      if (t < p.ids.length) ids[b * T + t] = p.ids[t];
      if (t + 1 < p.ids.length) {
        targets[b * T + t] = p.ids[t + 1];
        mask[b * T + t] = p.lossMask[t + 1];
      }
    }
  });
  return uploadBatch(ctx, { B, T, ids, targets, mask });
}

export function releaseBatch(ctx: GpuContext, b: GpuBatch): void {
  ctx.release(b.ids, b.positions, b.targets, b.mask, ...(b.lossRows ? [b.lossRows] : []));
}

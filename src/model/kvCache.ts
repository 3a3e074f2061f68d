import type { GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import type { GpuTensor } from '../gpu/tensor';
import type { GptConfig } from './config';

/**
 * Keys and values of every attention layer for the tokens a batch has seen so far, so an
 * inference step runs the model over the new tokens only. Per layer, k and v are
 * (B, H, capacity, D) on the GPU (the layout of shaders/attention_decode.wgsl).
 *
 * `lengths[b]` is how many times of row b hold valid entries: GptModel.forwardCached puts
 * its new tokens at times lengths[b], lengths[b]+1, ... and then advances lengths[b]. A
 * row may advance by fewer than it was given (a right-padded prompt counts only up to its
 * last real token); the entries past its length are overwritten by its next tokens and
 * never attended to before that.
 */
export class KvCache {
  readonly lengths: number[];

  private constructor(
    readonly ctx: GpuContext,
    readonly batch: number,
    readonly capacity: number,
    /** Per layer, (B, H, capacity, D). */
    readonly k: GpuTensor[],
    readonly v: GpuTensor[],
  ) {
    this.lengths = new Array<number>(batch).fill(0);
  }

  /**
   * Room for `capacity` times (prompt plus new tokens) in each of `batch` rows. A capacity
   * over n_positions is refused: the model has no position embedding past it.
   */
  static create(ctx: GpuContext, config: GptConfig, batch: number, capacity: number): KvCache {
    if (!Number.isInteger(batch) || batch < 1) throw new ShapeError('KvCache', `batch must be a positive integer, got ${batch}`);
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new ShapeError('KvCache', `capacity must be a positive integer, got ${capacity}`);
    }
    if (capacity > config.n_positions) {
      throw new ShapeError(
        'KvCache',
        `capacity ${capacity} (prompt plus new tokens) exceeds the model's n_positions ${config.n_positions}`,
      );
    }
    const H = config.n_head;
    const shape = [batch, H, capacity, config.n_embd / H];
    const k: GpuTensor[] = [];
    const v: GpuTensor[] = [];
    try {
      for (let i = 0; i < config.n_layer; i++) {
        k.push(ctx.empty(shape, 'f32', `kvCache.k.${i}`));
        v.push(ctx.empty(shape, 'f32', `kvCache.v.${i}`));
      }
    } catch (e) {
      ctx.release(...k, ...v);
      throw e;
    }
    return new KvCache(ctx, batch, capacity, k, v);
  }

  /** Bytes of GPU memory the cache holds. */
  get bytes(): number {
    return this.k.reduce((a, t) => a + 2 * t.size * 4, 0);
  }

  /** Throws unless every row has room for `count` more times. */
  expectRoom(count: number): void {
    for (let b = 0; b < this.batch; b++) {
      if (this.lengths[b] + count > this.capacity) {
        throw new ShapeError(
          'KvCache',
          `row ${b} holds ${this.lengths[b]} tokens and cannot take ${count} more: the cache was made for ${this.capacity}`,
        );
      }
    }
  }

  /** Forgets every row's tokens (the buffers are kept for reuse). */
  reset(): void {
    this.lengths.fill(0);
  }

  dispose(): void {
    this.ctx.release(...this.k, ...this.v);
    this.k.length = 0;
    this.v.length = 0;
  }
}

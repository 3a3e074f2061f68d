import type { GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import { grid1d } from '../gpu/grid';
import { Params } from '../gpu/params';
import type { GpuTensor } from '../gpu/tensor';
import { expectDType, expectFinite, expectShape } from './check';
import { expectOutput, rowsOf } from './check';
import { rowLayout, type RowLayout } from './rowLayout';

const REDUCE_WG = 256;
const MASK_SUM = { name: 'cross_entropy_mask_sum', shader: 'cross_entropy_reduce', entryPoint: 'mask_sum', constants: { WG: REDUCE_WG } };
const MEAN = { name: 'cross_entropy_mean', shader: 'cross_entropy_reduce', entryPoint: 'mean', constants: { WG: REDUCE_WG } };
const rowsSpec = (entryPoint: 'loss_only' | 'loss_and_grad', layout: RowLayout) => ({
  name: `cross_entropy_${entryPoint}_rt${layout.rowThreads}_wg${layout.wg}`,
  shader: 'cross_entropy',
  entryPoint,
  constants: { WG: layout.wg, ROW_THREADS: layout.rowThreads },
});

export interface CrossEntropyOptions {
  /** f32 [...]: per-token losses (written for every token, masked or not). */
  losses?: GpuTensor;
  /** f32 [1]: sum(mask * loss) / max(sum(mask), 1). */
  meanLoss?: GpuTensor;
  /** Threads per row (power of two); chosen per adapter when omitted. */
  rowThreads?: number;
}

export interface CrossEntropyGradOptions extends CrossEntropyOptions {
  /** f32 [..., V] */
  dlogits?: GpuTensor;
  /** Extra factor on dlogits (e.g. 1 / micro-batches for gradient accumulation). */
  gradScale?: number;
}

export interface CrossEntropyResult {
  losses: GpuTensor;
  meanLoss: GpuTensor;
}

export interface CrossEntropyGradResult extends CrossEntropyResult {
  dlogits: GpuTensor;
}

/**
 * Masked cross-entropy, forward only (evaluation). logits f32 [..., V]; targets u32 [...]
 * and mask f32 [...] with the leading shape of logits (mask: 0/1 or weights; the loss is on
 * answer tokens only). Targets >= V are ignored on the GPU (loss 0, no gradient).
 */
export function crossEntropyLoss(
  ctx: GpuContext,
  logits: GpuTensor,
  targets: GpuTensor,
  mask: GpuTensor,
  opts: CrossEntropyOptions = {},
): CrossEntropyResult {
  const k = 'crossEntropyLoss';
  const { rows, cols, layout, losses, meanLoss } = prepare(ctx, k, logits, targets, mask, opts);
  const denom = ctx.empty([1], 'f32', 'crossEntropy.denom');
  if (rows > 0) {
    ctx.dispatch(rowsSpec('loss_only', layout), {
      params: new Params().u32(rows).u32(cols).f32(1).bytes(),
      buffers: [logits, targets, losses],
      workgroups: grid1d(ctx, rows, layout.wg / layout.rowThreads),
    });
  }
  dispatchMean(ctx, rows, mask, denom, losses, meanLoss);
  ctx.release(denom);
  return { losses, meanLoss };
}

/**
 * Masked cross-entropy fused with its gradient (training):
 * dlogits = gradScale * mask / max(sum(mask), 1) * (softmax(logits) - onehot(targets)),
 * the gradient of meanLoss. Four small dispatches, no CPU round trip.
 */
export function crossEntropyLossAndGrad(
  ctx: GpuContext,
  logits: GpuTensor,
  targets: GpuTensor,
  mask: GpuTensor,
  opts: CrossEntropyGradOptions = {},
): CrossEntropyGradResult {
  const k = 'crossEntropyLossAndGrad';
  const gradScale = opts.gradScale ?? 1;
  expectFinite(k, 'gradScale', gradScale);
  const inputs = { logits, targets, mask };
  expectOutput(k, 'dlogits', opts.dlogits, logits.shape, { ...inputs, ...outputsGiven(opts) });
  const { rows, cols, layout, losses, meanLoss } = prepare(ctx, k, logits, targets, mask, opts);
  const dlogits = opts.dlogits ?? ctx.empty(logits.shape, 'f32', 'crossEntropy.dlogits');
  const denom = ctx.empty([1], 'f32', 'crossEntropy.denom');
  if (rows > 0) {
    ctx.dispatch(MASK_SUM, { params: new Params().u32(rows).bytes(), buffers: [mask, denom], workgroups: [1] });
    ctx.dispatch(rowsSpec('loss_and_grad', layout), {
      params: new Params().u32(rows).u32(cols).f32(gradScale).bytes(),
      buffers: [logits, targets, losses, mask, denom, dlogits],
      workgroups: grid1d(ctx, rows, layout.wg / layout.rowThreads),
    });
  }
  dispatchMean(ctx, rows, mask, denom, losses, meanLoss);
  // Safe right away: the pool only hands the buffer to work queued after these dispatches.
  ctx.release(denom);
  return { losses, meanLoss, dlogits };
}

function prepare(
  ctx: GpuContext,
  k: string,
  logits: GpuTensor,
  targets: GpuTensor,
  mask: GpuTensor,
  opts: CrossEntropyOptions,
) {
  expectDType(k, 'logits', logits, 'f32');
  if (logits.shape.length < 2) throw new ShapeError(k, `logits must be [..., V], got rank ${logits.shape.length}`);
  const { rows, cols } = rowsOf(k, 'logits', logits);
  const lead = logits.shape.slice(0, -1);
  expectShape(k, 'targets', targets, lead);
  expectDType(k, 'targets', targets, 'u32');
  expectShape(k, 'mask', mask, lead);
  expectDType(k, 'mask', mask, 'f32');
  const layout = rowLayout(ctx, k, rows, cols, opts.rowThreads);
  expectOutput(k, 'losses', opts.losses, lead, { logits, targets, mask });
  expectOutput(k, 'meanLoss', opts.meanLoss, [1], { logits, targets, mask, ...outputsGiven({ losses: opts.losses }) });
  const losses = opts.losses ?? ctx.empty(lead, 'f32', 'crossEntropy.losses');
  const meanLoss = opts.meanLoss ?? ctx.empty([1], 'f32', 'crossEntropy.meanLoss');
  return { rows, cols, layout, losses, meanLoss };
}

function outputsGiven(opts: CrossEntropyOptions): Record<string, GpuTensor> {
  const given: Record<string, GpuTensor> = {};
  if (opts.losses) given.losses = opts.losses;
  if (opts.meanLoss) given.meanLoss = opts.meanLoss;
  return given;
}

function dispatchMean(ctx: GpuContext, rows: number, mask: GpuTensor, denom: GpuTensor, losses: GpuTensor, meanLoss: GpuTensor) {
  ctx.dispatch(MEAN, {
    params: new Params().u32(rows).bytes(),
    buffers: [mask, denom, losses, meanLoss],
    workgroups: [1],
  });
}

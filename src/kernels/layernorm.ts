import type { GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import { grid1d } from '../gpu/grid';
import { Params } from '../gpu/params';
import type { GpuTensor } from '../gpu/tensor';
import { expectDType, expectFinite, expectShape } from './check';
import { expectOutput, rowsOf } from './check';
import { rowLayout, type RowLayout } from './rowLayout';

const DEFAULT_EPS = 1e-5;
const PARAM_WG = 64;
/** Stage 1 of the parameter gradients sums at most this many chunks of rows per column. */
const MAX_CHUNKS = 64;
/** ...and at least this many rows per chunk, so small batches need only one chunk. */
const MIN_ROWS_PER_CHUNK = 16;

const rowSpec = (name: string, shader: string, layout: RowLayout, extra: Record<string, number> = {}) => ({
  name: `${name}_rt${layout.rowThreads}_wg${layout.wg}`,
  shader,
  constants: { WG: layout.wg, ROW_THREADS: layout.rowThreads, ...extra },
});

export interface LayerNormResult {
  /** f32 [..., C] */
  y: GpuTensor;
  /** f32 [R] with R = x.size / C: per-row mean, saved for the backward pass. */
  mean: GpuTensor;
  /** f32 [R]: per-row 1 / sqrt(var + eps), saved for the backward pass. */
  rstd: GpuTensor;
}

export interface LayerNormOptions {
  eps?: number;
  out?: GpuTensor;
  mean?: GpuTensor;
  rstd?: GpuTensor;
  /** Threads per row (power of two); chosen per adapter when omitted. */
  rowThreads?: number;
}

/** LayerNorm over the last dimension: x f32 [..., C], gamma and beta f32 [C]. */
export function layerNorm(
  ctx: GpuContext,
  x: GpuTensor,
  gamma: GpuTensor,
  beta: GpuTensor,
  opts: LayerNormOptions = {},
): LayerNormResult {
  const k = 'layerNorm';
  expectDType(k, 'x', x, 'f32');
  const { rows, cols } = rowsOf(k, 'x', x);
  expectShape(k, 'gamma', gamma, [cols]);
  expectDType(k, 'gamma', gamma, 'f32');
  expectShape(k, 'beta', beta, [cols]);
  expectDType(k, 'beta', beta, 'f32');
  const eps = opts.eps ?? DEFAULT_EPS;
  expectFinite(k, 'eps', eps);
  if (eps <= 0) throw new ShapeError(k, `eps must be positive, got ${eps}`);
  const layout = rowLayout(ctx, k, rows, cols, opts.rowThreads);
  expectOutput(k, 'out', opts.out, x.shape, { x, gamma, beta });
  expectOutput(k, 'mean', opts.mean, [rows], { x, gamma, beta });
  expectOutput(k, 'rstd', opts.rstd, [rows], { x, gamma, beta });
  const y = opts.out ?? ctx.empty(x.shape, 'f32', 'layerNorm.y');
  const mean = opts.mean ?? ctx.empty([rows], 'f32', 'layerNorm.mean');
  const rstd = opts.rstd ?? ctx.empty([rows], 'f32', 'layerNorm.rstd');
  if (rows > 0) {
    ctx.dispatch(rowSpec('layernorm', 'layernorm', layout), {
      params: new Params().u32(rows).u32(cols).f32(eps).bytes(),
      buffers: [x, gamma, beta, y, mean, rstd],
      workgroups: grid1d(ctx, rows, layout.wg / layout.rowThreads),
    });
  }
  return { y, mean, rstd };
}

export interface LayerNormBackwardOptions {
  dx?: GpuTensor;
  /** Add into `dx` (which must then be given), e.g. the residual stream's gradient. */
  accumulate?: boolean;
  rowThreads?: number;
}

/**
 * Input gradient of layerNorm: dx [..., C] from x [..., C], gamma [C], the saved mean and
 * rstd [R], and dy [..., C]. Parameter gradients are separate (layerNormParamGrads), so a
 * frozen LayerNorm costs only this pass.
 */
export function layerNormBackward(
  ctx: GpuContext,
  x: GpuTensor,
  gamma: GpuTensor,
  mean: GpuTensor,
  rstd: GpuTensor,
  dy: GpuTensor,
  opts: LayerNormBackwardOptions = {},
): GpuTensor {
  const k = 'layerNormBackward';
  const { rows, cols } = checkSaved(k, x, mean, rstd, dy);
  expectShape(k, 'gamma', gamma, [cols]);
  expectDType(k, 'gamma', gamma, 'f32');
  const layout = rowLayout(ctx, k, rows, cols, opts.rowThreads);
  if (opts.accumulate && !opts.dx) throw new ShapeError(k, 'accumulate needs an existing dx tensor');
  expectOutput(k, 'dx', opts.dx, x.shape, { x, gamma, mean, rstd, dy });
  const dx = opts.dx ?? ctx.empty(x.shape, 'f32', 'layerNorm.dx');
  if (rows > 0) {
    ctx.dispatch(rowSpec('layernorm_backward', 'layernorm_backward', layout, { ACCUMULATE: opts.accumulate ? 1 : 0 }), {
      params: new Params().u32(rows).u32(cols).bytes(),
      buffers: [x, gamma, mean, rstd, dy, dx],
      workgroups: grid1d(ctx, rows, layout.wg / layout.rowThreads),
    });
  }
  return dx;
}

export interface LayerNormParamGrads {
  dgamma: GpuTensor;
  dbeta: GpuTensor;
}

/**
 * dgamma[i] = sum over rows of dy * xhat, dbeta[i] = sum over rows of dy (xhat from the
 * saved mean and rstd), reduced in two fixed-order stages (reproducible). With
 * `accumulate` the sums are added to the given dgamma and dbeta.
 */
export function layerNormParamGrads(
  ctx: GpuContext,
  x: GpuTensor,
  mean: GpuTensor,
  rstd: GpuTensor,
  dy: GpuTensor,
  opts: { dgamma?: GpuTensor; dbeta?: GpuTensor; accumulate?: boolean } = {},
): LayerNormParamGrads {
  const k = 'layerNormParamGrads';
  const { rows, cols } = checkSaved(k, x, mean, rstd, dy);
  if (opts.accumulate && !(opts.dgamma && opts.dbeta)) {
    throw new ShapeError(k, 'accumulate needs existing dgamma and dbeta tensors');
  }
  expectOutput(k, 'dgamma', opts.dgamma, [cols], { x, mean, rstd, dy });
  expectOutput(k, 'dbeta', opts.dbeta, [cols], { x, mean, rstd, dy });
  if (opts.dgamma && opts.dgamma.buffer === opts.dbeta?.buffer) {
    throw new ShapeError(k, 'dgamma and dbeta may not share a buffer');
  }
  const dgamma = opts.dgamma ?? ctx.empty([cols], 'f32', 'layerNorm.dgamma');
  const dbeta = opts.dbeta ?? ctx.empty([cols], 'f32', 'layerNorm.dbeta');
  const chunks0 = Math.max(1, Math.min(MAX_CHUNKS, Math.ceil(rows / MIN_ROWS_PER_CHUNK)));
  const rowsPerChunk = Math.max(1, Math.ceil(rows / chunks0));
  const chunks = Math.max(1, Math.ceil(rows / rowsPerChunk));
  const partial = ctx.empty([chunks, 2, cols], 'f32', 'layerNorm.partial');
  ctx.dispatch(
    { name: 'layernorm_param_grad', shader: 'layernorm_param_grad', constants: { WG: PARAM_WG } },
    {
      params: new Params().u32(rows).u32(cols).u32(rowsPerChunk).u32(chunks).bytes(),
      buffers: [x, mean, rstd, dy, partial],
      workgroups: grid1d(ctx, chunks * cols, PARAM_WG),
    },
  );
  const accumulate = opts.accumulate ?? false;
  ctx.dispatch(
    {
      name: accumulate ? 'layernorm_param_reduce_add' : 'layernorm_param_reduce',
      shader: 'layernorm_param_reduce',
      constants: { WG: PARAM_WG, ACCUMULATE: accumulate ? 1 : 0 },
    },
    {
      params: new Params().u32(cols).u32(chunks).bytes(),
      buffers: [partial, dgamma, dbeta],
      workgroups: [Math.ceil(cols / PARAM_WG)],
    },
  );
  // Safe right away: the pool only hands the buffer to work queued after these dispatches.
  ctx.release(partial);
  return { dgamma, dbeta };
}

function checkSaved(k: string, x: GpuTensor, mean: GpuTensor, rstd: GpuTensor, dy: GpuTensor) {
  expectDType(k, 'x', x, 'f32');
  const rc = rowsOf(k, 'x', x);
  expectShape(k, 'mean', mean, [rc.rows]);
  expectDType(k, 'mean', mean, 'f32');
  expectShape(k, 'rstd', rstd, [rc.rows]);
  expectDType(k, 'rstd', rstd, 'f32');
  expectShape(k, 'dy', dy, x.shape);
  expectDType(k, 'dy', dy, 'f32');
  return rc;
}

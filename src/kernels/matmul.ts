import type { GpuContext, KernelSpec } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import { grid1d } from '../gpu/grid';
import { Params } from '../gpu/params';
import { shapeToString, type GpuTensor } from '../gpu/tensor';
import { expectDType, expectFinite, expectNoAlias, expectShape } from './check';

/**
 * Matrix multiply kernels, kept side by side so the speed-ups stay legible:
 * - `naive`: one output per invocation (shaders/matmul_naive.wgsl), the baseline;
 * - `regtile`: 4x4 outputs per invocation in registers, no workgroup memory
 *   (shaders/matmul_regtile.wgsl): fast on software adapters;
 * - `regtile8`: the same with 8x8 outputs per invocation (shaders/matmul_regtile8.wgsl):
 *   half the loads per FMA, a quarter of the invocations;
 * - `wgtile`: 64x64 blocks staged through workgroup memory with barriers
 *   (shaders/matmul_wgtile.wgsl): the usual winner on real GPUs.
 * Which is the default on a context is decided by measuring (src/kernels/matmulTuning.ts).
 */
export type MatmulVariant = 'naive' | 'regtile' | 'regtile8' | 'wgtile';

export const MATMUL_VARIANTS: readonly MatmulVariant[] = ['naive', 'regtile', 'regtile8', 'wgtile'];

/** The variant used before (or without) tuning: the best one on software adapters. */
export const FALLBACK_MATMUL_VARIANT: MatmulVariant = 'regtile';

/** A rank-R term `scale * U V^T` added in the epilogue of the same kernel (fused LoRA). */
export interface LowRankTerm {
  /** [M, R] */
  u: GpuTensor;
  /** [N, R], or [R, N] when `vTransposed` */
  v: GpuTensor;
  vTransposed?: boolean;
  scale: number;
}

export interface MatmulOptions {
  /** A is stored [batch?, K, M] and used transposed. */
  transA?: boolean;
  /** B is stored [batch?, N, K] and used transposed (x W^T with W [N, K] is transB). */
  transB?: boolean;
  /** C += alpha * op(A) op(B); requires `out`. */
  accumulate?: boolean;
  /** Default 1. */
  alpha?: number;
  out?: GpuTensor;
  /** Default: the tuned winner for this context's adapter, `regtile` before tuning. */
  variant?: MatmulVariant;
  /** Adds `scale * U V^T` to the result inside the same kernel; output must be 2-D (or batch 1). */
  lowRank?: LowRankTerm;
  /** [N]: added to every row of the result in the same kernel (a linear layer's bias; not scaled by alpha). */
  bias?: GpuTensor;
  /**
   * Slices of K reduced in parallel, their partial products summed in slice order by a
   * second kernel (reproducible). Default: chosen (splitKSlices) when a long reduction
   * would leave most cores idle, e.g. the LM head's input gradient dy E over a 50257-token
   * vocabulary into few outputs. 1 turns it off. Unbatched products without lowRank only.
   */
  splitK?: number;
}

/** Fewer workgroups than this leave cores idle on most adapters. */
const SPLIT_K_MIN_GROUPS = 32;
/** A slice keeps at least this much of K, so the partial sums stay worth their traffic. */
const SPLIT_K_MIN_SLICE = 256;
const SPLIT_K_MAX_SLICES = 64;

/** Slices for split-K: 1 unless the output has few workgroups and K is long. */
export function splitKSlices(groups: number, K: number): number {
  if (groups >= SPLIT_K_MIN_GROUPS || K < 2 * SPLIT_K_MIN_SLICE) return 1;
  return Math.max(1, Math.min(SPLIT_K_MAX_SLICES, Math.ceil(SPLIT_K_MIN_GROUPS / groups), Math.floor(K / SPLIT_K_MIN_SLICE)));
}

/** Problem sizes implied by the operands of a matmul. */
export interface MatmulShape {
  batch: number;
  M: number;
  N: number;
  K: number;
  /** [batch, M, N] when either operand is rank 3, else [M, N]. */
  outShape: number[];
  /** Elements between batch entries of A and B; 0 when the operand is shared (rank 2). */
  strideA: number;
  strideB: number;
}

interface VariantConfig {
  /** Outputs per invocation along each side (1 for naive, 4 or 8 for the register tiles). */
  perInvocation: number;
  /** Invocations per workgroup, or null for a fixed 16x16 block shape (wgtile). */
  invocations: number | null;
}

const CONFIGS: Record<MatmulVariant, VariantConfig> = {
  naive: { perInvocation: 1, invocations: 256 },
  regtile: { perInvocation: 4, invocations: 64 },
  regtile8: { perInvocation: 8, invocations: 64 },
  wgtile: { perInvocation: 4, invocations: null },
};

/**
 * Workgroup shape (WX, WY) for the variants without shared tiles: square by default, but
 * narrowed to the output when one side is small (x A^T with r = 8 is 2 invocations wide),
 * so skinny products do not leave most invocations computing clamped duplicates.
 */
function workgroupShape(config: VariantConfig, M: number, N: number): [number, number] {
  if (config.invocations === null) return [16, 16];
  const total = config.invocations;
  const side = Math.round(Math.sqrt(total));
  const need = (d: number) => 2 ** Math.ceil(Math.log2(Math.max(1, Math.ceil(d / config.perInvocation))));
  const nx = need(N);
  const ny = need(M);
  // A small output in both directions gets a small workgroup rather than clamped duplicates.
  if (nx * ny <= total) return [nx, ny];
  if (nx >= side && ny >= side) return [side, side];
  if (nx < ny) return [nx, total / nx];
  return [total / ny, ny];
}

const chosen = new WeakMap<GpuContext, MatmulVariant>();

/** Makes `variant` the default of `matmul` on this context (the tuner calls this); null resets it. */
export function setDefaultMatmulVariant(ctx: GpuContext, variant: MatmulVariant | null): void {
  if (variant === null) {
    chosen.delete(ctx);
    return;
  }
  if (!MATMUL_VARIANTS.includes(variant)) throw new ShapeError('matmul', `unknown variant "${variant}"`);
  chosen.set(ctx, variant);
}

/** The variant `matmul` uses on this context when the caller names none. */
export function defaultMatmulVariant(ctx: GpuContext): MatmulVariant {
  return chosen.get(ctx) ?? FALLBACK_MATMUL_VARIANT;
}

/** Checks the operands of C = op(A) op(B) and returns the sizes; throws ShapeError. */
export function matmulShape(
  a: GpuTensor,
  b: GpuTensor,
  opts: Pick<MatmulOptions, 'transA' | 'transB'> = {},
  kernel = 'matmul',
): MatmulShape {
  expectDType(kernel, 'a', a, 'f32');
  expectDType(kernel, 'b', b, 'f32');
  for (const [what, t] of [['a', a], ['b', b]] as const) {
    if (t.shape.length !== 2 && t.shape.length !== 3) {
      throw new ShapeError(kernel, `${what} has shape ${shapeToString(t.shape)}, expected rank 2 or 3`);
    }
  }
  const ra = a.shape.length;
  const rb = b.shape.length;
  const [a0, a1] = a.shape.slice(ra - 2);
  const [b0, b1] = b.shape.slice(rb - 2);
  const [M, Ka] = opts.transA ? [a1, a0] : [a0, a1];
  const [Kb, N] = opts.transB ? [b1, b0] : [b0, b1];
  if (Ka !== Kb) {
    throw new ShapeError(
      kernel,
      `inner dimensions differ: op(a) is ${M}x${Ka} (a ${shapeToString(a.shape)}${opts.transA ? ' transposed' : ''}), ` +
        `op(b) is ${Kb}x${N} (b ${shapeToString(b.shape)}${opts.transB ? ' transposed' : ''})`,
    );
  }
  const batchA = ra === 3 ? a.shape[0] : null;
  const batchB = rb === 3 ? b.shape[0] : null;
  if (batchA !== null && batchB !== null && batchA !== batchB) {
    throw new ShapeError(
      kernel,
      `batch sizes differ: a ${shapeToString(a.shape)}, b ${shapeToString(b.shape)}`,
    );
  }
  const batch = batchA ?? batchB ?? 1;
  const batched = batchA !== null || batchB !== null;
  return {
    batch,
    M,
    N,
    K: Ka,
    outShape: batched ? [batch, M, N] : [M, N],
    strideA: batchA === null ? 0 : M * Ka,
    strideB: batchB === null ? 0 : Ka * N,
  };
}

/**
 * C = alpha * op(A) op(B) [+ scale * U V^T] [+ C], batched.
 * A: [batch?, M, K] ([batch?, K, M] with transA); B: [batch?, K, N] ([batch?, N, K] with
 * transB); a rank-2 operand is shared by every batch entry. C: [batch?, M, N], allocated
 * unless `out` is given; with `accumulate` the product is added to `out`'s contents.
 */
export function matmul(ctx: GpuContext, a: GpuTensor, b: GpuTensor, opts: MatmulOptions = {}): GpuTensor {
  const kernel = 'matmul';
  const s = matmulShape(a, b, opts, kernel);
  const alpha = opts.alpha ?? 1;
  expectFinite(kernel, 'alpha', alpha);
  const variant = opts.variant ?? defaultMatmulVariant(ctx);
  const config = CONFIGS[variant];
  if (!config) throw new ShapeError(kernel, `unknown variant "${variant}" (have ${MATMUL_VARIANTS.join(', ')})`);
  if (opts.accumulate && !opts.out) throw new ShapeError(kernel, 'accumulate needs `out` (the tensor to add into)');

  let R = 0;
  let scale = 0;
  const low = opts.lowRank;
  if (low) {
    if (s.batch !== 1) throw new ShapeError(kernel, `lowRank needs an unbatched product, got batch ${s.batch}`);
    expectDType(kernel, 'lowRank.u', low.u, 'f32');
    expectDType(kernel, 'lowRank.v', low.v, 'f32');
    if (low.u.shape.length !== 2) {
      throw new ShapeError(kernel, `lowRank.u has shape ${shapeToString(low.u.shape)}, expected [${s.M}, R]`);
    }
    R = low.u.shape[1];
    if (R < 1) throw new ShapeError(kernel, `lowRank.u has shape ${shapeToString(low.u.shape)}, rank R must be >= 1`);
    expectShape(kernel, 'lowRank.u', low.u, [s.M, R]);
    expectShape(kernel, 'lowRank.v', low.v, low.vTransposed ? [R, s.N] : [s.N, R]);
    expectFinite(kernel, 'lowRank.scale', low.scale);
    scale = low.scale;
  }

  if (opts.bias) {
    expectDType(kernel, 'bias', opts.bias, 'f32');
    if (opts.bias.size !== s.N) throw new ShapeError(kernel, `bias has ${opts.bias.size} elements, expected N = ${s.N}`);
  }
  if (opts.out) {
    const out = opts.out;
    expectDType(kernel, 'out', out, 'f32');
    // A batch-1 product may be written into a [M, N] or [1, M, N] tensor: same layout.
    let want = s.outShape;
    if (s.batch === 1 && out.shape.length === 2) want = [s.M, s.N];
    if (s.batch === 1 && out.shape.length === 3) want = [1, s.M, s.N];
    expectShape(kernel, 'out', out, want);
    expectNoAlias(kernel, { out }, { a, b, ...(low ? { 'lowRank.u': low.u, 'lowRank.v': low.v } : {}), ...(opts.bias ? { bias: opts.bias } : {}) });
  }
  const [wx, wy] = workgroupShape(config, s.M, s.N);
  const grid = [Math.ceil(s.N / (wx * config.perInvocation)), Math.ceil(s.M / (wy * config.perInvocation)), s.batch] as const;
  const maxGroups = ctx.limits.maxComputeWorkgroupsPerDimension;
  if (grid.some((g) => g > maxGroups)) {
    throw new ShapeError(
      kernel,
      `${s.batch} x ${s.M} x ${s.N} output needs a [${grid.join(', ')}] ${variant} grid, over this device's ` +
        `maxComputeWorkgroupsPerDimension of ${maxGroups}`,
    );
  }
  const out = opts.out ?? ctx.empty(s.outShape, 'f32', 'matmul.out');
  if (s.M === 0 || s.N === 0 || s.batch === 0) return out;

  const canSplit = s.batch === 1 && !low && !opts.bias && s.K > 1;
  const slices = opts.splitK ?? (canSplit ? splitKSlices(grid[0] * grid[1], s.K) : 1);
  if (!Number.isInteger(slices) || slices < 1) throw new ShapeError(kernel, `splitK must be a positive integer, got ${opts.splitK}`);
  if (slices > 1) {
    if (!canSplit) throw new ShapeError(kernel, 'splitK needs an unbatched product without lowRank or bias');
    splitKProduct(ctx, a, b, out, s, variant, config, wx, wy, slices, alpha, opts);
    return out;
  }

  const spec: KernelSpec = {
    name: `matmul_${variant}${low ? '_lowrank' : ''}`,
    shader: `matmul_${variant}`,
    entryPoint: low ? 'main_lowrank' : 'main',
    constants: {
      ...(config.invocations === null ? {} : { WX: wx, WY: wy }),
      TRANS_A: opts.transA ? 1 : 0,
      TRANS_B: opts.transB ? 1 : 0,
      ACCUMULATE: opts.accumulate ? 1 : 0,
      BIAS: opts.bias ? 1 : 0,
      ...(low ? { V_TRANS: low.vTransposed ? 1 : 0 } : {}),
    },
  };
  const params = new Params()
    .u32(s.M)
    .u32(s.N)
    .u32(s.K)
    .u32(s.strideA)
    .u32(s.strideB)
    .f32(alpha)
    .u32(R)
    .f32(scale)
    .u32(s.K)
    .bytes();
  ctx.dispatch(spec, {
    params,
    buffers: low ? [a, b, out, opts.bias ?? ctx.placeholder, low.u, low.v] : [a, b, out, opts.bias ?? ctx.placeholder],
    workgroups: grid,
  });
  return out;
}

/**
 * C = alpha op(A) op(B) (+ C) as S partial products over slices of K, one batch entry
 * each (the strides step from one slice's start to the next), then summed in slice order.
 */
function splitKProduct(
  ctx: GpuContext,
  a: GpuTensor,
  b: GpuTensor,
  out: GpuTensor,
  s: MatmulShape,
  variant: MatmulVariant,
  config: VariantConfig,
  wx: number,
  wy: number,
  S: number,
  alpha: number,
  opts: MatmulOptions,
): void {
  const KS = Math.ceil(s.K / S);
  const slices = Math.ceil(s.K / KS);
  const strideA = opts.transA ? KS * s.M : KS;
  const strideB = opts.transB ? KS : KS * s.N;
  const parts = ctx.empty([slices, s.M, s.N], 'f32', 'matmul.splitK');
  const grid = [Math.ceil(s.N / (wx * config.perInvocation)), Math.ceil(s.M / (wy * config.perInvocation)), slices] as const;
  ctx.dispatch(
    {
      name: `matmul_${variant}_splitk`,
      shader: `matmul_${variant}`,
      entryPoint: 'main',
      constants: {
        ...(config.invocations === null ? {} : { WX: wx, WY: wy }),
        TRANS_A: opts.transA ? 1 : 0,
        TRANS_B: opts.transB ? 1 : 0,
        ACCUMULATE: 0,
        SPLIT_K: 1,
      },
    },
    {
      params: new Params().u32(s.M).u32(s.N).u32(s.K).u32(strideA).u32(strideB).f32(1).u32(0).f32(0).u32(KS).bytes(),
      buffers: [a, b, parts, ctx.placeholder],
      workgroups: grid,
    },
  );
  ctx.dispatch(
    { name: 'sum_batches', shader: 'sum_batches', constants: { WG: 256, ACCUMULATE: opts.accumulate ? 1 : 0 } },
    { params: new Params().u32(s.M * s.N).u32(slices).f32(alpha).bytes(), buffers: [parts, out], workgroups: grid1d(ctx, s.M * s.N, 256) },
  );
  // Released after encoding: the pool hands it out again only to later work.
  ctx.release(parts);
}

/** Floating-point operations of one matmul (2 per multiply-add), for GFLOP/s figures. */
export function matmulFlops(batch: number, M: number, N: number, K: number): number {
  return 2 * batch * M * N * K;
}

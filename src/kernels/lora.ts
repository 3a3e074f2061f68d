import type { GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import { shapeToString, type GpuTensor } from '../gpu/tensor';
import { expectDType, expectFinite, expectNoAlias, expectOutput, expectShape } from './check';
import { grid1d } from '../gpu/grid';
import { Params } from '../gpu/params';
import { accumulate as accumulateKernel } from './accumulate';
import { dropout } from './dropout';
import { defaultMatmulVariant, matmul, type MatmulVariant } from './matmul';

/**
 * LoRA on a frozen linear layer, fused into the big matmul:
 *   xa = x A^T                      [M, r]   (kept for the backward)
 *   y  = x W^T + s xa B^T           [M, N]   (one kernel: the rank-r term is added in the
 *                                             epilogue of the x W^T tile, no extra pass)
 * with x [M, K] (M tokens; a [batch, T, K] x is treated as [batch*T, K]), W [N, K] frozen,
 * A [r, K], B [N, r], s = alpha / r.
 *
 * Backward (W frozen, so no dW):
 *   dyb = dy B                      [M, r]
 *   dx  = dy W + s dyb A            [M, K]   (fused the same way)
 *   dA  = s dyb^T x                 [r, K]
 *   dB  = s dy^T xa                 [N, r]
 * Five dispatches: forward xa (shaders/lora_forward_prep.wgsl), then y; backward
 * {dB, dyb} in one dispatch split by workgroup range (shaders/lora_backward_prep.wgsl: both
 * need only dy and the forward's xa), then dx, then dA (shaders/lora_backward_da.wgsl).
 * The skinny products (one side r) keep an 8x8 block per invocation: on software adapters
 * loads set the pace, and a generic 4x4 matmul tile would load each element for only 4
 * FMAs, which made the four cost over a quarter of the two big products at r = 8.
 * `variant` picks the kernel of the two big products. Under `naive` everything stays the
 * plain baseline: six plain matmul dispatches, naive throughout.
 *
 * The model's projections are GPT-2 Conv1D layers, W stored [K, N] (y = x W): `conv1d`
 * says so and only flips the transposes of the two big products. PEFT's lora_dropout acts
 * on the branch input alone: the caller passes the dropped-out input as `xBranch` (used
 * for xa and dA) and, in the backward, `branchDropout` to apply the same mask to the
 * branch's part of dx (which then cannot ride in the dx epilogue).
 */
export interface LoraLayout {
  /** W is stored [K, N] (GPT-2's Conv1D) instead of [N, K] (nn.Linear). */
  conv1d?: boolean;
  /** Input of the low-rank branch when it differs from x (dropout); same shape as x. */
  xBranch?: GpuTensor;
}

export interface LoraForwardOptions extends LoraLayout {
  /** [N]: added to y in the same store (the layer's bias). */
  bias?: GpuTensor;
  /** Output tensors to write instead of allocating: y [..., N], xa [..., r]. */
  y?: GpuTensor;
  xa?: GpuTensor;
  variant?: MatmulVariant;
}

export interface LoraBackwardOptions extends LoraLayout {
  /** Skip dx (the input needs no gradient: a frozen embedding below the first block). */
  skipDx?: boolean;
  /** The forward's branch dropout (rate, seed): its mask is applied to the branch's dx. */
  branchDropout?: { rate: number; seed: number };
  /** Output tensors to write instead of allocating: dx like x, dA like A, dB like B. */
  dx?: GpuTensor;
  dA?: GpuTensor;
  dB?: GpuTensor;
  /**
   * Add into the given dx / dA / dB instead of overwriting them (gradient accumulation
   * over micro-batches; dx summed over the projections that read the same x).
   */
  accumulate?: boolean;
  variant?: MatmulVariant;
}

interface LoraDims {
  M: number;
  K: number;
  N: number;
  r: number;
  /** x's leading dimensions ([M] or [batch, T]). */
  lead: number[];
}

function dims(kernel: string, x: GpuTensor, W: GpuTensor, A: GpuTensor, B: GpuTensor, scale: number, layout: LoraLayout): LoraDims {
  for (const [what, t] of [['x', x], ['W', W], ['A', A], ['B', B]] as const) expectDType(kernel, what, t, 'f32');
  if (x.shape.length !== 2 && x.shape.length !== 3) {
    throw new ShapeError(kernel, `x has shape ${shapeToString(x.shape)}, expected [M, K] or [batch, T, K]`);
  }
  const wDims = layout.conv1d ? '[K, N]' : '[N, K]';
  if (W.shape.length !== 2) throw new ShapeError(kernel, `W has shape ${shapeToString(W.shape)}, expected ${wDims}`);
  if (A.shape.length !== 2) throw new ShapeError(kernel, `A has shape ${shapeToString(A.shape)}, expected [r, K]`);
  const lead = x.shape.slice(0, -1);
  const K = x.shape[x.shape.length - 1];
  const M = lead.reduce((p, d) => p * d, 1);
  const N = layout.conv1d ? W.shape[1] : W.shape[0];
  const r = A.shape[0];
  if (r < 1) throw new ShapeError(kernel, `A has shape ${shapeToString(A.shape)}: rank r must be >= 1`);
  expectShape(kernel, 'W', W, layout.conv1d ? [K, N] : [N, K]);
  if (layout.xBranch) {
    expectDType(kernel, 'xBranch', layout.xBranch, 'f32');
    expectShape(kernel, 'xBranch', layout.xBranch, x.shape);
  }
  expectShape(kernel, 'A', A, [r, K]);
  expectShape(kernel, 'B', B, [N, r]);
  expectFinite(kernel, 'scale', scale);
  return { M, K, N, r, lead };
}

function isNaive(ctx: GpuContext, variant: MatmulVariant | undefined): boolean {
  return (variant ?? defaultMatmulVariant(ctx)) === 'naive';
}

/** The same buffer seen with another shape of the same size (tensors are contiguous). */
function view(t: GpuTensor, shape: number[]): GpuTensor {
  return { buffer: t.buffer, shape, dtype: t.dtype, size: t.size };
}

/** Invocations per workgroup of the skinny kernels: few, so that their few blocks spread over all cores. */
const SKINNY_WG = 8;

/** Workgroups covering a [rows, cols] output in 8x8 blocks, SKINNY_WG blocks per workgroup. */
function skinnyGroups(rows: number, cols: number): number {
  return Math.ceil((Math.ceil(rows / 8) * Math.ceil(cols / 8)) / SKINNY_WG);
}

function skinnyGrid(ctx: GpuContext, kernel: string, groups: number): [number, number] {
  const grid = grid1d(ctx, groups, 1);
  if (grid[1] > ctx.limits.maxComputeWorkgroupsPerDimension) {
    throw new ShapeError(kernel, `${groups} workgroups are more than this device can dispatch`);
  }
  return grid;
}

/** y = x W^T + scale (x A^T) B^T; returns y [..., N] and xa = x A^T [..., r] for the backward. */
export function loraForward(
  ctx: GpuContext,
  x: GpuTensor,
  W: GpuTensor,
  A: GpuTensor,
  B: GpuTensor,
  scale: number,
  opts: LoraForwardOptions = {},
): { y: GpuTensor; xa: GpuTensor } {
  const kernel = 'loraForward';
  const { M, K, N, r, lead } = dims(kernel, x, W, A, B, scale, opts);
  const inputs = { x, W, A, B };
  expectOutput(kernel, 'xa', opts.xa, [...lead, r], inputs);
  expectOutput(kernel, 'y', opts.y, [...lead, N], opts.xa ? { ...inputs, xa: opts.xa } : inputs);
  const naive = isNaive(ctx, opts.variant);
  const grid = naive ? null : skinnyGrid(ctx, kernel, skinnyGroups(M, r));
  const xa = opts.xa ?? ctx.empty([...lead, r], 'f32', 'lora.xa');
  const y = opts.y ?? ctx.empty([...lead, N], 'f32', 'lora.y');
  const x2 = view(x, [M, K]);
  const xb = opts.xBranch ?? x;
  const xa2 = view(xa, [M, r]);
  if (naive) {
    matmul(ctx, view(xb, [M, K]), A, { transB: true, out: xa2, variant: 'naive' });
  } else if (M > 0) {
    ctx.dispatch(
      { name: 'lora_forward_prep', shader: 'lora_forward_prep', constants: { WG: SKINNY_WG } },
      { params: new Params().u32(M).u32(K).u32(r).bytes(), buffers: [xb, A, xa], workgroups: grid! },
    );
  }
  matmul(ctx, x2, W, {
    transB: !opts.conv1d,
    out: view(y, [M, N]),
    variant: opts.variant,
    bias: opts.bias,
    lowRank: { u: xa2, v: B, scale },
  });
  return { y, xa };
}

/**
 * Gradients of loraForward's y for a frozen W: dx, dA, dB (see the header for the math).
 * dx is null with `skipDx`.
 */
export function loraBackward(
  ctx: GpuContext, x: GpuTensor, W: GpuTensor, A: GpuTensor, B: GpuTensor, scale: number, xa: GpuTensor, dy: GpuTensor,
  opts?: LoraBackwardOptions & { skipDx?: false },
): { dx: GpuTensor; dA: GpuTensor; dB: GpuTensor };
export function loraBackward(
  ctx: GpuContext, x: GpuTensor, W: GpuTensor, A: GpuTensor, B: GpuTensor, scale: number, xa: GpuTensor, dy: GpuTensor,
  opts: LoraBackwardOptions,
): { dx: GpuTensor | null; dA: GpuTensor; dB: GpuTensor };
export function loraBackward(
  ctx: GpuContext,
  x: GpuTensor,
  W: GpuTensor,
  A: GpuTensor,
  B: GpuTensor,
  scale: number,
  xa: GpuTensor,
  dy: GpuTensor,
  opts: LoraBackwardOptions = {},
): { dx: GpuTensor | null; dA: GpuTensor; dB: GpuTensor } {
  const kernel = 'loraBackward';
  const { M, K, N, r, lead } = dims(kernel, x, W, A, B, scale, opts);
  expectDType(kernel, 'xa', xa, 'f32');
  expectDType(kernel, 'dy', dy, 'f32');
  expectShape(kernel, 'xa', xa, [...lead, r]);
  expectShape(kernel, 'dy', dy, [...lead, N]);
  const { accumulate = false, variant, skipDx = false, branchDropout } = opts;
  if (accumulate && !((opts.dx || skipDx) && opts.dA && opts.dB)) {
    throw new ShapeError(kernel, 'accumulate needs dx, dA and dB (the tensors to add into)');
  }
  if (skipDx && opts.dx) throw new ShapeError(kernel, 'dx was given but skipDx is set');
  const inputs = { x, W, A, B, xa, dy };
  expectOutput(kernel, 'dx', opts.dx, [...lead, K], inputs);
  expectOutput(kernel, 'dA', opts.dA, [r, K], inputs);
  expectOutput(kernel, 'dB', opts.dB, [N, r], inputs);
  const given: Record<string, GpuTensor> = {};
  if (opts.dx) given.dx = opts.dx;
  if (opts.dA) given.dA = opts.dA;
  if (opts.dB) given.dB = opts.dB;
  expectNoAlias(kernel, given, {});
  const naive = isNaive(ctx, variant);
  const g0 = skinnyGroups(N, r);
  const g1 = skinnyGroups(M, r);
  const prepGrid = naive ? null : skinnyGrid(ctx, kernel, g0 + g1);
  const daGrid = naive ? null : skinnyGrid(ctx, kernel, skinnyGroups(r, K));
  const dx = skipDx ? null : (opts.dx ?? ctx.empty([...lead, K], 'f32', 'lora.dx'));
  const dA = opts.dA ?? ctx.empty([r, K], 'f32', 'lora.dA');
  const dB = opts.dB ?? ctx.empty([N, r], 'f32', 'lora.dB');
  const xb = opts.xBranch ?? x;
  const dy2 = view(dy, [M, N]);
  const transB = !!opts.conv1d;
  // dx = dy W^T + scale (dyb A): fused into one matmul, except under branch dropout, whose
  // mask belongs on the branch's part alone.
  const encodeDx = (dyb: GpuTensor) => {
    if (!dx) return;
    const dx2 = view(dx, [M, K]);
    if (!branchDropout) {
      matmul(ctx, dy2, W, { transB, out: dx2, accumulate, variant, lowRank: { u: dyb, v: A, vTransposed: true, scale } });
      return;
    }
    matmul(ctx, dy2, W, { transB, out: dx2, accumulate, variant });
    const low = matmul(ctx, dyb, A, { alpha: scale, variant });
    const masked = dropout(ctx, low, branchDropout.rate, branchDropout.seed);
    accumulateKernel(ctx, dx2, masked);
    ctx.release(low, masked);
  };
  if (naive) {
    const dyb = matmul(ctx, dy2, B, { variant: 'naive' });
    encodeDx(dyb);
    matmul(ctx, dyb, view(xb, [M, K]), { transA: true, alpha: scale, out: dA, accumulate, variant });
    matmul(ctx, dy2, view(xa, [M, r]), { transA: true, alpha: scale, out: dB, accumulate, variant });
    ctx.release(dyb);
    return { dx, dA, dB };
  }
  if (M === 0) {
    // No tokens: dx is empty and the gradients of A and B are sums over nothing.
    if (!accumulate) {
      ctx.fill(dA, 0);
      ctx.fill(dB, 0);
    }
    return { dx, dA, dB };
  }
  const dyb = ctx.empty([M, r], 'f32', 'lora.dyb');
  const acc = accumulate ? 1 : 0;
  ctx.dispatch(
    { name: 'lora_backward_prep', shader: 'lora_backward_prep', constants: { WG: SKINNY_WG, ACCUMULATE: acc } },
    {
      params: new Params().u32(M).u32(N).u32(r).f32(scale).u32(g0).u32(g1).bytes(),
      buffers: [dy, xa, B, dB, dyb],
      workgroups: prepGrid!,
    },
  );
  encodeDx(dyb);
  ctx.dispatch(
    { name: 'lora_backward_da', shader: 'lora_backward_da', constants: { WG: SKINNY_WG, ACCUMULATE: acc } },
    { params: new Params().u32(M).u32(K).u32(r).f32(scale).bytes(), buffers: [dyb, xb, dA], workgroups: daGrid! },
  );
  // Released after encoding: the pool hands it out again only to later dispatches.
  ctx.release(dyb);
  return { dx, dA, dB };
}

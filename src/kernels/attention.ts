import type { GpuContext, KernelSpec } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import { grid1d } from '../gpu/grid';
import { Params } from '../gpu/params';
import type { GpuTensor } from '../gpu/tensor';
import { expectDType, expectFinite, expectNoAlias, expectRank, expectShape } from './check';

// GPT-2 causal self-attention on head-major tensors:
//   q, k, v, out, dOut, dq, dk, dv   (B, H, T, D)
//   lse                              (B, H, T)     per-row log-sum-exp of the scores
//   probs                            (B, H, T, T)  attention matrix (the 'probs' variant)
// Get q, k, v from the QKV projection with splitQkv and hand `out` to mergeHeads
// (src/kernels/heads.ts).
//
// Two implementations of the same maths, both deterministic (no atomics):
//   'probs'  shaders/attention_probs_*.wgsl: scores, softmax and products as register-
//            tiled matrix products, keeping P for the backward. Fastest on the software
//            adapter; needs B*H*T*T floats (twice that, briefly, in the backward).
//   'rows'   shaders/attention_forward.wgsl, attention_backward.wgsl: one thread per row
//            with a single-pass softmax, saving only lse; O(B*H*T*D) memory for any T.
// 'auto' (the default) takes 'probs' when P fits the budget and the device's binding
// limit, else 'rows'. The backward follows whatever the forward saved.

/** Largest head size the 'rows' kernels' register arrays hold (GPT-2 uses 64). */
export const ROWS_MAX_HEAD_DIM = 128;

const WG = 64;
const LOG2E = Math.LOG2E;

export type AttentionVariant = 'rows' | 'probs';

/** Default cap on the bytes of P for 'auto' to choose the 'probs' variant. */
export const DEFAULT_PROBS_BUDGET_BYTES = 64 * 1024 * 1024;

export interface AttentionOutput {
  out: GpuTensor;
  lse: GpuTensor;
  /** The attention matrix (zeros above the diagonal); present for the 'probs' variant. */
  probs?: GpuTensor;
}

/** What the backward needs from the forward: its inputs and outputs. */
export interface AttentionSaved extends AttentionOutput {
  q: GpuTensor;
  k: GpuTensor;
  v: GpuTensor;
}

export interface AttentionGrads {
  dq: GpuTensor;
  dk: GpuTensor;
  dv: GpuTensor;
}

export interface AttentionForwardOptions {
  /** Defaults to 1/sqrt(D). */
  scale?: number;
  variant?: AttentionVariant | 'auto';
  /** 'auto' keeps P only when it takes at most this many bytes (default 64 MiB). */
  probsBudgetBytes?: number;
  out?: GpuTensor;
  lse?: GpuTensor;
  probs?: GpuTensor;
}

function rowsSpec(shader: 'attention_forward' | 'attention_backward', entryPoint: string, D: number): KernelSpec {
  return { name: `${shader}.${entryPoint}`, shader, entryPoint, constants: { WG, D } };
}

function probsSpec(pass: 'forward' | 'backward', entryPoint: string, D: number): KernelSpec {
  const shader = `attention_probs_${pass}`;
  return { name: `${shader}.${entryPoint}`, shader, entryPoint, constants: { WG, D } };
}

/** Which variant a forward with these options takes for this shape on this device. */
export function chooseAttentionVariant(
  ctx: GpuContext,
  shape: readonly number[],
  opts: Pick<AttentionForwardOptions, 'variant' | 'probsBudgetBytes' | 'probs'> = {},
): AttentionVariant {
  const want = opts.variant ?? (opts.probs ? 'probs' : 'auto');
  if (want !== 'auto') return want;
  const [B, H, T] = shape;
  const bytes = B * H * T * T * 4;
  const budget = opts.probsBudgetBytes ?? DEFAULT_PROBS_BUDGET_BYTES;
  return bytes <= budget && bytes <= ctx.limits.maxStorageBufferBindingSize ? 'probs' : 'rows';
}

/** Checks q, k, v (and any further same-shaped tensors) and returns [B, H, T, D]. */
function headShape(kernel: string, q: GpuTensor, others: Record<string, GpuTensor>): [number, number, number, number] {
  expectDType(kernel, 'q', q, 'f32');
  expectRank(kernel, 'q', q, 4);
  const [B, H, T, D] = q.shape;
  if (B === 0 || H === 0 || T === 0 || D === 0) throw new ShapeError(kernel, `q has an empty shape [${q.shape.join(', ')}]`);
  for (const [name, t] of Object.entries(others)) {
    expectDType(kernel, name, t, 'f32');
    expectShape(kernel, name, t, q.shape);
  }
  return [B, H, T, D];
}

function attentionScale(kernel: string, D: number, scale: number | undefined): number {
  const s = scale ?? 1 / Math.sqrt(D);
  expectFinite(kernel, 'scale', s);
  return s;
}

function expectRowsHeadDim(kernel: string, D: number): void {
  if (D > ROWS_MAX_HEAD_DIM) {
    throw new ShapeError(
      kernel,
      `head size D=${D} is over the 'rows' variant's maximum of ${ROWS_MAX_HEAD_DIM} (the 'probs' variant has no such limit)`,
    );
  }
}

/** Every tensor the call will allocate must fit one storage binding; checked up front. */
function expectFits(ctx: GpuContext, kernel: string, tensors: Record<string, readonly number[]>): void {
  const limit = ctx.limits.maxStorageBufferBindingSize;
  for (const [name, shape] of Object.entries(tensors)) {
    const bytes = shape.reduce((a, b) => a * b, 4);
    if (bytes > limit) {
      throw new ShapeError(
        kernel,
        `${name} [${shape.join(', ')}] needs ${bytes} bytes, over this device's maxStorageBufferBindingSize of ${limit}`,
      );
    }
  }
}


/** Keeps the given entries only, for checks that apply to caller-supplied outputs. */
function given(entries: Record<string, GpuTensor | undefined>): Record<string, GpuTensor> {
  const out: Record<string, GpuTensor> = {};
  for (const [k, t] of Object.entries(entries)) if (t) out[k] = t;
  return out;
}

/**
 * out = softmax(q k^T * scale + causal mask) v for every (batch, head), and the per-row
 * log-sum-exp of the masked, scaled scores; the 'probs' variant also returns P.
 */
export function attentionForward(
  ctx: GpuContext,
  q: GpuTensor,
  k: GpuTensor,
  v: GpuTensor,
  opts: AttentionForwardOptions = {},
): AttentionOutput {
  const K = 'attentionForward';
  const [B, H, T, D] = headShape(K, q, { k, v });
  const scale = attentionScale(K, D, opts.scale);
  if (opts.probsBudgetBytes !== undefined) expectFinite(K, 'probsBudgetBytes', opts.probsBudgetBytes);
  const variant = chooseAttentionVariant(ctx, q.shape, opts);
  if (variant !== 'rows' && variant !== 'probs') throw new ShapeError(K, `unknown variant "${String(variant)}"`);
  if (opts.out) {
    expectDType(K, 'out', opts.out, 'f32');
    expectShape(K, 'out', opts.out, q.shape);
  }
  if (opts.lse) {
    expectDType(K, 'lse', opts.lse, 'f32');
    expectShape(K, 'lse', opts.lse, [B, H, T]);
  }
  if (opts.probs) {
    if (variant !== 'probs') throw new ShapeError(K, `probs was given but the variant is "${variant}"`);
    expectDType(K, 'probs', opts.probs, 'f32');
    expectShape(K, 'probs', opts.probs, [B, H, T, T]);
  }
  expectNoAlias(K, given({ out: opts.out, lse: opts.lse, probs: opts.probs }), { q, k, v });
  if (variant === 'rows') expectRowsHeadDim(K, D);
  else expectFits(ctx, K, { probs: [B, H, T, T] });
  const probs = variant === 'probs' ? (opts.probs ?? ctx.empty([B, H, T, T], 'f32', 'attention.probs')) : undefined;
  const out = opts.out ?? ctx.empty(q.shape, 'f32', 'attention.out');
  const lse = opts.lse ?? ctx.empty([B, H, T], 'f32', 'attention.lse');
  const rows = B * H * T;
  if (!probs) {
    ctx.dispatch(rowsSpec('attention_forward', 'main', D), {
      params: new Params().u32(rows).u32(T).f32(scale * LOG2E).bytes(),
      buffers: [q, k, v, out, lse],
      workgroups: grid1d(ctx, rows, WG),
    });
    return { out, lse };
  }
  const nb = Math.ceil(T / 4);
  const params = new Params().u32(B * H).u32(T).f32(scale * LOG2E).bytes();
  ctx.dispatch(probsSpec('forward', 'scores', D), {
    params,
    buffers: [q, k, probs],
    workgroups: grid1d(ctx, B * H * ((nb * (nb + 1)) / 2), WG),
  });
  ctx.dispatch(probsSpec('forward', 'softmax', D), { params, buffers: [probs, lse], workgroups: grid1d(ctx, rows, WG) });
  ctx.dispatch(probsSpec('forward', 'pv', D), {
    params,
    buffers: [probs, v, out],
    workgroups: grid1d(ctx, B * H * nb * Math.ceil(D / 8), WG),
  });
  return { out, lse, probs };
}

/**
 * Gradients of attentionForward with respect to q, k and v given dOut = dL/d(out).
 * `saved` holds the forward's inputs and outputs; the variant follows the forward (P in
 * `saved.probs` selects 'probs'). `scale` must match the forward's.
 * Deterministic: every gradient element has a single writer and sums in a fixed order.
 */
export function attentionBackward(
  ctx: GpuContext,
  saved: AttentionSaved,
  dOut: GpuTensor,
  opts: { scale?: number; dq?: GpuTensor; dk?: GpuTensor; dv?: GpuTensor } = {},
): AttentionGrads {
  const K = 'attentionBackward';
  const { q, k, v, out, lse, probs } = saved;
  const [B, H, T, D] = headShape(K, q, { k, v, out, dOut });
  expectDType(K, 'lse', lse, 'f32');
  expectShape(K, 'lse', lse, [B, H, T]);
  if (probs) {
    expectDType(K, 'probs', probs, 'f32');
    expectShape(K, 'probs', probs, [B, H, T, T]);
  }
  const scale = attentionScale(K, D, opts.scale);
  const outs = given({ dq: opts.dq, dk: opts.dk, dv: opts.dv });
  for (const [name, t] of Object.entries(outs)) {
    expectDType(K, name, t, 'f32');
    expectShape(K, name, t, q.shape);
  }
  expectNoAlias(K, outs, given({ q, k, v, out, lse, dOut, probs }));
  if (probs) expectFits(ctx, K, { dS: [B, H, T, T] });
  else expectRowsHeadDim(K, D);
  // Scratch is released right after encoding: the pool only hands it to later work on
  // the same queue.
  const dS = probs ? ctx.empty([B, H, T, T], 'f32', 'attention.dS') : undefined;
  const delta = ctx.empty([B, H, T], 'f32', 'attention.delta');
  const dq = opts.dq ?? ctx.empty(q.shape, 'f32', 'attention.dq');
  const dk = opts.dk ?? ctx.empty(q.shape, 'f32', 'attention.dk');
  const dv = opts.dv ?? ctx.empty(q.shape, 'f32', 'attention.dv');
  const rows = B * H * T;
  if (probs && dS) {
    const nb = Math.ceil(T / 4);
    const tiles = B * H * nb * Math.ceil(D / 4);
    const params = new Params().u32(B * H).u32(T).f32(scale).bytes();
    ctx.dispatch(probsSpec('backward', 'delta_rows', D), {
      params,
      buffers: [dOut, out, delta],
      workgroups: grid1d(ctx, rows, WG),
    });
    ctx.dispatch(probsSpec('backward', 'dscores', D), {
      params,
      buffers: [dOut, v, probs, delta, dS],
      workgroups: grid1d(ctx, B * H * ((nb * (nb + 1)) / 2), WG),
    });
    ctx.dispatch(probsSpec('backward', 'query_grads', D), {
      params,
      buffers: [dS, k, dq],
      workgroups: grid1d(ctx, B * H * nb * Math.ceil(D / 8), WG),
    });
    ctx.dispatch(probsSpec('backward', 'key_grads', D), {
      params,
      buffers: [dOut, q, probs, dS, dk, dv],
      workgroups: grid1d(ctx, tiles, WG),
    });
    ctx.release(dS, delta);
    return { dq, dk, dv };
  }
  // delta[t] = dOut[t] . out[t] is written by the first pass for the second.
  const params = new Params().u32(rows).u32(T).f32(scale).f32(scale * LOG2E).bytes();
  const workgroups = grid1d(ctx, rows, WG);
  ctx.dispatch(rowsSpec('attention_backward', 'query_grads', D), {
    params,
    buffers: [q, k, v, lse, dOut, delta, out, dq],
    workgroups,
  });
  ctx.dispatch(rowsSpec('attention_backward', 'key_grads', D), {
    params,
    buffers: [q, k, v, lse, dOut, delta, dk, dv],
    workgroups,
  });
  ctx.release(delta);
  return { dq, dk, dv };
}

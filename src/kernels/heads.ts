import type { GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import { grid1d } from '../gpu/grid';
import { Params } from '../gpu/params';
import { shapeToString, type GpuTensor } from '../gpu/tensor';
import { expectDType, expectNoAlias, expectPositiveInt, expectRank, expectShape } from './check';

// Layout changes around attention (see shaders/heads.wgsl):
//   qkv (B, T, 3C) <-> q, k, v (B, H, T, D)      split / join
//   o (B, H, T, D) <-> merged (B, T, C)           merge heads / its backward
// C = H * D. Token-major tensors may also be passed flattened as (B*T, width), which is
// how the projections' matmuls see them.

const WG = 256;
const SPLIT = { name: 'split_qkv', shader: 'heads', entryPoint: 'split_qkv', constants: { WG } };
const JOIN = { name: 'split_qkv_backward', shader: 'heads', entryPoint: 'join_qkv', constants: { WG } };
const MERGE = { name: 'merge_heads', shader: 'heads', entryPoint: 'swap_axes', constants: { WG } };
const MERGE_BACK = { name: 'merge_heads_backward', shader: 'heads', entryPoint: 'swap_axes', constants: { WG } };

export interface QkvHeads {
  q: GpuTensor;
  k: GpuTensor;
  v: GpuTensor;
}

/** Accepts a token-major tensor as (B, T, width) or flattened (B*T, width). */
function expectTokenMajor(kernel: string, what: string, t: GpuTensor, B: number, T: number, width: number): void {
  expectDType(kernel, what, t, 'f32');
  const s = t.shape;
  const ok =
    (s.length === 3 && s[0] === B && s[1] === T && s[2] === width) ||
    (s.length === 2 && s[0] === B * T && s[1] === width);
  if (!ok) {
    throw new ShapeError(
      kernel,
      `${what} has shape ${shapeToString(s)}, expected ${shapeToString([B, T, width])} or ${shapeToString([B * T, width])}`,
    );
  }
}

function expectHeadMajor(kernel: string, what: string, t: GpuTensor, shape: readonly number[]): void {
  expectDType(kernel, what, t, 'f32');
  expectShape(kernel, what, t, shape);
}


/**
 * qkv (B, T, 3C) or (B*T, 3C) -> q, k, v each (B, H, T, D), D = C / H.
 * `out` may supply any of the three outputs.
 */
export function splitQkv(
  ctx: GpuContext,
  qkv: GpuTensor,
  B: number,
  T: number,
  H: number,
  out: Partial<QkvHeads> = {},
): QkvHeads {
  const K = 'splitQkv';
  expectPositiveInt(K, 'B', B);
  expectPositiveInt(K, 'T', T);
  expectPositiveInt(K, 'H', H);
  const width = qkv.shape[qkv.shape.length - 1];
  if (!(width > 0) || width % (3 * H) !== 0) {
    throw new ShapeError(K, `qkv has shape ${shapeToString(qkv.shape)}: last dim must be 3*H*D with H=${H}`);
  }
  const D = width / (3 * H);
  expectTokenMajor(K, 'qkv', qkv, B, T, width);
  const shape = [B, H, T, D];
  // Checked before allocating, so a bad `out` leaks nothing.
  const given: Record<string, GpuTensor> = {};
  for (const name of ['q', 'k', 'v'] as const) {
    const t = out[name];
    if (t) {
      expectHeadMajor(K, name, t, shape);
      given[name] = t;
    }
  }
  expectNoAlias(K, given, { qkv });
  const q = out.q ?? ctx.empty(shape, 'f32', 'splitQkv.q');
  const k = out.k ?? ctx.empty(shape, 'f32', 'splitQkv.k');
  const v = out.v ?? ctx.empty(shape, 'f32', 'splitQkv.v');
  const n = B * H * T * D;
  ctx.dispatch(SPLIT, {
    params: new Params().u32(n).u32(H).u32(T).u32(D).bytes(),
    buffers: [qkv, q, k, v],
    workgroups: grid1d(ctx, n, WG),
  });
  return { q, k, v };
}

/**
 * Backward of splitQkv: dq, dk, dv (B, H, T, D) -> dqkv (B, T, 3C). `out` may be
 * (B, T, 3C) or (B*T, 3C).
 */
export function splitQkvBackward(
  ctx: GpuContext,
  dq: GpuTensor,
  dk: GpuTensor,
  dv: GpuTensor,
  out?: GpuTensor,
): GpuTensor {
  const K = 'splitQkvBackward';
  expectRank(K, 'dq', dq, 4);
  const [B, H, T, D] = dq.shape;
  expectHeadMajor(K, 'dq', dq, dq.shape);
  expectHeadMajor(K, 'dk', dk, dq.shape);
  expectHeadMajor(K, 'dv', dv, dq.shape);
  const width = 3 * H * D;
  if (out) {
    expectTokenMajor(K, 'out', out, B, T, width);
    expectNoAlias(K, { out }, { dq, dk, dv });
  }
  const dqkv = out ?? ctx.empty([B, T, width], 'f32', 'splitQkvBackward.dqkv');
  const n = B * H * T * D;
  ctx.dispatch(JOIN, {
    params: new Params().u32(n).u32(H).u32(T).u32(D).bytes(),
    buffers: [dq, dk, dv, dqkv],
    workgroups: grid1d(ctx, n, WG),
  });
  return dqkv;
}

/** o (B, H, T, D) -> (B, T, C), C = H*D. `out` may be (B, T, C) or (B*T, C). */
export function mergeHeads(ctx: GpuContext, o: GpuTensor, out?: GpuTensor): GpuTensor {
  const K = 'mergeHeads';
  expectRank(K, 'o', o, 4);
  const [B, H, T, D] = o.shape;
  expectHeadMajor(K, 'o', o, o.shape);
  if (out) {
    expectTokenMajor(K, 'out', out, B, T, H * D);
    expectNoAlias(K, { out }, { o });
  }
  const merged = out ?? ctx.empty([B, T, H * D], 'f32', 'mergeHeads.out');
  const n = o.size;
  ctx.dispatch(MERGE, {
    params: new Params().u32(n).u32(H).u32(T).u32(D).bytes(),
    buffers: [o, merged],
    workgroups: grid1d(ctx, n, WG),
  });
  return merged;
}

/**
 * Backward of mergeHeads: dOut (B, T, C) or (B*T, C) -> dO (B, H, T, D). B and T are
 * explicit because a flattened dOut does not carry them.
 */
export function mergeHeadsBackward(
  ctx: GpuContext,
  dOut: GpuTensor,
  B: number,
  T: number,
  H: number,
  out?: GpuTensor,
): GpuTensor {
  const K = 'mergeHeadsBackward';
  expectPositiveInt(K, 'B', B);
  expectPositiveInt(K, 'T', T);
  expectPositiveInt(K, 'H', H);
  const C = dOut.shape[dOut.shape.length - 1];
  if (!(C > 0) || C % H !== 0) {
    throw new ShapeError(K, `dOut has shape ${shapeToString(dOut.shape)}: last dim must be H*D with H=${H}`);
  }
  expectTokenMajor(K, 'dOut', dOut, B, T, C);
  const D = C / H;
  const shape = [B, H, T, D];
  if (out) {
    expectHeadMajor(K, 'out', out, shape);
    expectNoAlias(K, { out }, { dOut });
  }
  const dO = out ?? ctx.empty(shape, 'f32', 'mergeHeadsBackward.out');
  const n = dO.size;
  ctx.dispatch(MERGE_BACK, {
    params: new Params().u32(n).u32(T).u32(H).u32(D).bytes(),
    buffers: [dOut, dO],
    workgroups: grid1d(ctx, n, WG),
  });
  return dO;
}

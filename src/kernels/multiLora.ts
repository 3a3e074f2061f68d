import type { GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import { grid1d } from '../gpu/grid';
import { Params } from '../gpu/params';
import type { GpuTensor } from '../gpu/tensor';
import { expectDType, expectFinite, expectNoAlias, expectPositiveInt, expectRank, expectShape } from './check';

/**
 * Multi-adapter LoRA: every row of a batch goes through its own adapter(s), in a fixed
 * number of dispatches however many adapters there are (forward 2, backward 5).
 * Row m has k slots (adapter index, weight):
 *
 *   x   [M, K] f32      rows (tokens)
 *   A   [E, r, K] f32   down projections of the E adapters
 *   B   [E, N, r] f32   up projections
 *   idx [M, k] u32      adapter of each slot; NO_ADAPTER (0xFFFFFFFF) contributes nothing
 *   w   [M, k] f32      weight of each slot
 *
 *   y[m] = base[m] + sum_j w[m, j] * scale * B_{idx[m,j]} A_{idx[m,j]} x[m]        [M, N]
 *
 * SEE: k = 1, w = 1, idx = the expert that accepted the query (NO_ADAPTER: base model).
 * MoSEs: idx, w = indices, gates from topkRoute; dw feeds topkRouteBackward's dgates.
 *
 * Indices are data on the GPU, so the wrappers cannot see them: on the GPU any index >= E
 * is treated as "no adapter". Use `uploadAdapterSlots` to validate host-side indices.
 */

export const NO_ADAPTER = 0xffffffff;

const WG = 64;
const spec = (shader: string, entryPoint?: string) => ({
  name: entryPoint ? `${shader}.${entryPoint}` : shader,
  shader,
  entryPoint,
  constants: { WG },
});
const DOWN = spec('multi_lora_down');
const UP = spec('multi_lora_up');
const UP_BASE = spec('multi_lora_up', 'main_base');
const UP_ACC = spec('multi_lora_up', 'main_acc');
const BWD_SLOTS = spec('multi_lora_bwd_slots');
const BWD_DX = spec('multi_lora_bwd_dx');
const BUCKET = spec('multi_lora_bucket');
const BWD_DA = spec('multi_lora_bwd_da');
const BWD_DB = spec('multi_lora_bwd_db');

export interface MultiLoraGrads {
  dx: GpuTensor;
  dA: GpuTensor;
  dB: GpuTensor;
  dw: GpuTensor;
}

export interface MultiLoraShape {
  M: number;
  K: number;
  N: number;
  E: number;
  r: number;
  k: number;
}

const quads = (n: number) => Math.ceil(n / 4);
const octets = (n: number) => Math.ceil(n / 8);

export interface MultiLoraForwardOptions {
  /** [M, N], e.g. x W^T already computed: y = base + delta. */
  base?: GpuTensor;
  /** [M, N] destination for y; may be `base` itself to add the delta in place. */
  out?: GpuTensor;
  /** [M, k, r] destination for xa. */
  xa?: GpuTensor;
}

/**
 * Forward. Returns y [M, N] (base + delta, or the delta alone without a base) and
 * xa [M, k, r] (A x per slot, unweighted; zeros for empty slots), which the backward needs.
 */
export function multiLoraForward(
  ctx: GpuContext,
  x: GpuTensor,
  A: GpuTensor,
  B: GpuTensor,
  idx: GpuTensor,
  w: GpuTensor,
  scale: number,
  opts: MultiLoraForwardOptions = {},
): { y: GpuTensor; xa: GpuTensor } {
  const K = 'multiLoraForward';
  const d = checkCommon(K, x, A, B, idx, w, scale);
  const { base, out } = opts;
  if (base) {
    expectDType(K, 'base', base, 'f32');
    expectShape(K, 'base', base, [d.M, d.N]);
  }
  if (out) {
    expectDType(K, 'out', out, 'f32');
    expectShape(K, 'out', out, [d.M, d.N]);
  }
  if (opts.xa) {
    expectDType(K, 'xa', opts.xa, 'f32');
    expectShape(K, 'xa', opts.xa, [d.M, d.k, d.r]);
    expectNoAlias(K, { xa: opts.xa }, { x, A, idx, ...(out ? { out } : {}) });
  }
  if (out) expectNoAlias(K, { out }, { B, idx, w });
  const inPlace = base !== undefined && out !== undefined && base.buffer === out.buffer;

  const xa = opts.xa ?? ctx.empty([d.M, d.k, d.r], 'f32', 'multiLora.xa');
  ctx.dispatch(DOWN, {
    params: new Params().u32(d.M).u32(d.K).u32(d.E).u32(d.r).u32(d.k).u32(octets(d.r)).bytes(),
    buffers: [x, A, idx, xa],
    workgroups: grid1d(ctx, d.M * d.k * octets(d.r), WG),
  });

  const y = out ?? ctx.empty([d.M, d.N], 'f32', 'multiLora.y');
  const params = new Params().u32(d.M).u32(d.N).u32(d.E).u32(d.r).u32(d.k).u32(octets(d.N)).f32(scale).bytes();
  const workgroups = grid1d(ctx, d.M * octets(d.N), WG);
  if (inPlace) {
    ctx.dispatch(UP_ACC, { params, buffers: [xa, B, idx, w, y], workgroups });
  } else if (base) {
    ctx.dispatch(UP_BASE, { params, buffers: [xa, B, idx, w, y, base], workgroups });
  } else {
    ctx.dispatch(UP, { params, buffers: [xa, B, idx, w, y], workgroups });
  }
  return { y, xa };
}

/**
 * Backward, given dy [M, N] and the forward's xa. Returns
 *   dx [M, K]    the adapter path's part of the input gradient only
 *   dA [E, r, K], dB [E, N, r]   summed over the slots routed to each adapter (zeros for
 *                adapters no slot used), in a fixed order: reproducible, no float atomics
 *   dw [M, k]    gradient to the slot weights (the gates); 0 for empty slots
 * Any of them may be passed in `out` to be overwritten instead of allocated.
 */
export function multiLoraBackward(
  ctx: GpuContext,
  x: GpuTensor,
  A: GpuTensor,
  B: GpuTensor,
  idx: GpuTensor,
  w: GpuTensor,
  scale: number,
  xa: GpuTensor,
  dy: GpuTensor,
  out: Partial<MultiLoraGrads> = {},
): MultiLoraGrads {
  const K = 'multiLoraBackward';
  const d = checkCommon(K, x, A, B, idx, w, scale);
  expectDType(K, 'xa', xa, 'f32');
  expectShape(K, 'xa', xa, [d.M, d.k, d.r]);
  expectDType(K, 'dy', dy, 'f32');
  expectShape(K, 'dy', dy, [d.M, d.N]);
  const S = d.M * d.k;
  const shapes: Record<keyof MultiLoraGrads, number[]> = {
    dx: [d.M, d.K],
    dA: [d.E, d.r, d.K],
    dB: [d.E, d.N, d.r],
    dw: [d.M, d.k],
  };
  const given: Record<string, GpuTensor> = {};
  for (const name of ['dx', 'dA', 'dB', 'dw'] as const) {
    const t = out[name];
    if (!t) continue;
    expectDType(K, name, t, 'f32');
    expectShape(K, name, t, shapes[name]);
    given[name] = t;
  }
  expectNoAlias(K, given, { x, A, B, idx, w, xa, dy });
  const dx = out.dx ?? ctx.empty(shapes.dx, 'f32', 'multiLora.dx');
  const dA = out.dA ?? ctx.empty(shapes.dA, 'f32', 'multiLora.dA');
  const dB = out.dB ?? ctx.empty(shapes.dB, 'f32', 'multiLora.dB');
  const dw = out.dw ?? ctx.empty(shapes.dw, 'f32', 'multiLora.dw');

  const dxa = ctx.empty([d.M, d.k, d.r], 'f32', 'multiLora.dxa');
  ctx.dispatch(BWD_SLOTS, {
    params: new Params().u32(d.M).u32(d.N).u32(d.E).u32(d.r).u32(d.k).f32(scale).bytes(),
    buffers: [dy, B, idx, w, xa, dxa, dw],
    workgroups: grid1d(ctx, S, WG),
  });

  ctx.dispatch(BWD_DX, {
    params: new Params().u32(d.M).u32(d.K).u32(d.E).u32(d.r).u32(d.k).u32(octets(d.K)).bytes(),
    buffers: [dxa, A, idx, dx],
    workgroups: grid1d(ctx, d.M * octets(d.K), WG),
  });

  const ranges = ctx.empty([d.E, 2], 'u32', 'multiLora.ranges');
  const list = ctx.empty([S], 'u32', 'multiLora.slotList');
  ctx.dispatch(BUCKET, {
    params: new Params().u32(S).u32(d.E).bytes(),
    buffers: [idx, ranges, list],
    workgroups: [Math.ceil(d.E / WG)],
  });

  ctx.dispatch(BWD_DA, {
    params: new Params().u32(d.K).u32(d.E).u32(d.r).u32(d.k).u32(quads(d.r)).u32(quads(d.K)).bytes(),
    buffers: [list, ranges, dxa, x, dA],
    workgroups: grid1d(ctx, d.E * quads(d.r) * quads(d.K), WG),
  });

  ctx.dispatch(BWD_DB, {
    params: new Params().u32(d.N).u32(d.E).u32(d.r).u32(d.k).u32(quads(d.N)).u32(quads(d.r)).f32(scale).bytes(),
    buffers: [list, ranges, dy, w, xa, dB],
    workgroups: grid1d(ctx, d.E * quads(d.N) * quads(d.r), WG),
  });

  // Released buffers go back to the pool; the queue runs the dispatches above first.
  ctx.release(dxa, ranges, list);
  return { dx, dA, dB, dw };
}

/**
 * Uploads host-chosen slots (SEE's expert per query, say) after checking every index is
 * below E or NO_ADAPTER, which the GPU kernels cannot report. idx and w hold M * k values.
 */
export function uploadAdapterSlots(
  ctx: GpuContext,
  idx: ArrayLike<number>,
  w: ArrayLike<number>,
  M: number,
  k: number,
  E: number,
): { idx: GpuTensor; w: GpuTensor } {
  const K = 'uploadAdapterSlots';
  expectPositiveInt(K, 'M', M);
  expectPositiveInt(K, 'k', k);
  expectPositiveInt(K, 'E', E);
  if (idx.length !== M * k) throw new ShapeError(K, `idx has ${idx.length} values, expected M * k = ${M * k}`);
  if (w.length !== M * k) throw new ShapeError(K, `w has ${w.length} values, expected M * k = ${M * k}`);
  for (let i = 0; i < idx.length; i++) {
    const e = idx[i];
    if (e !== NO_ADAPTER && !(Number.isInteger(e) && e >= 0 && e < E)) {
      throw new ShapeError(K, `idx[${i}] = ${e} is not an adapter in 0..${E - 1} nor NO_ADAPTER`);
    }
    if (!Number.isFinite(w[i])) throw new ShapeError(K, `w[${i}] must be finite, got ${w[i]}`);
  }
  return {
    idx: ctx.upload(Uint32Array.from(idx), [M, k], 'u32', 'multiLora.idx'),
    w: ctx.upload(Float32Array.from(w), [M, k], 'f32', 'multiLora.w'),
  };
}

function checkCommon(
  kernel: string,
  x: GpuTensor,
  A: GpuTensor,
  B: GpuTensor,
  idx: GpuTensor,
  w: GpuTensor,
  scale: number,
): MultiLoraShape {
  expectDType(kernel, 'x', x, 'f32');
  expectRank(kernel, 'x', x, 2);
  expectDType(kernel, 'A', A, 'f32');
  expectRank(kernel, 'A', A, 3);
  expectDType(kernel, 'B', B, 'f32');
  expectRank(kernel, 'B', B, 3);
  expectDType(kernel, 'idx', idx, 'u32');
  expectRank(kernel, 'idx', idx, 2);
  const [M, K] = x.shape;
  const [E, r] = A.shape;
  const N = B.shape[1];
  const k = idx.shape[1];
  expectPositiveInt(kernel, 'M (x.shape[0])', M);
  expectPositiveInt(kernel, 'K (x.shape[1])', K);
  expectPositiveInt(kernel, 'E (A.shape[0])', E);
  expectPositiveInt(kernel, 'r (A.shape[1])', r);
  expectPositiveInt(kernel, 'N (B.shape[1])', N);
  expectPositiveInt(kernel, 'k (idx.shape[1])', k);
  expectShape(kernel, 'A', A, [E, r, K]);
  expectShape(kernel, 'B', B, [E, N, r]);
  expectShape(kernel, 'idx', idx, [M, k]);
  expectDType(kernel, 'w', w, 'f32');
  expectShape(kernel, 'w', w, [M, k]);
  expectFinite(kernel, 'scale', scale);
  return { M, K, N, E, r, k };
}


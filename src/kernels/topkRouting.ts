import type { GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import { grid1d } from '../gpu/grid';
import { Params } from '../gpu/params';
import type { GpuTensor } from '../gpu/tensor';
import { expectDType, expectNoAlias, expectPositiveInt, expectRank, expectShape } from './check';

/**
 * Token routing over a pool of E sub-experts (MoSEs): softmax, top-k, renormalised gates,
 * and the gate-weighted combination of the chosen sub-experts' outputs. Indices are u32
 * and feed `multiLoraForward` directly as its `idx` (and the gates as its `w`).
 */

const WG_TOKEN = 64;
const WG_ELEM = 256;
const ROUTE = { name: 'topk_route', shader: 'topk_route', constants: { WG: WG_TOKEN } };
const ROUTE_BWD = { name: 'topk_route_backward', shader: 'topk_route_backward', constants: { WG: WG_TOKEN } };
const ROUTE_BWD_PROBS = { ...ROUTE_BWD, name: 'topk_route_backward_probs', entryPoint: 'main_probs' };
const COMBINE = { name: 'gated_combine', shader: 'gated_combine', constants: { WG: WG_ELEM } };
const COMBINE_BWD = { name: 'gated_combine_backward', shader: 'gated_combine_backward', constants: { WG: WG_TOKEN } };

export interface Routing {
  /** [T, k] u32: chosen experts, by descending probability; equal logits go to the lower index. */
  indices: GpuTensor;
  /** [T, k] f32: the chosen probabilities renormalised to sum to 1 per token. */
  gates: GpuTensor;
  /** [T, E] f32: the full softmax (for plots and auxiliary losses). */
  probs: GpuTensor;
}

/**
 * logits [T, E] -> softmax, top-k and renormalised gates, one token per thread.
 * k must be in 1..E. A token whose logits contain NaN may get slots with index
 * 0xFFFFFFFF (which multiLora treats as "no adapter"); its gates are then meaningless.
 */
export function topkRoute(ctx: GpuContext, logits: GpuTensor, k: number, out?: Partial<Routing>): Routing {
  const K = 'topkRoute';
  expectDType(K, 'logits', logits, 'f32');
  expectRank(K, 'logits', logits, 2);
  const [T, E] = logits.shape;
  expectPositiveInt(K, 'T (logits.shape[0])', T);
  expectPositiveInt(K, 'E (logits.shape[1])', E);
  expectK(K, k, E);
  const given: Record<string, GpuTensor> = {};
  checkOut(K, given, 'probs', out?.probs, [T, E], 'f32');
  checkOut(K, given, 'indices', out?.indices, [T, k], 'u32');
  checkOut(K, given, 'gates', out?.gates, [T, k], 'f32');
  expectNoAlias(K, given, { logits });
  const probs = out?.probs ?? ctx.empty([T, E], 'f32', 'topk.probs');
  const indices = out?.indices ?? ctx.empty([T, k], 'u32', 'topk.indices');
  const gates = out?.gates ?? ctx.empty([T, k], 'f32', 'topk.gates');
  ctx.dispatch(ROUTE, {
    params: new Params().u32(T).u32(E).u32(k).bytes(),
    buffers: [logits, probs, indices, gates],
    workgroups: grid1d(ctx, T, WG_TOKEN),
  });
  return { indices, gates, probs };
}

/**
 * dlogits [T, E] from dgates [T, k], with the selection held fixed: for chosen i,
 * g_i (dg_i - sum_j g_j dg_j); 0 elsewhere. With `dprobs` [T, E] (a loss on the full
 * softmax, such as load balancing) p_e (dp_e - sum_f p_f dp_f) is added for every e.
 * `probs` gives E and is read only when `dprobs` is passed. Indices >= E are skipped.
 * `opts.out` [T, E] receives dlogits instead of a new tensor.
 */
export function topkRouteBackward(
  ctx: GpuContext,
  probs: GpuTensor,
  indices: GpuTensor,
  gates: GpuTensor,
  dgates: GpuTensor,
  opts: { dprobs?: GpuTensor; out?: GpuTensor } = {},
): GpuTensor {
  const K = 'topkRouteBackward';
  const { dprobs, out } = opts;
  expectDType(K, 'probs', probs, 'f32');
  expectRank(K, 'probs', probs, 2);
  expectDType(K, 'indices', indices, 'u32');
  expectRank(K, 'indices', indices, 2);
  const [T, E] = probs.shape;
  const k = indices.shape[1];
  expectPositiveInt(K, 'T (probs.shape[0])', T);
  expectPositiveInt(K, 'E (probs.shape[1])', E);
  expectK(K, k, E);
  expectShape(K, 'indices', indices, [T, k]);
  expectDType(K, 'gates', gates, 'f32');
  expectShape(K, 'gates', gates, [T, k]);
  expectDType(K, 'dgates', dgates, 'f32');
  expectShape(K, 'dgates', dgates, [T, k]);
  if (dprobs) {
    expectDType(K, 'dprobs', dprobs, 'f32');
    expectShape(K, 'dprobs', dprobs, [T, E]);
  }
  const given: Record<string, GpuTensor> = {};
  checkOut(K, given, 'out', out, [T, E], 'f32');
  expectNoAlias(K, given, dprobs ? { indices, gates, dgates, probs, dprobs } : { indices, gates, dgates });
  const dlogits = out ?? ctx.empty([T, E], 'f32', 'topk.dlogits');
  ctx.dispatch(dprobs ? ROUTE_BWD_PROBS : ROUTE_BWD, {
    params: new Params().u32(T).u32(E).u32(k).bytes(),
    buffers: dprobs ? [indices, gates, dgates, dlogits, probs, dprobs] : [indices, gates, dgates, dlogits],
    workgroups: grid1d(ctx, T, WG_TOKEN),
  });
  return dlogits;
}

/** y [T, D] = sum_j gates[t, j] * expertOut[t, j, :], for expertOut [T, k, D], gates [T, k]. */
export function gatedCombine(ctx: GpuContext, expertOut: GpuTensor, gates: GpuTensor, out?: GpuTensor): GpuTensor {
  const K = 'gatedCombine';
  const [T, k, D] = combineDims(K, expertOut, gates);
  const given: Record<string, GpuTensor> = {};
  checkOut(K, given, 'out', out, [T, D], 'f32');
  expectNoAlias(K, given, { expertOut, gates });
  const y = out ?? ctx.empty([T, D], 'f32', 'gatedCombine.out');
  ctx.dispatch(COMBINE, {
    params: new Params().u32(T).u32(k).u32(D).bytes(),
    buffers: [expertOut, gates, y],
    workgroups: grid1d(ctx, T * D, WG_ELEM),
  });
  return y;
}

/** Gradients of gatedCombine: dExpertOut [T, k, D] = g dy, dGates [T, k] = <dy, expertOut>. */
export function gatedCombineBackward(
  ctx: GpuContext,
  expertOut: GpuTensor,
  gates: GpuTensor,
  dy: GpuTensor,
  out: { dExpertOut?: GpuTensor; dGates?: GpuTensor } = {},
): { dExpertOut: GpuTensor; dGates: GpuTensor } {
  const K = 'gatedCombineBackward';
  const [T, k, D] = combineDims(K, expertOut, gates);
  expectDType(K, 'dy', dy, 'f32');
  expectShape(K, 'dy', dy, [T, D]);
  const given: Record<string, GpuTensor> = {};
  checkOut(K, given, 'dExpertOut', out.dExpertOut, [T, k, D], 'f32');
  checkOut(K, given, 'dGates', out.dGates, [T, k], 'f32');
  expectNoAlias(K, given, { expertOut, gates, dy });
  const dExpertOut = out.dExpertOut ?? ctx.empty([T, k, D], 'f32', 'gatedCombine.dExpertOut');
  const dGates = out.dGates ?? ctx.empty([T, k], 'f32', 'gatedCombine.dGates');
  ctx.dispatch(COMBINE_BWD, {
    params: new Params().u32(T).u32(k).u32(D).bytes(),
    buffers: [expertOut, gates, dy, dExpertOut, dGates],
    workgroups: grid1d(ctx, T * k, WG_TOKEN),
  });
  return { dExpertOut, dGates };
}

function combineDims(kernel: string, expertOut: GpuTensor, gates: GpuTensor): [number, number, number] {
  expectDType(kernel, 'expertOut', expertOut, 'f32');
  expectRank(kernel, 'expertOut', expertOut, 3);
  const [T, k, D] = expertOut.shape;
  expectPositiveInt(kernel, 'T (expertOut.shape[0])', T);
  expectPositiveInt(kernel, 'k (expertOut.shape[1])', k);
  expectPositiveInt(kernel, 'D (expertOut.shape[2])', D);
  expectDType(kernel, 'gates', gates, 'f32');
  expectShape(kernel, 'gates', gates, [T, k]);
  return [T, k, D];
}

/** Checks a caller-supplied output (before anything is allocated, so a throw leaks nothing). */
function checkOut(
  kernel: string,
  given: Record<string, GpuTensor>,
  name: string,
  t: GpuTensor | undefined,
  shape: readonly number[],
  dtype: GpuTensor['dtype'],
): void {
  if (!t) return;
  expectDType(kernel, name, t, dtype);
  expectShape(kernel, name, t, shape);
  given[name] = t;
}

function expectK(kernel: string, k: number, E: number): void {
  if (!Number.isInteger(k) || k < 1 || k > E) {
    throw new ShapeError(kernel, `k must be an integer in 1..E (E = ${E}), got ${k}`);
  }
}


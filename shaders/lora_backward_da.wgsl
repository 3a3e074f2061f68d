// lora_backward_da: dA = scale * dyb^T x (+ dA when ACCUMULATE) [R, K], the gradient of a
// LoRA's down-projection A, once lora_backward_prep has produced dyb = dy B. A reduction
// over all M tokens into few outputs: 8x8 blocks per invocation in registers, as in
// lora_forward_prep, and small workgroups so the few blocks spread over the cores.
//
// Layout (row-major f32): dyb [M, R], x [M, K]; dA [R, K].
// Dispatch: 1-D grid of ceil(ceil(R / 8) * ceil(K / 8) / WG) workgroups of WG invocations
//   (folded into y past the per-dimension limit, src/gpu/grid.ts); one 8x8 block each.
// Edges: rows and columns past R / K are clamped for the loads (duplicates, never
//   stored), the reduction has a scalar tail, so any M, K, R >= 1 work.

override WG: u32 = 8;
override ACCUMULATE: bool = false;

struct Params {
  M: u32,
  K: u32,
  R: u32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dyb: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> dA: array<f32>;

fn load_dyb(s: Side, o: u32) -> Pair {
  return Pair(vec4f(dyb[s.lo.x + o], dyb[s.lo.y + o], dyb[s.lo.z + o], dyb[s.lo.w + o]),
              vec4f(dyb[s.hi.x + o], dyb[s.hi.y + o], dyb[s.hi.z + o], dyb[s.hi.w + o]));
}

fn load_x(s: Side, o: u32) -> Pair {
  return Pair(vec4f(x[s.lo.x + o], x[s.lo.y + o], x[s.lo.z + o], x[s.lo.w + o]),
              vec4f(x[s.hi.x + o], x[s.hi.y + o], x[s.hi.z + o], x[s.hi.w + o]));
}

// dA rows j0..j0+7, columns k0..k0+7: a reduction over the M tokens (dyb and x rows).
fn da_block(i0: u32, j0: u32) {
  let su = side(i0, p.R, 1u);
  let sv = side(j0, p.K, 1u);
  var t = Acc();
  var l = 0u;
  // Four steps per trip: loop bookkeeping is costly on SIMD-emulating adapters.
  for (; l + 4u <= p.M; l += 4u) {
    t = da_step(t, su, sv, l);
    t = da_step(t, su, sv, l + 1u);
    t = da_step(t, su, sv, l + 2u);
    t = da_step(t, su, sv, l + 3u);
  }
  for (; l < p.M; l++) {
    t = da_step(t, su, sv, l);
  }
  store_dA(t, i0, j0);
}

fn da_step(t: Acc, su: Side, sv: Side, l: u32) -> Acc {
  let u = load_dyb(su, l * p.R);
  let v = load_x(sv, l * p.K);
  return outer(t, u.lo, u.hi, v.lo, v.hi);
}

// Four outputs of dA from column c0 on, whole (the common case) or cut at the edge.
fn put_dA(i: u32, c0: u32, v: vec4f) {
  let o = i * p.K + c0;
  var w = p.scale * v;
  if (c0 + 4u <= p.K) {
    if (ACCUMULATE) { w += vec4f(dA[o], dA[o + 1u], dA[o + 2u], dA[o + 3u]); }
    dA[o] = w.x; dA[o + 1u] = w.y; dA[o + 2u] = w.z; dA[o + 3u] = w.w;
    return;
  }
  for (var j = 0u; j < 4u; j++) {
    if (c0 + j < p.K) { if (ACCUMULATE) { dA[o + j] = dA[o + j] + w[j]; } else { dA[o + j] = w[j]; } }
  }
}

fn store_dA(t: Acc, i0: u32, j0: u32) {
  let n = min(p.R - i0, 8u);
  let lo = j0 < p.K;
  let hi = j0 + 4u < p.K;
  // Rows are unrolled by hand: the accumulators are fields, not an indexable array.
  if (lo) { put_dA(i0, j0, t.r0_0); } if (hi) { put_dA(i0, j0 + 4u, t.r0_1); }
  if (n > 1u) { if (lo) { put_dA(i0 + 1u, j0, t.r1_0); } if (hi) { put_dA(i0 + 1u, j0 + 4u, t.r1_1); } }
  if (n > 2u) { if (lo) { put_dA(i0 + 2u, j0, t.r2_0); } if (hi) { put_dA(i0 + 2u, j0 + 4u, t.r2_1); } }
  if (n > 3u) { if (lo) { put_dA(i0 + 3u, j0, t.r3_0); } if (hi) { put_dA(i0 + 3u, j0 + 4u, t.r3_1); } }
  if (n > 4u) { if (lo) { put_dA(i0 + 4u, j0, t.r4_0); } if (hi) { put_dA(i0 + 4u, j0 + 4u, t.r4_1); } }
  if (n > 5u) { if (lo) { put_dA(i0 + 5u, j0, t.r5_0); } if (hi) { put_dA(i0 + 5u, j0 + 4u, t.r5_1); } }
  if (n > 6u) { if (lo) { put_dA(i0 + 6u, j0, t.r6_0); } if (hi) { put_dA(i0 + 6u, j0 + 4u, t.r6_1); } }
  if (n > 7u) { if (lo) { put_dA(i0 + 7u, j0, t.r7_0); } if (hi) { put_dA(i0 + 7u, j0 + 4u, t.r7_1); } }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let b = (wid.y * nwg.x + wid.x) * WG + lid;
  let cb = (p.K + 7u) / 8u;
  let j0 = (b / cb) * 8u;
  if (j0 < p.R) { da_block(j0, (b % cb) * 8u); }
}

// At the end, so that line numbers in compile errors stay those of this file.
//!include lora_block8

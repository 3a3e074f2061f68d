// lora_backward_prep: the two rank-R products of a LoRA backward that need only dy and
// the forward's xa, in ONE dispatch whose workgroups are split by range:
//   workgroups [0, g0):        dB  = scale * dy^T xa  (+ dB when ACCUMULATE)   [N, R]
//   workgroups [g0, g0 + g1):  dyb = dy B                                      [M, R]
// Neither reads the other's output, so they need no ordering, and one dispatch instead of
// two saves a dispatch's fixed cost and lets the two share the cores (each alone fills
// only a few workgroups). dB goes first: its blocks reduce over all M tokens, the longest
// work, so started early they overlap the rest instead of finishing last on one core.
// Afterwards dx = dy W + scale dyb A (matmul's low-rank epilogue) and dA
// (lora_backward_da) use dyb. Blocks are 8x8 per invocation in registers, as in
// lora_forward_prep (loads set the pace on software adapters; each feeds 8 FMAs).
//
// Layout (row-major f32): dy [M, N], xa [M, R], B [N, R]; dB [N, R]; dyb [M, R].
// Dispatch: 1-D grid of g0 + g1 workgroups of WG invocations, g0 = ceil(ceil(N / 8) *
//   ceil(R / 8) / WG), g1 = ceil(ceil(M / 8) * ceil(R / 8) / WG) (folded into y past the
//   per-dimension limit, src/gpu/grid.ts); one 8x8 block per invocation.
// Edges: rows and columns past the output's edge are clamped for the loads (duplicates,
//   never stored), reductions have a scalar tail, so any M, N, R >= 1 work.

override WG: u32 = 8;
override ACCUMULATE: bool = false;

struct Params {
  M: u32,
  N: u32,
  R: u32,
  scale: f32,
  g0: u32,
  g1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> xa: array<f32>;
@group(0) @binding(3) var<storage, read> B: array<f32>;
@group(0) @binding(4) var<storage, read_write> dB: array<f32>;
@group(0) @binding(5) var<storage, read_write> dyb: array<f32>;

fn load_dy(s: Side, o: u32) -> Pair {
  return Pair(vec4f(dy[s.lo.x + o], dy[s.lo.y + o], dy[s.lo.z + o], dy[s.lo.w + o]),
              vec4f(dy[s.hi.x + o], dy[s.hi.y + o], dy[s.hi.z + o], dy[s.hi.w + o]));
}

fn load_xa(s: Side, o: u32) -> Pair {
  return Pair(vec4f(xa[s.lo.x + o], xa[s.lo.y + o], xa[s.lo.z + o], xa[s.lo.w + o]),
              vec4f(xa[s.hi.x + o], xa[s.hi.y + o], xa[s.hi.z + o], xa[s.hi.w + o]));
}

fn load_B(s: Side, o: u32) -> Pair {
  return Pair(vec4f(B[s.lo.x + o], B[s.lo.y + o], B[s.lo.z + o], B[s.lo.w + o]),
              vec4f(B[s.hi.x + o], B[s.hi.y + o], B[s.hi.z + o], B[s.hi.w + o]));
}

// dB rows n0..n0+7, columns j0..j0+7: a reduction over the M tokens (dy and xa rows).
fn db_block(i0: u32, j0: u32) {
  let su = side(i0, p.N, 1u);
  let sv = side(j0, p.R, 1u);
  var t = Acc();
  var l = 0u;
  // Four steps per trip: loop bookkeeping is costly on SIMD-emulating adapters.
  for (; l + 4u <= p.M; l += 4u) {
    t = db_step(t, su, sv, l);
    t = db_step(t, su, sv, l + 1u);
    t = db_step(t, su, sv, l + 2u);
    t = db_step(t, su, sv, l + 3u);
  }
  for (; l < p.M; l++) {
    t = db_step(t, su, sv, l);
  }
  store_dB(t, i0, j0);
}

fn db_step(t: Acc, su: Side, sv: Side, l: u32) -> Acc {
  let u = load_dy(su, l * p.N);
  let v = load_xa(sv, l * p.R);
  return outer(t, u.lo, u.hi, v.lo, v.hi);
}

// Four outputs of dB from column c0 on, whole (the common case) or cut at the edge.
fn put_dB(i: u32, c0: u32, v: vec4f) {
  let o = i * p.R + c0;
  var w = p.scale * v;
  if (c0 + 4u <= p.R) {
    if (ACCUMULATE) { w += vec4f(dB[o], dB[o + 1u], dB[o + 2u], dB[o + 3u]); }
    dB[o] = w.x; dB[o + 1u] = w.y; dB[o + 2u] = w.z; dB[o + 3u] = w.w;
    return;
  }
  for (var j = 0u; j < 4u; j++) {
    if (c0 + j < p.R) { if (ACCUMULATE) { dB[o + j] = dB[o + j] + w[j]; } else { dB[o + j] = w[j]; } }
  }
}

fn store_dB(t: Acc, i0: u32, j0: u32) {
  let n = min(p.N - i0, 8u);
  let lo = j0 < p.R;
  let hi = j0 + 4u < p.R;
  // Rows are unrolled by hand: the accumulators are fields, not an indexable array.
  if (lo) { put_dB(i0, j0, t.r0_0); } if (hi) { put_dB(i0, j0 + 4u, t.r0_1); }
  if (n > 1u) { if (lo) { put_dB(i0 + 1u, j0, t.r1_0); } if (hi) { put_dB(i0 + 1u, j0 + 4u, t.r1_1); } }
  if (n > 2u) { if (lo) { put_dB(i0 + 2u, j0, t.r2_0); } if (hi) { put_dB(i0 + 2u, j0 + 4u, t.r2_1); } }
  if (n > 3u) { if (lo) { put_dB(i0 + 3u, j0, t.r3_0); } if (hi) { put_dB(i0 + 3u, j0 + 4u, t.r3_1); } }
  if (n > 4u) { if (lo) { put_dB(i0 + 4u, j0, t.r4_0); } if (hi) { put_dB(i0 + 4u, j0 + 4u, t.r4_1); } }
  if (n > 5u) { if (lo) { put_dB(i0 + 5u, j0, t.r5_0); } if (hi) { put_dB(i0 + 5u, j0 + 4u, t.r5_1); } }
  if (n > 6u) { if (lo) { put_dB(i0 + 6u, j0, t.r6_0); } if (hi) { put_dB(i0 + 6u, j0 + 4u, t.r6_1); } }
  if (n > 7u) { if (lo) { put_dB(i0 + 7u, j0, t.r7_0); } if (hi) { put_dB(i0 + 7u, j0 + 4u, t.r7_1); } }
}

// dyb rows m0..m0+7, columns j0..j0+7: a reduction over the N outputs.
fn dyb_block(i0: u32, j0: u32) {
  let su = side(i0, p.M, p.N);
  let sv = side(j0, p.R, 1u);
  var t = Acc();
  var l = 0u;
  // Four steps per trip: loop bookkeeping is costly on SIMD-emulating adapters.
  for (; l + 4u <= p.N; l += 4u) {
    t = dyb_step(t, su, sv, l);
    t = dyb_step(t, su, sv, l + 1u);
    t = dyb_step(t, su, sv, l + 2u);
    t = dyb_step(t, su, sv, l + 3u);
  }
  for (; l < p.N; l++) {
    t = dyb_step(t, su, sv, l);
  }
  store_dyb(t, i0, j0);
}

fn dyb_step(t: Acc, su: Side, sv: Side, l: u32) -> Acc {
  let u = load_dy(su, l);
  let v = load_B(sv, l * p.R);
  return outer(t, u.lo, u.hi, v.lo, v.hi);
}

// Four outputs of dyb from column c0 on, whole (the common case) or cut at the edge.
fn put_dyb(i: u32, c0: u32, v: vec4f) {
  let o = i * p.R + c0;
  let w = v;
  if (c0 + 4u <= p.R) {
    dyb[o] = w.x; dyb[o + 1u] = w.y; dyb[o + 2u] = w.z; dyb[o + 3u] = w.w;
    return;
  }
  for (var j = 0u; j < 4u; j++) {
    if (c0 + j < p.R) { dyb[o + j] = w[j]; }
  }
}

fn store_dyb(t: Acc, i0: u32, j0: u32) {
  let n = min(p.M - i0, 8u);
  let lo = j0 < p.R;
  let hi = j0 + 4u < p.R;
  // Rows are unrolled by hand: the accumulators are fields, not an indexable array.
  if (lo) { put_dyb(i0, j0, t.r0_0); } if (hi) { put_dyb(i0, j0 + 4u, t.r0_1); }
  if (n > 1u) { if (lo) { put_dyb(i0 + 1u, j0, t.r1_0); } if (hi) { put_dyb(i0 + 1u, j0 + 4u, t.r1_1); } }
  if (n > 2u) { if (lo) { put_dyb(i0 + 2u, j0, t.r2_0); } if (hi) { put_dyb(i0 + 2u, j0 + 4u, t.r2_1); } }
  if (n > 3u) { if (lo) { put_dyb(i0 + 3u, j0, t.r3_0); } if (hi) { put_dyb(i0 + 3u, j0 + 4u, t.r3_1); } }
  if (n > 4u) { if (lo) { put_dyb(i0 + 4u, j0, t.r4_0); } if (hi) { put_dyb(i0 + 4u, j0 + 4u, t.r4_1); } }
  if (n > 5u) { if (lo) { put_dyb(i0 + 5u, j0, t.r5_0); } if (hi) { put_dyb(i0 + 5u, j0 + 4u, t.r5_1); } }
  if (n > 6u) { if (lo) { put_dyb(i0 + 6u, j0, t.r6_0); } if (hi) { put_dyb(i0 + 6u, j0 + 4u, t.r6_1); } }
  if (n > 7u) { if (lo) { put_dyb(i0 + 7u, j0, t.r7_0); } if (hi) { put_dyb(i0 + 7u, j0 + 4u, t.r7_1); } }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let w = wid.y * nwg.x + wid.x;
  let cb = (p.R + 7u) / 8u;
  // The range test depends on the workgroup only, so no workgroup mixes the two products.
  if (w < p.g0) {
    let b = w * WG + lid;
    let n0 = (b / cb) * 8u;
    if (n0 < p.N) { db_block(n0, (b % cb) * 8u); }
  } else if (w < p.g0 + p.g1) {
    let b = (w - p.g0) * WG + lid;
    let m0 = (b / cb) * 8u;
    if (m0 < p.M) { dyb_block(m0, (b % cb) * 8u); }
  }
}

// At the end, so that line numbers in compile errors stay those of this file.
//!include lora_block8

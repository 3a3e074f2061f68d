// lora_forward_prep: xa = x A^T [M, R], the rank-R projection a LoRA forward needs before
// its big matmul (y = x W^T + scale xa B^T, matmul's low-rank epilogue).
// A skinny product (R is 4..64 in practice) has few outputs and a long reduction: each
// invocation keeps an 8x8 block in sixteen vec4 accumulators, so every loaded element
// feeds 8 FMAs (a 4x4 block feeds 4; on software adapters loads, not FMAs, set the pace),
// and small workgroups spread the few blocks over all cores.
//
// Layout (row-major f32): x [M, K], A [R, K]; xa [M, R].
// Dispatch: 1-D grid of ceil(ceil(M / 8) * ceil(R / 8) / WG) workgroups of WG invocations
//   (folded into y past the per-dimension limit, src/gpu/grid.ts); one 8x8 block each.
// Edges: rows and columns past M / R are clamped for the loads (duplicates, never stored),
//   the reduction has a scalar tail, so any M, K, R >= 1 work.

override WG: u32 = 8;

struct Params {
  M: u32,
  K: u32,
  R: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> A: array<f32>;
@group(0) @binding(3) var<storage, read_write> xa: array<f32>;

fn load_x(s: Side, o: u32) -> Pair {
  return Pair(vec4f(x[s.lo.x + o], x[s.lo.y + o], x[s.lo.z + o], x[s.lo.w + o]),
              vec4f(x[s.hi.x + o], x[s.hi.y + o], x[s.hi.z + o], x[s.hi.w + o]));
}

fn load_A(s: Side, o: u32) -> Pair {
  return Pair(vec4f(A[s.lo.x + o], A[s.lo.y + o], A[s.lo.z + o], A[s.lo.w + o]),
              vec4f(A[s.hi.x + o], A[s.hi.y + o], A[s.hi.z + o], A[s.hi.w + o]));
}

// xa rows i0..i0+7, columns j0..j0+7: x and A both run along k contiguously.
fn xa_block(i0: u32, j0: u32) {
  let su = side(i0, p.M, p.K);
  let sv = side(j0, p.R, p.K);
  var t = Acc();
  var l = 0u;
  // Four steps per trip: loop bookkeeping is costly on SIMD-emulating adapters.
  for (; l + 4u <= p.K; l += 4u) {
    t = xa_step(t, su, sv, l);
    t = xa_step(t, su, sv, l + 1u);
    t = xa_step(t, su, sv, l + 2u);
    t = xa_step(t, su, sv, l + 3u);
  }
  for (; l < p.K; l++) {
    t = xa_step(t, su, sv, l);
  }
  store_xa(t, i0, j0);
}

fn xa_step(t: Acc, su: Side, sv: Side, l: u32) -> Acc {
  let u = load_x(su, l);
  let v = load_A(sv, l);
  return outer(t, u.lo, u.hi, v.lo, v.hi);
}

// Four outputs of xa from column c0 on, whole (the common case) or cut at the edge.
fn put_xa(i: u32, c0: u32, v: vec4f) {
  let o = i * p.R + c0;
  let w = v;
  if (c0 + 4u <= p.R) {
    xa[o] = w.x; xa[o + 1u] = w.y; xa[o + 2u] = w.z; xa[o + 3u] = w.w;
    return;
  }
  for (var j = 0u; j < 4u; j++) {
    if (c0 + j < p.R) { xa[o + j] = w[j]; }
  }
}

fn store_xa(t: Acc, i0: u32, j0: u32) {
  let n = min(p.M - i0, 8u);
  let lo = j0 < p.R;
  let hi = j0 + 4u < p.R;
  // Rows are unrolled by hand: the accumulators are fields, not an indexable array.
  if (lo) { put_xa(i0, j0, t.r0_0); } if (hi) { put_xa(i0, j0 + 4u, t.r0_1); }
  if (n > 1u) { if (lo) { put_xa(i0 + 1u, j0, t.r1_0); } if (hi) { put_xa(i0 + 1u, j0 + 4u, t.r1_1); } }
  if (n > 2u) { if (lo) { put_xa(i0 + 2u, j0, t.r2_0); } if (hi) { put_xa(i0 + 2u, j0 + 4u, t.r2_1); } }
  if (n > 3u) { if (lo) { put_xa(i0 + 3u, j0, t.r3_0); } if (hi) { put_xa(i0 + 3u, j0 + 4u, t.r3_1); } }
  if (n > 4u) { if (lo) { put_xa(i0 + 4u, j0, t.r4_0); } if (hi) { put_xa(i0 + 4u, j0 + 4u, t.r4_1); } }
  if (n > 5u) { if (lo) { put_xa(i0 + 5u, j0, t.r5_0); } if (hi) { put_xa(i0 + 5u, j0 + 4u, t.r5_1); } }
  if (n > 6u) { if (lo) { put_xa(i0 + 6u, j0, t.r6_0); } if (hi) { put_xa(i0 + 6u, j0 + 4u, t.r6_1); } }
  if (n > 7u) { if (lo) { put_xa(i0 + 7u, j0, t.r7_0); } if (hi) { put_xa(i0 + 7u, j0 + 4u, t.r7_1); } }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let b = (wid.y * nwg.x + wid.x) * WG + lid;
  let cb = (p.R + 7u) / 8u;
  let i0 = (b / cb) * 8u;
  if (i0 < p.M) { xa_block(i0, (b % cb) * 8u); }
}

// At the end, so that line numbers in compile errors stay those of this file.
//!include lora_block8

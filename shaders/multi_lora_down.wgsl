// multi_lora_down: xa[m, j, :] = A_e x[m] with e = idx[m, j], the rank-r down projection of
// each (row, slot) through that slot's own adapter; slots with e >= E ("no adapter", the
// 0xFFFFFFFF sentinel or anything out of range) get zeros.
// Layout: x [M, K] f32, A [E, r, K] f32, idx [M, k] u32, xa [M, k, r] f32.
// Dispatch: ceil(M * k * ceil(r / 8) / WG) workgroups of WG threads, folded into y past the
// x limit (src/gpu/grid.ts). A thread owns 8 consecutive ranks of one slot in two vec4
// accumulators, so each x value it loads feeds 8 FMAs (register tiling; rows of different
// slots may go to different adapters, so A is not shared across threads). When at most 4
// ranks remain (r = 4, say) a 4-wide loop does the work instead of computing dead lanes.

override WG: u32 = 64;

struct Params { M: u32, K: u32, E: u32, r: u32, k: u32, nt8: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> A: array<f32>;
@group(0) @binding(3) var<storage, read> idx: array<u32>;
@group(0) @binding(4) var<storage, read_write> xa: array<f32>;

// Start of A_e's row for rank t, clamped to the last rank: lanes past r re-read a valid
// row (always in bounds) and are never stored.
fn rowOf(e: u32, t: u32) -> u32 {
  return (e * p.r + min(t, p.r - 1u)) * p.K;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.M * p.k * p.nt8) {
    return;
  }
  let s = i / p.nt8;
  let t0 = (i % p.nt8) * 8u;
  let m = s / p.k;
  let e = idx[s];
  var lo = vec4f(0.0);
  var hi = vec4f(0.0);
  if (e < p.E) {
    let xr = m * p.K;
    let a0 = rowOf(e, t0);
    let a1 = rowOf(e, t0 + 1u);
    let a2 = rowOf(e, t0 + 2u);
    let a3 = rowOf(e, t0 + 3u);
    if (p.r - t0 > 4u) {
      let a4 = rowOf(e, t0 + 4u);
      let a5 = rowOf(e, t0 + 5u);
      let a6 = rowOf(e, t0 + 6u);
      let a7 = rowOf(e, t0 + 7u);
      for (var c = 0u; c < p.K; c++) {
        let xv = x[xr + c];
        lo += vec4f(A[a0 + c], A[a1 + c], A[a2 + c], A[a3 + c]) * xv;
        hi += vec4f(A[a4 + c], A[a5 + c], A[a6 + c], A[a7 + c]) * xv;
      }
    } else {
      for (var c = 0u; c < p.K; c++) {
        lo += vec4f(A[a0 + c], A[a1 + c], A[a2 + c], A[a3 + c]) * x[xr + c];
      }
    }
  }
  let o = s * p.r + t0;
  for (var l = 0u; l < 4u; l++) {
    if (t0 + l < p.r) {
      xa[o + l] = lo[l];
    }
    if (t0 + 4u + l < p.r) {
      xa[o + 4u + l] = hi[l];
    }
  }
}

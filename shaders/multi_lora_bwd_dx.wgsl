// multi_lora_bwd_dx: dx[m, c] = sum_j sum_t dxa[m, j, t] * A_e[t, c], e = idx[m, j]; the
// adapter part of the input gradient only (slots with e >= E add nothing).
// Layout: dxa [M, k, r] f32, A [E, r, K] f32, idx [M, k] u32, dx [M, K] f32.
// Dispatch: ceil(M * ceil(K / 8) / WG) workgroups of WG threads, folded into y past the x
// limit (src/gpu/grid.ts). A thread owns 8 consecutive columns of one row in two vec4
// accumulators: each dxa value it loads feeds 8 FMAs (as in multi_lora_up). Sums run in
// ascending (j, t): reproducible.

override WG: u32 = 64;

struct Params { M: u32, K: u32, E: u32, r: u32, k: u32, nc8: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dxa: array<f32>;
@group(0) @binding(2) var<storage, read> A: array<f32>;
@group(0) @binding(3) var<storage, read> idx: array<u32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.M * p.nc8) {
    return;
  }
  let m = i / p.nc8;
  let col = (i % p.nc8) * 8u;
  // Lanes past K read column K-1 again: always in bounds, and never stored.
  let last = p.K - 1u;
  let c0 = min(col, last);
  let c1 = min(col + 1u, last);
  let c2 = min(col + 2u, last);
  let c3 = min(col + 3u, last);
  let c4 = min(col + 4u, last);
  let c5 = min(col + 5u, last);
  let c6 = min(col + 6u, last);
  let c7 = min(col + 7u, last);
  var lo = vec4f(0.0);
  var hi = vec4f(0.0);
  for (var j = 0u; j < p.k; j++) {
    let s = m * p.k + j;
    let e = idx[s];
    if (e >= p.E) {
      continue;
    }
    for (var t = 0u; t < p.r; t++) {
      let a = (e * p.r + t) * p.K;
      let g = dxa[s * p.r + t];
      lo += vec4f(A[a + c0], A[a + c1], A[a + c2], A[a + c3]) * g;
      hi += vec4f(A[a + c4], A[a + c5], A[a + c6], A[a + c7]) * g;
    }
  }
  for (var l = 0u; l < 4u; l++) {
    if (col + l < p.K) {
      dx[m * p.K + col + l] = lo[l];
    }
    if (col + 4u + l < p.K) {
      dx[m * p.K + col + 4u + l] = hi[l];
    }
  }
}

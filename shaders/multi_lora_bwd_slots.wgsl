// multi_lora_bwd_slots: per (row, slot) with adapter e = idx[m, j] < E:
//   g          = B_e^T dy[m]                          (r values)
//   dxa[m,j,:] = scale * w[m, j] * g                  (gradient reaching xa)
//   dw[m, j]   = scale * <g, xa[m, j, :]>             (gradient to the slot's weight/gate)
// Slots with e >= E get zeros in both.
// Layout: dy [M, N] f32, B [E, N, r] f32, idx [M, k] u32, w [M, k] f32, xa [M, k, r] f32,
// dxa [M, k, r] f32, dw [M, k] f32.
// Dispatch: ceil(M * k / WG) workgroups of WG threads, folded into y past the x limit
// (src/gpu/grid.ts). One slot per thread, so the dw reduction stays in one thread
// (reproducible). Ranks go 8 at a time in two vec4 accumulators, so each dy value loaded
// feeds 8 FMAs; a last group of at most 4 ranks takes a 4-wide loop instead.

override WG: u32 = 64;

struct Params { M: u32, N: u32, E: u32, r: u32, k: u32, scale: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read> idx: array<u32>;
@group(0) @binding(4) var<storage, read> w: array<f32>;
@group(0) @binding(5) var<storage, read> xa: array<f32>;
@group(0) @binding(6) var<storage, read_write> dxa: array<f32>;
@group(0) @binding(7) var<storage, read_write> dw: array<f32>;

// Stores coef * g for ranks t0 .. t0+3 that exist and returns their part of <g, xa>.
fn finish(xs: u32, t0: u32, g: vec4f, coef: f32) -> f32 {
  var part = 0.0;
  for (var l = 0u; l < 4u; l++) {
    if (t0 + l < p.r) {
      dxa[xs + t0 + l] = coef * g[l];
      part += g[l] * xa[xs + t0 + l];
    }
  }
  return part;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let s = (wid.y * nwg.x + wid.x) * WG + lid;
  if (s >= p.M * p.k) {
    return;
  }
  let e = idx[s];
  let xs = s * p.r;
  if (e >= p.E) {
    for (var t = 0u; t < p.r; t++) {
      dxa[xs + t] = 0.0;
    }
    dw[s] = 0.0;
    return;
  }
  let dr = (s / p.k) * p.N;
  let coef = p.scale * w[s];
  // Lanes past r read rank r-1 again (in bounds); finish() never stores them.
  let last = p.r - 1u;
  var dws = 0.0;
  for (var t0 = 0u; t0 < p.r; t0 += 8u) {
    let c0 = min(t0, last);
    let c1 = min(t0 + 1u, last);
    let c2 = min(t0 + 2u, last);
    let c3 = min(t0 + 3u, last);
    var lo = vec4f(0.0);
    var hi = vec4f(0.0);
    if (p.r - t0 > 4u) {
      let c4 = min(t0 + 4u, last);
      let c5 = min(t0 + 5u, last);
      let c6 = min(t0 + 6u, last);
      let c7 = min(t0 + 7u, last);
      for (var n = 0u; n < p.N; n++) {
        let b = (e * p.N + n) * p.r;
        let d = dy[dr + n];
        lo += vec4f(B[b + c0], B[b + c1], B[b + c2], B[b + c3]) * d;
        hi += vec4f(B[b + c4], B[b + c5], B[b + c6], B[b + c7]) * d;
      }
    } else {
      for (var n = 0u; n < p.N; n++) {
        let b = (e * p.N + n) * p.r;
        lo += vec4f(B[b + c0], B[b + c1], B[b + c2], B[b + c3]) * dy[dr + n];
      }
    }
    dws += finish(xs, t0, lo, coef);
    dws += finish(xs, t0 + 4u, hi, coef);
  }
  dw[s] = p.scale * dws;
}

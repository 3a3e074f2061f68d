// gated_combine_backward: for y[t, d] = sum_j g[t, j] e[t, j, d],
//   dExpertOut[t, j, d] = g[t, j] * dy[t, d]
//   dGates[t, j]        = sum_d dy[t, d] * e[t, j, d]
// Layout: expertOut [T, k, D], gates [T, k], dy [T, D], dExpertOut [T, k, D],
// dGates [T, k]; all f32.
// Dispatch: ceil(T * k / WG) workgroups of WG threads, folded into y past the x limit
// (src/gpu/grid.ts); one (token, slot) pair per thread, which walks its D-long row once
// for both outputs, so the dGates reduction is sequential and reproducible.

override WG: u32 = 64;

struct Params { T: u32, k: u32, D: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> expertOut: array<f32>;
@group(0) @binding(2) var<storage, read> gates: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dExpertOut: array<f32>;
@group(0) @binding(5) var<storage, read_write> dGates: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let s = (wid.y * nwg.x + wid.x) * WG + lid;
  if (s >= p.T * p.k) {
    return;
  }
  let t = s / p.k;
  let g = gates[s];
  var acc = 0.0;
  for (var d = 0u; d < p.D; d++) {
    let u = dy[t * p.D + d];
    dExpertOut[s * p.D + d] = g * u;
    acc += u * expertOut[s * p.D + d];
  }
  dGates[s] = acc;
}

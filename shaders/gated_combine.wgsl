// gated_combine: y[t, d] = sum_j gates[t, j] * expertOut[t, j, d], the gate-weighted sum
// of the k sub-experts a token was routed to.
// Layout: expertOut [T, k, D] f32, gates [T, k] f32, y [T, D] f32.
// Dispatch: ceil(T * D / WG) workgroups of WG threads, folded into y past the x limit
// (src/gpu/grid.ts); one output element per thread, j summed in ascending order.

override WG: u32 = 256;

struct Params { T: u32, k: u32, D: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> expertOut: array<f32>;
@group(0) @binding(2) var<storage, read> gates: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.T * p.D) {
    return;
  }
  let t = i / p.D;
  let d = i % p.D;
  var acc = 0.0;
  for (var j = 0u; j < p.k; j++) {
    acc += gates[t * p.k + j] * expertOut[(t * p.k + j) * p.D + d];
  }
  y[i] = acc;
}

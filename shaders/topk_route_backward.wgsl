// topk_route_backward: dlogits for the renormalised top-k gates with the selection held
// fixed (it is piecewise constant). Over the chosen set S the gates are softmax(logits[S]),
// so for i in S: dlogits[i] = g_i (dg_i - sum_j g_j dg_j), and 0 off S.
// Entry main_probs also takes dprobs (a loss on the full softmax, e.g. load balancing) and
// adds p_e (dp_e - sum_f p_f dp_f) for every e.
// Layout: indices [T, k] u32 (values >= E are skipped), gates [T, k], dgates [T, k],
// dlogits [T, E]; main_probs adds probs [T, E] and dprobs [T, E]. All f32 except indices.
// Dispatch: ceil(T / WG) workgroups of WG threads, folded into y past the x limit
// (src/gpu/grid.ts); one token per thread.

override WG: u32 = 64;

struct Params { T: u32, E: u32, k: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> indices: array<u32>;
@group(0) @binding(2) var<storage, read> gates: array<f32>;
@group(0) @binding(3) var<storage, read> dgates: array<f32>;
@group(0) @binding(4) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(5) var<storage, read> probs: array<f32>;
@group(0) @binding(6) var<storage, read> dprobs: array<f32>;

fn token(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

// Adds the gate path; the row already holds the zero or dprobs part.
fn addGatePath(t: u32) {
  let base = t * p.k;
  var dot = 0.0;
  for (var j = 0u; j < p.k; j++) {
    dot += gates[base + j] * dgates[base + j];
  }
  for (var j = 0u; j < p.k; j++) {
    let e = indices[base + j];
    if (e < p.E) {
      let i = t * p.E + e;
      dlogits[i] = dlogits[i] + gates[base + j] * (dgates[base + j] - dot);
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let t = token(wid, nwg, lid);
  if (t >= p.T) {
    return;
  }
  for (var e = 0u; e < p.E; e++) {
    dlogits[t * p.E + e] = 0.0;
  }
  addGatePath(t);
}

@compute @workgroup_size(WG)
fn main_probs(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
              @builtin(local_invocation_index) lid: u32) {
  let t = token(wid, nwg, lid);
  if (t >= p.T) {
    return;
  }
  let row = t * p.E;
  var dot = 0.0;
  for (var e = 0u; e < p.E; e++) {
    dot += probs[row + e] * dprobs[row + e];
  }
  for (var e = 0u; e < p.E; e++) {
    dlogits[row + e] = probs[row + e] * (dprobs[row + e] - dot);
  }
  addGatePath(t);
}

// grad_norm: global L2 norm of a list of gradient tensors, in two deterministic stages
// (no atomics; every partial sum has a fixed owner and order, so the norm is reproducible):
//   partial (once per tensor): dst[offset + j] = sum_k src[j + k * threads]^2, one thread
//       per j < threads; each tensor owns its own slice of the partials buffer
//   finish (once): dst[0] = sqrt(sum_j src[j]) over all n partials
// The norm stays on the GPU; shaders/adamw.wgsl (main_clipped) clips with it.
// Layout: `partial`: src = one gradient, flat f32 [n]; dst = partials f32 [total].
//         `finish`:  src = partials f32 [n]; dst = norm f32 [1].
// Dispatch: `partial` ceil(threads / WG) workgroups of WG threads, folded into y past the
// x limit (src/gpu/grid.ts); `finish` exactly one workgroup of WG threads (thread l sums
// partials l, l + WG, ..., then a tree in workgroup memory).

override WG: u32 = 256;

struct Params { n: u32, threads: u32, offset: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

// `finish` sums over the whole workgroup: one "row" for row_reduce's fixed-order tree.
override ROW_THREADS: u32 = WG;

@compute @workgroup_size(WG)
fn partial(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
           @builtin(local_invocation_index) lid: u32) {
  let j = (wid.y * nwg.x + wid.x) * WG + lid;
  if (j >= p.threads) {
    return;
  }
  var s = 0.0;
  for (var i = j; i < p.n; i += p.threads) {
    let g = src[i];
    s += g * g;
  }
  dst[p.offset + j] = s;
}

@compute @workgroup_size(WG)
fn finish(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = lid; i < p.n; i += WG) {
    s += src[i];
  }
  let total = row_sum(s, lid);
  if (lid == 0u) {
    dst[0] = sqrt(total);
  }
}

//!include row_reduce

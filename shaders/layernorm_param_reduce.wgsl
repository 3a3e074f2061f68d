// layernorm (backward, parameter gradients), stage 2 of 2: sums stage 1's per-chunk
// partials (shaders/layernorm_param_grad.wgsl) in chunk order:
//   dgamma[i] (+)= sum_k partial[k, 0, i],   dbeta[i] (+)= sum_k partial[k, 1, i]
// ACCUMULATE adds into the existing gradients (several uses of one LayerNorm, or
// gradient accumulation over micro-batches) instead of overwriting them.
// Layout: partial f32 [chunks, 2, C]; dgamma, dbeta f32 [C].
// Dispatch: ceil(C / WG) workgroups of WG threads (C is far below the x limit); one
// column per thread.

override WG: u32 = 64;
override ACCUMULATE: bool = false;

struct Params { C: u32, chunks: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> partial: array<f32>;
@group(0) @binding(2) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(3) var<storage, read_write> dbeta: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  if (i >= p.C) {
    return;
  }
  var dg = 0.0;
  var db = 0.0;
  for (var k = 0u; k < p.chunks; k++) {
    dg += partial[k * 2u * p.C + i];
    db += partial[k * 2u * p.C + p.C + i];
  }
  if (ACCUMULATE) {
    dg += dgamma[i];
    db += dbeta[i];
  }
  dgamma[i] = dg;
  dbeta[i] = db;
}

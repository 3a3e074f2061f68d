// layernorm (backward, parameter gradients), stage 1 of 2: per chunk of rows,
//   partial[k, 0, i] = sum over rows r of chunk k of dy[r, i] * xhat[r, i]   (-> dgamma)
//   partial[k, 1, i] = sum over rows r of chunk k of dy[r, i]                (-> dbeta)
// with xhat = (x - mean) * rstd. Stage 2 (shaders/layernorm_param_reduce.wgsl) sums the
// chunks in order. Two fixed-order stages instead of atomics keep the result reproducible,
// and chunking keeps a real GPU busy when C alone is too few threads.
// Layout: x, dy f32 [R, C]; mean, rstd f32 [R]; partial f32 [chunks, 2, C]; chunk k holds
// rows [k * rowsPerChunk, min(R, (k + 1) * rowsPerChunk)).
// Dispatch: ceil(chunks * C / WG) workgroups of WG threads folded into y; one (chunk,
// column) per thread, so neighbouring threads read neighbouring columns.

override WG: u32 = 64;

struct Params { rows: u32, C: u32, rowsPerChunk: u32, chunks: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> rstd: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> partial: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let idx = (wid.y * nwg.x + wid.x) * WG + lid;
  if (idx >= p.chunks * p.C) {
    return;
  }
  let k = idx / p.C;
  let i = idx - k * p.C;
  let first = k * p.rowsPerChunk;
  let last = min(p.rows, first + p.rowsPerChunk);
  var dg = 0.0;
  var db = 0.0;
  for (var r = first; r < last; r++) {
    let g = dy[r * p.C + i];
    dg += g * (x[r * p.C + i] - mean[r]) * rstd[r];
    db += g;
  }
  partial[k * 2u * p.C + i] = dg;
  partial[k * 2u * p.C + p.C + i] = db;
}

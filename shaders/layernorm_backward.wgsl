// layernorm (backward, input gradient). With xhat = (x - mean) * rstd and g = gamma * dy:
//   dx[r, i] = rstd[r] * (g[i] - (sum_j g[j] + xhat[i] * sum_j g[j] * xhat[j]) / C)
// ACCUMULATE adds into dx (the residual stream's gradient) instead of overwriting it.
// dgamma and dbeta come from shaders/layernorm_param_grad.wgsl.
// Layout: x, dy, dx f32 [R, C]; gamma f32 [C]; mean, rstd f32 [R] from the forward pass.
// Dispatch: as shaders/layernorm.wgsl: ceil(R / (WG / ROW_THREADS)) workgroups of WG
// threads folded into y, ROW_THREADS threads per row (1 on software adapters).

override WG: u32 = 64;
override ROW_THREADS: u32 = 1;
override ACCUMULATE: bool = false;

struct Params { rows: u32, C: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * nwg.x + wid.x) * (WG / ROW_THREADS) + lid / ROW_THREADS;
  let lane = lid % ROW_THREADS;
  let live = row < p.rows;
  let base = row * p.C;

  var mu = 0.0;
  var r = 0.0;
  var a = 0.0;
  var b = 0.0;
  if (live) {
    mu = mean[row];
    r = rstd[row];
    for (var i = lane; i < p.C; i += ROW_THREADS) {
      let g = gamma[i] * dy[base + i];
      a += g;
      b += g * (x[base + i] - mu) * r;
    }
  }
  let inv_n = 1.0 / f32(p.C);
  let sum_g = row_sum(a, lid) * inv_n;
  let sum_gx = row_sum(b, lid) * inv_n;

  if (live) {
    for (var i = lane; i < p.C; i += ROW_THREADS) {
      let xhat = (x[base + i] - mu) * r;
      let d = r * (gamma[i] * dy[base + i] - sum_g - xhat * sum_gx);
      if (ACCUMULATE) {
        dx[base + i] = dx[base + i] + d;
      } else {
        dx[base + i] = d;
      }
    }
  }
}

// row_sum / row_max over the ROW_THREADS threads of a row.
//!include row_reduce

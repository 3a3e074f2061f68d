// layernorm (forward) over the last dimension:
//   mean[r] = sum_i x[r, i] / C,  rstd[r] = 1 / sqrt(sum_i (x[r, i] - mean[r])^2 / C + eps)
//   y[r, i] = (x[r, i] - mean[r]) * rstd[r] * gamma[i] + beta[i]
// Layout: x, y f32 [R, C]; gamma, beta f32 [C]; mean, rstd f32 [R] (saved for backward).
// The variance is taken about the mean in a second pass (not E[x^2] - mean^2), which
// loses nothing to cancellation when |mean| is large next to the spread.
// Dispatch: ceil(R / (WG / ROW_THREADS)) workgroups of WG threads, folded into y past the
// x limit (src/gpu/grid.ts). ROW_THREADS threads share a row (power of two dividing WG):
// 1 on software adapters, where barriers cost far more than a longer loop, and tens to
// hundreds on real GPUs, which then reduce in workgroup memory.

override WG: u32 = 64;
override ROW_THREADS: u32 = 1;

struct Params { rows: u32, C: u32, eps: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> mean: array<f32>;
@group(0) @binding(6) var<storage, read_write> rstd: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * nwg.x + wid.x) * (WG / ROW_THREADS) + lid / ROW_THREADS;
  let lane = lid % ROW_THREADS;
  let live = row < p.rows;
  let base = row * p.C;
  let n = f32(p.C);

  // The mean is summed as shift + sum(x - shift) with shift = the row's first element:
  // the terms are then centred near zero, so an fp32 sum of C values far from zero does
  // not lose the digits that (x - mean) needs (1.9e-4 relative error in y at C = 768 with
  // x in [2, 4] without the shift).
  var shift = 0.0;
  var s = 0.0;
  if (live) {
    shift = x[base];
    for (var i = lane; i < p.C; i += ROW_THREADS) {
      s += x[base + i] - shift;
    }
  }
  let mu = shift + row_sum(s, lid) / n;

  var q = 0.0;
  if (live) {
    for (var i = lane; i < p.C; i += ROW_THREADS) {
      let d = x[base + i] - mu;
      q += d * d;
    }
  }
  let r = 1.0 / sqrt(row_sum(q, lid) / n + p.eps);

  if (live) {
    for (var i = lane; i < p.C; i += ROW_THREADS) {
      y[base + i] = (x[base + i] - mu) * r * gamma[i] + beta[i];
    }
    if (lane == 0u) {
      mean[row] = mu;
      rstd[row] = r;
    }
  }
}

// row_sum / row_max over the ROW_THREADS threads of a row.
//!include row_reduce

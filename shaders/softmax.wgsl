// softmax over the last dimension (rows of length C), and its backward.
//   forward:  out[r, i] = exp(src[r, i] - m) / sum_j exp(src[r, j] - m),  m = max_j src[r, j]
//             (subtracting the row max keeps exp from overflowing)
//   backward: src = y (the forward output), out = dx:
//             out[r, i] = y[r, i] * (dy[r, i] - sum_j dy[r, j] * y[r, j])
// Layout: src, out, dy f32 [R, C]; out may not alias src or dy. Entry points `forward`
// (bindings 1-2) and `backward` (bindings 1-3).
// Dispatch: ceil(R / (WG / ROW_THREADS)) workgroups of WG threads, folded into y past the
// x limit (src/gpu/grid.ts). ROW_THREADS threads share a row (power of two dividing WG):
// 1 on software adapters, where barriers cost far more than a longer loop; more on real
// GPUs, which reduce in workgroup memory.

override WG: u32 = 64;
override ROW_THREADS: u32 = 1;

struct Params { rows: u32, C: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
           @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * nwg.x + wid.x) * (WG / ROW_THREADS) + lid / ROW_THREADS;
  let lane = lid % ROW_THREADS;
  let live = row < p.rows;
  let base = row * p.C;

  var m = -0x1.fffffep+127f;
  if (live) {
    for (var i = lane; i < p.C; i += ROW_THREADS) {
      m = max(m, src[base + i]);
    }
  }
  m = row_max(m, lid);
  var s = 0.0;
  if (live) {
    for (var i = lane; i < p.C; i += ROW_THREADS) {
      s += exp(src[base + i] - m);
    }
  }
  let inv = 1.0 / row_sum(s, lid);
  if (live) {
    for (var i = lane; i < p.C; i += ROW_THREADS) {
      out[base + i] = exp(src[base + i] - m) * inv;
    }
  }
}

@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * nwg.x + wid.x) * (WG / ROW_THREADS) + lid / ROW_THREADS;
  let lane = lid % ROW_THREADS;
  let live = row < p.rows;
  let base = row * p.C;

  var s = 0.0;
  if (live) {
    for (var i = lane; i < p.C; i += ROW_THREADS) {
      s += dy[base + i] * src[base + i];
    }
  }
  let dot = row_sum(s, lid);
  if (live) {
    for (var i = lane; i < p.C; i += ROW_THREADS) {
      out[base + i] = src[base + i] * (dy[base + i] - dot);
    }
  }
}

// row_sum / row_max over the ROW_THREADS threads of a row.
//!include row_reduce

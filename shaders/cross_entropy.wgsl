// cross_entropy (per token), fused with its gradient for training:
//   losses[t]     = log(sum_j exp(logits[t, j] - m)) + m - logits[t, targets[t]],  m = row max
//   dlogits[t, j] = gradScale * mask[t] / denom[0] * (softmax(logits[t])[j] - [j == targets[t]])
// denom[0] = max(sum_t mask[t], 1) comes from shaders/cross_entropy_reduce.wgsl (`mask_sum`),
// dispatched first, so the mean over masked tokens needs no CPU round trip; the same
// file's `mean` entry then reduces losses to the scalar loss.
// losses[t] is written for every token, masked or not (evaluation reads it per token).
// Targets >= V are out of range: that token gets loss 0 and a zero gradient row, and
// nothing is read out of bounds (targets live on the GPU; the host cannot check them).
// Layout: logits, dlogits f32 [T, V]; targets u32 [T]; losses, mask f32 [T]; denom f32 [1].
// Entry points: `loss_only` (bindings 1-3, evaluation) and `loss_and_grad` (bindings 1-6).
// Dispatch: ceil(T / (WG / ROW_THREADS)) workgroups of WG threads, folded into y past the
// x limit (src/gpu/grid.ts). ROW_THREADS threads share a row (power of two dividing WG):
// 1 on software adapters, where barriers cost more than walking a whole row; up to 256 on
// real GPUs, where a 50257-long row is too much for one thread.

override WG: u32 = 64;
override ROW_THREADS: u32 = 1;

struct Params { rows: u32, V: u32, gradScale: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read_write> losses: array<f32>;
@group(0) @binding(4) var<storage, read> mask: array<f32>;
@group(0) @binding(5) var<storage, read> denom: array<f32>;
@group(0) @binding(6) var<storage, read_write> dlogits: array<f32>;

struct Row { index: u32, lane: u32, live: bool, base: u32, target_id: u32, maxv: f32, sumexp: f32 }

// Row max and sum of exp(logit - max), shared by both entry points; writes losses[t].
fn row_stats(wid: vec3u, nwg: vec3u, lid: u32) -> Row {
  var r: Row;
  r.index = (wid.y * nwg.x + wid.x) * (WG / ROW_THREADS) + lid / ROW_THREADS;
  r.lane = lid % ROW_THREADS;
  r.live = r.index < p.rows;
  r.base = r.index * p.V;
  r.target_id = p.V;
  var m = -0x1.fffffep+127f;
  if (r.live) {
    r.target_id = targets[r.index];
    for (var j = r.lane; j < p.V; j += ROW_THREADS) {
      m = max(m, logits[r.base + j]);
    }
  }
  r.maxv = row_max(m, lid);
  var s = 0.0;
  if (r.live) {
    for (var j = r.lane; j < p.V; j += ROW_THREADS) {
      s += exp(logits[r.base + j] - r.maxv);
    }
  }
  r.sumexp = row_sum(s, lid);
  if (r.live && r.lane == 0u) {
    var loss = 0.0;
    if (r.target_id < p.V) {
      loss = log(r.sumexp) + r.maxv - logits[r.base + r.target_id];
    }
    losses[r.index] = loss;
  }
  return r;
}

@compute @workgroup_size(WG)
fn loss_only(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) lid: u32) {
  _ = row_stats(wid, nwg, lid);
}

@compute @workgroup_size(WG)
fn loss_and_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_index) lid: u32) {
  let r = row_stats(wid, nwg, lid);
  if (!r.live) {
    return;
  }
  var coef = 0.0;
  if (r.target_id < p.V) {
    coef = p.gradScale * mask[r.index] / denom[0];
  }
  let inv = 1.0 / r.sumexp;
  for (var j = r.lane; j < p.V; j += ROW_THREADS) {
    var g = exp(logits[r.base + j] - r.maxv) * inv;
    if (j == r.target_id) {
      g -= 1.0;
    }
    dlogits[r.base + j] = coef * g;
  }
}

// row_sum / row_max over the ROW_THREADS threads of a row.
//!include row_reduce

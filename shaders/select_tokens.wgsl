// select_tokens: the next token of each row from its logits (B, V), on the GPU, so a
// decoding step reads back only B token ids.
//   argmax_tokens  tokens[b] = smallest index of the largest value of logits[b, :]
//   sample_tokens  tokens[b] = draw from softmax(logits[b, :] / temperature) by inverse
//                  CDF at u[b] in [0, 1): the first v whose running sum of weights passes
//                  u[b] * total. Logits are assumed finite.
// Layout: logits f32 (B, V), tokens u32 (B), u f32 (B).
// Dispatch: one thread per batch row, ceil(B / WG) workgroups, folded into y past the x
// limit (src/gpu/grid.ts).
// Why one thread per row: the kernels scan V once or three times, which is small next to
// the LM head's matmul that produced the logits, and a serial scan keeps the sum order
// fixed, so sampling is reproducible.

override WG: u32 = 64;

struct Params {
  n: u32,    // rows (B)
  a: u32,    // V
  x: f32,    // sample_tokens: log2(e) / temperature
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> tokens: array<u32>;
@group(0) @binding(3) var<storage, read> u: array<f32>;

fn flat_index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

struct RowMax { m: f32, best: u32 }

// The largest logit of row r and its smallest index.
fn row_max(r: u32) -> RowMax {
  let V = p.a;
  let base = r * V;
  var m = logits[base];
  var best = 0u;
  for (var v = 1u; v < V; v++) {
    let l = logits[base + v];
    if (l > m) { m = l; best = v; }
  }
  return RowMax(m, best);
}

@compute @workgroup_size(WG)
fn argmax_tokens(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_index) lid: u32) {
  let r = flat_index(wid, nwg, lid);
  if (r >= p.n) { return; }
  tokens[r] = row_max(r).best;
}

@compute @workgroup_size(WG)
fn sample_tokens(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_index) lid: u32) {
  let r = flat_index(wid, nwg, lid);
  if (r >= p.n) { return; }
  let V = p.a;
  let base = r * V;
  let top = row_max(r);
  let m = top.m;
  // Weights relative to the largest, so the top one is exactly 1 and nothing overflows.
  var total = 0.0;
  for (var v = 0u; v < V; v++) { total += exp2((logits[base + v] - m) * p.x); }
  // The same summation order as total, so the running sum ends exactly at total; a goal
  // that rounding puts at or past it falls back to the last token with any weight.
  let goal = u[r] * total;
  var cum = 0.0;
  var chosen = top.best;
  for (var v = 0u; v < V; v++) {
    let e = exp2((logits[base + v] - m) * p.x);
    cum += e;
    if (e > 0.0) { chosen = v; }
    if (cum > goal) { break; }
  }
  tokens[r] = chosen;
}

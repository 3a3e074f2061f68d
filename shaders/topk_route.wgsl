// topk_route: per token t, probs = softmax(logits[t]); indices[t] = the k largest logits in
// descending order, equal logits going to the lower expert index; gates[t] = the chosen
// probs renormalised to sum to 1 (computed as a softmax over the chosen logits, which is
// the same thing without dividing two small numbers).
// Layout: logits [T, E] f32, probs [T, E] f32, indices [T, k] u32, gates [T, k] f32.
// Dispatch: ceil(T / WG) workgroups of WG threads, folded into y past the x limit
// (src/gpu/grid.ts); one token per thread. E is small (a sub-expert pool), so a thread
// walks its row k + 2 times instead of sharing the row across a workgroup: barriers are
// what the software adapter is slowest at.

override WG: u32 = 64;
const NONE: u32 = 0xffffffffu;

struct Params { T: u32, E: u32, k: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> probs: array<f32>;
@group(0) @binding(3) var<storage, read_write> indices: array<u32>;
@group(0) @binding(4) var<storage, read_write> gates: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let t = (wid.y * nwg.x + wid.x) * WG + lid;
  if (t >= p.T) {
    return;
  }
  let row = t * p.E;
  var mx = logits[row];
  for (var e = 1u; e < p.E; e++) {
    mx = max(mx, logits[row + e]);
  }
  var sum = 0.0;
  for (var e = 0u; e < p.E; e++) {
    let v = exp(logits[row + e] - mx);
    probs[row + e] = v;
    sum += v;
  }
  for (var e = 0u; e < p.E; e++) {
    probs[row + e] = probs[row + e] / sum;
  }

  // Selection without a "taken" mask (that would be a dynamically indexed local array):
  // the picks are sorted, so pick j is the best expert strictly after pick j-1 in the
  // order (logit descending, index ascending).
  let out = t * p.k;
  var prevV = 0.0;
  var prevI = NONE;
  var sel = 0.0;
  for (var j = 0u; j < p.k; j++) {
    var bestI = NONE;
    var bestV = 0.0;
    for (var e = 0u; e < p.E; e++) {
      let v = logits[row + e];
      let after = j == 0u || v < prevV || (v == prevV && e > prevI);
      // Strict '>' while scanning upwards keeps the lower index among equal logits.
      if (after && (bestI == NONE || v > bestV)) {
        bestI = e;
        bestV = v;
      }
    }
    indices[out + j] = bestI;
    // Only NaN logits leave nothing to pick; the slot then reads as "no expert".
    var g = 0.0;
    if (bestI != NONE) {
      g = exp(bestV - mx);
    }
    gates[out + j] = g;
    sel += g;
    prevV = bestV;
    prevI = bestI;
  }
  for (var j = 0u; j < p.k; j++) {
    gates[out + j] = gates[out + j] / sel;
  }
}

// embedding (backward): dtable[v, c] += sum over tokens t with ids[t] == v of dout[t, c].
// Layout: ids u32 [T]; chain u32 [T] (scratch); dout f32 [T, C]; dtable f32 [V, C].
//
// Several tokens may share an id, so a plain scatter would race, and float atomics would
// make the sums depend on thread timing. Instead the tokens of each id are chained in
// token order and only the chain's first token writes:
//   link_tokens: one thread per token t. chain[t] = the next token after t with the same
//       id (T when there is none), bit 31 set when t is the first token of its id (the
//       chain head). Each thread scans outwards from t and stops at the first match, so
//       the cost is the distance between repeats: T^2 compares in the worst case (all ids
//       distinct); with a byte vocabulary ids repeat within a few hundred tokens.
//   scatter: one thread per (t, c). Heads walk their chain summing dout[j, c] in token
//       order, then add the sum to dtable[id, c]. Every (id, c) has exactly one writer and
//       one summation order, so results are bit-for-bit reproducible.
// Ids >= V (out of range) are skipped: nothing is written for them.
// Dispatch: link_tokens ceil(T / WG) workgroups, scatter ceil(T * C / WG) workgroups, both
// of WG threads, folded into y past the x limit (src/gpu/grid.ts).

override WG: u32 = 256;

const HEAD: u32 = 0x80000000u;

struct Params { T: u32, C: u32, V: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read_write> chain: array<u32>;
@group(0) @binding(3) var<storage, read> dout: array<f32>;
@group(0) @binding(4) var<storage, read_write> dtable: array<f32>;

@compute @workgroup_size(WG)
fn link_tokens(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_index) lid: u32) {
  let t = (wid.y * nwg.x + wid.x) * WG + lid;
  if (t >= p.T) {
    return;
  }
  let id = ids[t];
  var head = HEAD;
  for (var j = t; j > 0u; j--) {
    if (ids[j - 1u] == id) {
      head = 0u;
      break;
    }
  }
  var next = p.T;
  for (var j = t + 1u; j < p.T; j++) {
    if (ids[j] == id) {
      next = j;
      break;
    }
  }
  chain[t] = next | head;
}

@compute @workgroup_size(WG)
fn scatter(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
           @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.T * p.C) {
    return;
  }
  let t = i / p.C;
  let c = i - t * p.C;
  if ((chain[t] & HEAD) == 0u) {
    return;
  }
  let id = ids[t];
  if (id >= p.V) {
    return;
  }
  var sum = 0.0;
  var j = t;
  // A while loop on purpose: SwiftShader (Dawn in Node, robustness transform off) has been
  // seen to cut a `loop { ... if (next >= T) { break; } ... }` short in lanes that leave it
  // before the others of their SIMD group (tests: accumulating cases in embedding.test.ts).
  while (j < p.T) {
    sum += dout[j * p.C + c];
    j = chain[j] & ~HEAD;
  }
  let k = id * p.C + c;
  dtable[k] = dtable[k] + sum;
}

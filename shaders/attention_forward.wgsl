// attention_forward: GPT-2 causal self-attention for every (batch, head), the 'rows'
// variant (src/kernels/attention.ts; attention_probs_forward.wgsl is the other one):
//   out[t] = sum_{s <= t} softmax_s(q[t] . k[s] * scale) v[s]
//   lse[t] = log sum_{s <= t} exp(q[t] . k[s] * scale)   (saved for the backward)
//
// Layout: q, k, v, out are (B, H, T, D) row-major f32; lse is (B, H, T). "row" below is
// the flat index (b*H + h)*T + t of a query, so row*D is where its D values start.
// Dispatch: one thread per query row, ceil(B*H*T / WG) workgroups of WG threads, folded
// into y past the x limit (src/gpu/grid.ts).
//
// Why one thread per row: the software adapter pays dearly for workgroup barriers, so each
// thread streams over its visible keys alone, keeping its query and its output accumulator
// in private arrays, and uses a single-pass ("online") softmax: the running maximum m and
// sum l are rescaled only when a larger score arrives, which after the first few keys is
// rare. Threads of a workgroup hold neighbouring rows of the same head, so they read the
// same k and v rows at about the same time (cache friendly, and their loop lengths differ
// by at most WG-1 keys). Nothing is stored per (query, key) pair, so memory is O(B*H*T*D)
// for any T; the price is speed, as the per-row arrays below live in memory, not
// registers, on the software adapter.
//
// Scores are kept in base 2 (exp2 is the cheap instruction): q is pre-multiplied by
// scale*log2(e), and lse is converted back to natural log on the way out.
//
// D is an override so the loops over its vec4 chunks have constant trip counts; the
// private arrays are sized for the largest supported D (MAX_D4*4; the host checks).

override WG: u32 = 64;
override D: u32 = 16;
override D4: u32 = (D + 3u) / 4u;   // derived from D; the host does not set it
const MAX_D4: u32 = 32u;
const LN2: f32 = 0.6931471805599453;

struct Params {
  rows: u32,     // B*H*T
  T: u32,
  scale2: f32,   // scale * log2(e)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;

// Which lanes of chunk c lie inside the row; reads past D are replaced by 0 (they may be
// the next row, or NaN-poisoned padding of a pooled buffer).
fn live(c: u32) -> vec4<bool> {
  return (vec4u(4u * c) + vec4u(0u, 1u, 2u, 3u)) < vec4u(D);
}

fn load_q(base: u32, c: u32) -> vec4f {
  let i = base + 4u * c;
  return select(vec4f(0.0), vec4f(q[i], q[i + 1u], q[i + 2u], q[i + 3u]), live(c));
}
fn load_k(base: u32, c: u32) -> vec4f {
  let i = base + 4u * c;
  return select(vec4f(0.0), vec4f(k[i], k[i + 1u], k[i + 2u], k[i + 3u]), live(c));
}
fn load_v(base: u32, c: u32) -> vec4f {
  let i = base + 4u * c;
  return select(vec4f(0.0), vec4f(v[i], v[i + 1u], v[i + 2u], v[i + 3u]), live(c));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * nwg.x + wid.x) * WG + lid;
  if (row >= p.rows) { return; }
  let t = row % p.T;
  let first = row - t;   // row of key 0 of this (batch, head)
  let base = row * D;

  var qr: array<vec4f, MAX_D4>;
  for (var c = 0u; c < D4; c++) { qr[c] = load_q(base, c) * p.scale2; }

  // Key 0 is visible to every query, so it seeds the running max without an -inf.
  var x = 0.0;
  for (var c = 0u; c < D4; c++) { x += dot(qr[c], load_k(first * D, c)); }
  var m = x;
  var l = 1.0;
  var acc: array<vec4f, MAX_D4>;
  for (var c = 0u; c < D4; c++) { acc[c] = load_v(first * D, c); }

  for (var s = 1u; s <= t; s++) {
    let kb = (first + s) * D;
    x = 0.0;
    for (var c = 0u; c < D4; c++) { x += dot(qr[c], load_k(kb, c)); }
    if (x > m) {
      let shrink = exp2(m - x);
      l *= shrink;
      for (var c = 0u; c < D4; c++) { acc[c] *= shrink; }
      m = x;
    }
    let e = exp2(x - m);
    l += e;
    for (var c = 0u; c < D4; c++) { acc[c] += e * load_v(kb, c); }
  }

  let inv = 1.0 / l;
  for (var c = 0u; c < D4; c++) {
    let o = acc[c] * inv;
    let i = base + 4u * c;
    // The tail chunk of a row whose D is not a multiple of 4 must not spill into the next.
    out[i] = o.x;
    if (4u * c + 1u < D) { out[i + 1u] = o.y; }
    if (4u * c + 2u < D) { out[i + 2u] = o.z; }
    if (4u * c + 3u < D) { out[i + 3u] = o.w; }
  }
  lse[row] = (m + log2(l)) * LN2;
}

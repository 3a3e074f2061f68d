// attention_probs_forward: GPT-2 causal self-attention for every (batch, head), keeping the
// probability matrix for the backward (attention_probs_backward.wgsl):
//   P[t,s] = softmax_s(q[t] . k[s] * scale) for s <= t, 0 for s > t
//   lse[t] = log sum_{s<=t} exp(q[t] . k[s] * scale)
//   out[t] = sum_s P[t,s] v[s]
//
// Layout: q, k, v, out (B, H, T, D); P (B, H, T, T); lse (B, H, T); all row-major f32.
// A "row" is the flat index (b*H + h)*T + t; rows of one head are consecutive.
// Dispatch: three entry points, in this order, each on a 1-D grid of WG-thread
// workgroups folded into y past the x limit (src/gpu/grid.ts):
//   scores   one thread per 4x4 tile of P on or below the diagonal:
//            B*H*nb*(nb+1)/2 threads, nb = ceil(T/4); writes scores (base 2) into P
//   softmax  one thread per row: B*H*T threads; turns the row of scores into probabilities
//            in place (zeros above the diagonal) and writes lse
//   pv       one thread per (4 query rows, 8 columns of D): B*H*nb*ceil(D/8) threads
//
// Why this shape: it is two small matrix products with register tiles, the one structure
// the software adapter runs fast (no barriers, each loaded value reused four times from
// named vec4 accumulators). The price is B*H*T*T floats for P; the host falls back to the
// row kernels (attention_forward.wgsl, O(T) memory) when that does not fit.
// Scores are kept in base 2 (exp2 is the cheap instruction): scale2 = scale*log2(e).

override WG: u32 = 64;
override D: u32 = 16;
override D4: u32 = (D + 3u) / 4u;   // derived from D; the host does not set it
const LN2: f32 = 0.6931471805599453;

struct Params {
  heads: u32,    // B*H
  T: u32,
  scale2: f32,   // scale * log2(e)
}

@group(0) @binding(0) var<uniform> p: Params;

// scores
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read_write> s_out: array<f32>;

// softmax
@group(0) @binding(1) var<storage, read_write> probs: array<f32>;
@group(0) @binding(2) var<storage, read_write> lse: array<f32>;

// pv
@group(0) @binding(1) var<storage, read> pm: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// Which lanes of chunk c lie inside a row of D; reads past D are replaced by 0 (they may
// be the next row, or NaN-poisoned padding of a pooled buffer).
fn live(c: u32) -> vec4<bool> {
  return (vec4u(4u * c) + vec4u(0u, 1u, 2u, 3u)) < vec4u(D);
}
fn load_q(row: u32, c: u32) -> vec4f {
  let i = row * D + 4u * c;
  return select(vec4f(0.0), vec4f(q[i], q[i + 1u], q[i + 2u], q[i + 3u]), live(c));
}
fn load_k(row: u32, c: u32) -> vec4f {
  let i = row * D + 4u * c;
  return select(vec4f(0.0), vec4f(k[i], k[i + 1u], k[i + 2u], k[i + 3u]), live(c));
}
fn load_v(row: u32, c: u32) -> vec4f {
  let i = row * D + 4u * c;
  return select(vec4f(0.0), vec4f(v[i], v[i + 1u], v[i + 2u], v[i + 3u]), live(c));
}

// Tile (ti, si), si <= ti, of the lower triangle from its index j = ti*(ti+1)/2 + si.
// The float estimate of ti can be off by one either way (f32 rounding of j and of the
// square root); the integer checks fix it.
fn triangle(j: u32) -> vec2u {
  var ti = u32((sqrt(8.0 * f32(j) + 1.0) - 1.0) * 0.5);
  if (ti * (ti + 1u) / 2u > j) { ti -= 1u; }
  if ((ti + 1u) * (ti + 2u) / 2u <= j) { ti += 1u; }
  return vec2u(ti, j - ti * (ti + 1u) / 2u);
}

// Row r (0..3) of a 4x4 score tile into P, skipping columns past T.
fn store_scores(row: u32, s0: u32, x: vec4f) {
  let i = row * p.T + s0;
  s_out[i] = x.x;
  if (s0 + 1u < p.T) { s_out[i + 1u] = x.y; }
  if (s0 + 2u < p.T) { s_out[i + 2u] = x.z; }
  if (s0 + 3u < p.T) { s_out[i + 3u] = x.w; }
}

@compute @workgroup_size(WG)
fn scores(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
          @builtin(local_invocation_index) lid: u32) {
  let item = (wid.y * nwg.x + wid.x) * WG + lid;
  let nb = (p.T + 3u) / 4u;
  let ntri = nb * (nb + 1u) / 2u;
  if (item >= p.heads * ntri) { return; }
  let first = (item / ntri) * p.T;
  let tile = triangle(item % ntri);
  let t0 = tile.x * 4u;
  let s0 = tile.y * 4u;
  // Rows past T (last tile of a head) are clamped for loading and never stored.
  let last = p.T - 1u;
  let qa = first + min(t0, last);
  let qb = first + min(t0 + 1u, last);
  let qc = first + min(t0 + 2u, last);
  let qd = first + min(t0 + 3u, last);
  let ka = first + min(s0, last);
  let kb = first + min(s0 + 1u, last);
  let kc = first + min(s0 + 2u, last);
  let kd = first + min(s0 + 3u, last);
  var x0 = vec4f(0.0);
  var x1 = vec4f(0.0);
  var x2 = vec4f(0.0);
  var x3 = vec4f(0.0);
  for (var c = 0u; c < D4; c++) {
    let k0 = load_k(ka, c);
    let k1 = load_k(kb, c);
    let k2 = load_k(kc, c);
    let k3 = load_k(kd, c);
    let q0 = load_q(qa, c);
    x0 += vec4f(dot(q0, k0), dot(q0, k1), dot(q0, k2), dot(q0, k3));
    let q1 = load_q(qb, c);
    x1 += vec4f(dot(q1, k0), dot(q1, k1), dot(q1, k2), dot(q1, k3));
    let q2 = load_q(qc, c);
    x2 += vec4f(dot(q2, k0), dot(q2, k1), dot(q2, k2), dot(q2, k3));
    let q3 = load_q(qd, c);
    x3 += vec4f(dot(q3, k0), dot(q3, k1), dot(q3, k2), dot(q3, k3));
  }
  store_scores(first + t0, s0, x0 * p.scale2);
  if (t0 + 1u < p.T) { store_scores(first + t0 + 1u, s0, x1 * p.scale2); }
  if (t0 + 2u < p.T) { store_scores(first + t0 + 2u, s0, x2 * p.scale2); }
  if (t0 + 3u < p.T) { store_scores(first + t0 + 3u, s0, x3 * p.scale2); }
}

// Entries above the diagonal inside diagonal tiles hold scores too; only s <= t is read.
@compute @workgroup_size(WG)
fn softmax(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
           @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * nwg.x + wid.x) * WG + lid;
  if (row >= p.heads * p.T) { return; }
  let t = row % p.T;
  let base = row * p.T;
  var m = probs[base];
  for (var s = 1u; s <= t; s++) { m = max(m, probs[base + s]); }
  var l = 0.0;
  for (var s = 0u; s <= t; s++) {
    let e = exp2(probs[base + s] - m);
    probs[base + s] = e;
    l += e;
  }
  let inv = 1.0 / l;
  for (var s = 0u; s <= t; s++) { probs[base + s] *= inv; }
  // The masked part is stored as real zeros, so P is the full attention matrix and the
  // products below need no mask.
  for (var s = t + 1u; s < p.T; s++) { probs[base + s] = 0.0; }
  lse[row] = (m + log2(l)) * LN2;
}

fn store_out(row: u32, c: u32, x: vec4f) {
  let i = row * D + 4u * c;
  out[i] = x.x;
  if (4u * c + 1u < D) { out[i + 1u] = x.y; }
  if (4u * c + 2u < D) { out[i + 2u] = x.z; }
  if (4u * c + 3u < D) { out[i + 3u] = x.w; }
}
fn store_out_pair(row: u32, c: u32, x: vec4f, y: vec4f) {
  store_out(row, c, x);
  if (c + 1u < D4) { store_out(row, c + 1u, y); }
}

@compute @workgroup_size(WG)
fn pv(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
      @builtin(local_invocation_index) lid: u32) {
  let item = (wid.y * nwg.x + wid.x) * WG + lid;
  let nb = (p.T + 3u) / 4u;
  let pairs = (D4 + 1u) / 2u;
  if (item >= p.heads * nb * pairs) { return; }
  // Two chunks of D per thread; when D4 is odd the second of the last pair is past D,
  // loads as zeros and is not stored.
  let c = (item % pairs) * 2u;
  let ti = (item / pairs) % nb;
  let first = (item / (pairs * nb)) * p.T;
  let t0 = ti * 4u;
  // Rows past T read some other row of P (finite or not) into accumulators never stored.
  let pa = (first + t0) * p.T;
  let pb = pa + p.T;
  let pc = pb + p.T;
  let pd = pc + p.T;
  var a0 = vec4f(0.0);
  var a1 = vec4f(0.0);
  var a2 = vec4f(0.0);
  var a3 = vec4f(0.0);
  var b0 = vec4f(0.0);
  var b1 = vec4f(0.0);
  var b2 = vec4f(0.0);
  var b3 = vec4f(0.0);
  // P is zero above the diagonal, so every row can run to the tile's last key.
  let end = min(t0 + 4u, p.T);
  for (var s = 0u; s < end; s++) {
    let va = load_v(first + s, c);
    let vb = load_v(first + s, c + 1u);
    let p0 = pm[pa + s];
    let p1 = pm[pb + s];
    let p2 = pm[pc + s];
    let p3 = pm[pd + s];
    a0 += p0 * va;
    a1 += p1 * va;
    a2 += p2 * va;
    a3 += p3 * va;
    b0 += p0 * vb;
    b1 += p1 * vb;
    b2 += p2 * vb;
    b3 += p3 * vb;
  }
  store_out_pair(first + t0, c, a0, b0);
  if (t0 + 1u < p.T) { store_out_pair(first + t0 + 1u, c, a1, b1); }
  if (t0 + 2u < p.T) { store_out_pair(first + t0 + 2u, c, a2, b2); }
  if (t0 + 3u < p.T) { store_out_pair(first + t0 + 3u, c, a3, b3); }
}

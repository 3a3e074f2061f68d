// attention_backward: gradients of GPT-2 causal self-attention, 'rows' variant
// (attention_forward.wgsl), given dout, recomputing the probabilities from the saved lse
// instead of storing them:
//   P[t,s]  = exp(q[t] . k[s] * scale - lse[t])              for s <= t, else 0
//   delta[t] = sum_s P[t,s] (dout[t] . v[s]) = dout[t] . out[t]
//   dS[t,s] = P[t,s] (dout[t] . v[s] - delta[t])
//   dq[t] = scale sum_{s<=t} dS[t,s] k[s]
//   dk[s] = scale sum_{t>=s} dS[t,s] q[t]
//   dv[s] =       sum_{t>=s} P[t,s] dout[t]
//
// Layout: q, k, v, out, dout, dq, dk, dv are (B, H, T, D) row-major f32; lse and delta
// are (B, H, T). "row" is the flat index (b*H + h)*T + t.
// Dispatch: two entry points, each one thread per row, ceil(B*H*T / WG) workgroups of WG
// threads folded into y past the x limit (src/gpu/grid.ts), encoded in this order:
//   query_grads  thread per query row t: delta[t] (written for the next pass) and dq[t]
//   key_grads    thread per key row s: dk[s], dv[s], reading delta
// Splitting by rows this way gives every gradient row exactly one writer, so there are no
// atomics and the sums run in a fixed order (deterministic). Both passes recompute the
// scores, which costs less than a (B, H, T, T) buffer of probabilities would in memory.
//
// As in the forward: scores in base 2 (the resident row is pre-multiplied by
// scale*log2(e)), D an override so loops over vec4 chunks have constant trip counts, and
// private arrays sized for the largest supported D (MAX_D4*4; the host checks).
// The entry points share binding numbers; each one's 'auto' layout only sees its own.

override WG: u32 = 64;
override D: u32 = 16;
override D4: u32 = (D + 3u) / 4u;   // derived from D; the host does not set it
const MAX_D4: u32 = 32u;
const LOG2E: f32 = 1.4426950408889634;

struct Params {
  rows: u32,     // B*H*T
  T: u32,
  scale: f32,
  scale2: f32,   // scale * log2(e)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> lse: array<f32>;
@group(0) @binding(5) var<storage, read> dout: array<f32>;

// query_grads
@group(0) @binding(6) var<storage, read_write> delta_out: array<f32>;
@group(0) @binding(7) var<storage, read> o: array<f32>;
@group(0) @binding(8) var<storage, read_write> dq: array<f32>;

// key_grads
@group(0) @binding(6) var<storage, read> delta: array<f32>;
@group(0) @binding(7) var<storage, read_write> dk: array<f32>;
@group(0) @binding(8) var<storage, read_write> dv: array<f32>;

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
fn load_dout(base: u32, c: u32) -> vec4f {
  let i = base + 4u * c;
  return select(vec4f(0.0), vec4f(dout[i], dout[i + 1u], dout[i + 2u], dout[i + 3u]), live(c));
}
fn load_o(base: u32, c: u32) -> vec4f {
  let i = base + 4u * c;
  return select(vec4f(0.0), vec4f(o[i], o[i + 1u], o[i + 2u], o[i + 3u]), live(c));
}

// The tail chunk of a row whose D is not a multiple of 4 must not spill into the next.
fn store_dq(base: u32, c: u32, x: vec4f) {
  let i = base + 4u * c;
  dq[i] = x.x;
  if (4u * c + 1u < D) { dq[i + 1u] = x.y; }
  if (4u * c + 2u < D) { dq[i + 2u] = x.z; }
  if (4u * c + 3u < D) { dq[i + 3u] = x.w; }
}
fn store_dk(base: u32, c: u32, x: vec4f) {
  let i = base + 4u * c;
  dk[i] = x.x;
  if (4u * c + 1u < D) { dk[i + 1u] = x.y; }
  if (4u * c + 2u < D) { dk[i + 2u] = x.z; }
  if (4u * c + 3u < D) { dk[i + 3u] = x.w; }
}
fn store_dv(base: u32, c: u32, x: vec4f) {
  let i = base + 4u * c;
  dv[i] = x.x;
  if (4u * c + 1u < D) { dv[i + 1u] = x.y; }
  if (4u * c + 2u < D) { dv[i + 2u] = x.z; }
  if (4u * c + 3u < D) { dv[i + 3u] = x.w; }
}

@compute @workgroup_size(WG)
fn query_grads(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * nwg.x + wid.x) * WG + lid;
  if (row >= p.rows) { return; }
  let t = row % p.T;
  let first = row - t;
  let base = row * D;

  var qr: array<vec4f, MAX_D4>;
  var g: array<vec4f, MAX_D4>;
  var dlt = 0.0;
  for (var c = 0u; c < D4; c++) {
    qr[c] = load_q(base, c) * p.scale2;
    g[c] = load_dout(base, c);
    dlt += dot(g[c], load_o(base, c));
  }
  delta_out[row] = dlt;
  let lse2 = lse[row] * LOG2E;

  var acc: array<vec4f, MAX_D4>;
  for (var c = 0u; c < D4; c++) { acc[c] = vec4f(0.0); }
  for (var s = 0u; s <= t; s++) {
    let kb = (first + s) * D;
    var x = 0.0;
    var dp = 0.0;
    for (var c = 0u; c < D4; c++) {
      x += dot(qr[c], load_k(kb, c));
      dp += dot(g[c], load_v(kb, c));
    }
    let ds = exp2(x - lse2) * (dp - dlt);
    for (var c = 0u; c < D4; c++) { acc[c] += ds * load_k(kb, c); }
  }
  for (var c = 0u; c < D4; c++) { store_dq(base, c, acc[c] * p.scale); }
}

@compute @workgroup_size(WG)
fn key_grads(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * nwg.x + wid.x) * WG + lid;
  if (row >= p.rows) { return; }
  let s = row % p.T;
  let first = row - s;
  let base = row * D;

  var kr: array<vec4f, MAX_D4>;
  var vr: array<vec4f, MAX_D4>;
  var gk: array<vec4f, MAX_D4>;
  var gv: array<vec4f, MAX_D4>;
  for (var c = 0u; c < D4; c++) {
    kr[c] = load_k(base, c) * p.scale2;
    vr[c] = load_v(base, c);
    gk[c] = vec4f(0.0);
    gv[c] = vec4f(0.0);
  }
  for (var t = s; t < p.T; t++) {
    let qrow = first + t;
    let qb = qrow * D;
    var x = 0.0;
    var dp = 0.0;
    for (var c = 0u; c < D4; c++) {
      x += dot(kr[c], load_q(qb, c));
      dp += dot(vr[c], load_dout(qb, c));
    }
    let pr = exp2(x - lse[qrow] * LOG2E);
    let ds = pr * (dp - delta[qrow]);
    for (var c = 0u; c < D4; c++) {
      gv[c] += pr * load_dout(qb, c);
      gk[c] += ds * load_q(qb, c);
    }
  }
  for (var c = 0u; c < D4; c++) {
    store_dk(base, c, gk[c] * p.scale);
    store_dv(base, c, gv[c]);
  }
}

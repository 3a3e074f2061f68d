// attention_probs_backward: gradients of attention_probs_forward.wgsl given dout, from the
// saved probability matrix P:
//   delta[t] = dout[t] . out[t]                 (= sum_s P[t,s] dout[t].v[s])
//   dS[t,s]  = scale * P[t,s] (dout[t] . v[s] - delta[t])
//   dq[t]    = sum_{s<=t} dS[t,s] k[s]
//   dk[s]    = sum_{t>=s} dS[t,s] q[t]
//   dv[s]    = sum_{t>=s} P[t,s] dout[t]
//
// Layout: q, k, v, out, dout, dq, dk, dv (B, H, T, D); P, dS (B, H, T, T); delta
// (B, H, T); all row-major f32. A "row" is the flat index (b*H + h)*T + t.
// Dispatch: four entry points, in this order, each on a 1-D grid of WG-thread workgroups
// folded into y past the x limit (src/gpu/grid.ts); nb = ceil(T/4):
//   delta     one thread per row: B*H*T threads
//   dscores   one thread per 4x4 tile of dS on or below the diagonal: B*H*nb*(nb+1)/2
//             threads; entries above the diagonal inside those tiles come out 0 (P is 0)
//   dq        one thread per (4 query rows, 8 columns of D): B*H*nb*ceil(D/8) threads
//   dkdv      one thread per (4 key rows, 4 columns of D): B*H*nb*ceil(D/4) threads
// Every gradient element has exactly one writer and sums in a fixed order: no atomics,
// reproducible. Register tiles as in the forward (named vec4 accumulators, no barriers).
// The entry points share binding numbers; each one's 'auto' layout only sees its own.

override WG: u32 = 64;
override D: u32 = 16;
override D4: u32 = (D + 3u) / 4u;   // derived from D; the host does not set it

struct Params {
  heads: u32,   // B*H
  T: u32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;

// delta: dout, o, delta_out
// dscores: dout, v, pm, delta, ds_out
// dkdv: dout, q, pm, ds, dk, dv
// dq: ds_rows, k, dq
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read> o: array<f32>;
@group(0) @binding(3) var<storage, read_write> delta_out: array<f32>;

@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> pm: array<f32>;
@group(0) @binding(4) var<storage, read> delta: array<f32>;
@group(0) @binding(5) var<storage, read_write> ds_out: array<f32>;

@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(4) var<storage, read> ds: array<f32>;
@group(0) @binding(5) var<storage, read_write> dk: array<f32>;
@group(0) @binding(6) var<storage, read_write> dv: array<f32>;

@group(0) @binding(1) var<storage, read> ds_rows: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read_write> dq: array<f32>;

// Which lanes of chunk c lie inside a row of D; reads past D are replaced by 0 (they may
// be the next row, or NaN-poisoned padding of a pooled buffer).
fn live(c: u32) -> vec4<bool> {
  return (vec4u(4u * c) + vec4u(0u, 1u, 2u, 3u)) < vec4u(D);
}
fn load_dout(row: u32, c: u32) -> vec4f {
  let i = row * D + 4u * c;
  return select(vec4f(0.0), vec4f(dout[i], dout[i + 1u], dout[i + 2u], dout[i + 3u]), live(c));
}
fn load_o(row: u32, c: u32) -> vec4f {
  let i = row * D + 4u * c;
  return select(vec4f(0.0), vec4f(o[i], o[i + 1u], o[i + 2u], o[i + 3u]), live(c));
}
fn load_v(row: u32, c: u32) -> vec4f {
  let i = row * D + 4u * c;
  return select(vec4f(0.0), vec4f(v[i], v[i + 1u], v[i + 2u], v[i + 3u]), live(c));
}
fn load_q(row: u32, c: u32) -> vec4f {
  let i = row * D + 4u * c;
  return select(vec4f(0.0), vec4f(q[i], q[i + 1u], q[i + 2u], q[i + 3u]), live(c));
}
fn load_k(row: u32, c: u32) -> vec4f {
  let i = row * D + 4u * c;
  return select(vec4f(0.0), vec4f(k[i], k[i + 1u], k[i + 2u], k[i + 3u]), live(c));
}

// The tail chunk of a row whose D is not a multiple of 4 must not spill into the next.
fn store_dq(row: u32, c: u32, x: vec4f) {
  let i = row * D + 4u * c;
  dq[i] = x.x;
  if (4u * c + 1u < D) { dq[i + 1u] = x.y; }
  if (4u * c + 2u < D) { dq[i + 2u] = x.z; }
  if (4u * c + 3u < D) { dq[i + 3u] = x.w; }
}
fn store_dq_pair(row: u32, c: u32, x: vec4f, y: vec4f) {
  store_dq(row, c, x);
  if (c + 1u < D4) { store_dq(row, c + 1u, y); }
}
fn store_dk(row: u32, c: u32, x: vec4f) {
  let i = row * D + 4u * c;
  dk[i] = x.x;
  if (4u * c + 1u < D) { dk[i + 1u] = x.y; }
  if (4u * c + 2u < D) { dk[i + 2u] = x.z; }
  if (4u * c + 3u < D) { dk[i + 3u] = x.w; }
}
fn store_dv(row: u32, c: u32, x: vec4f) {
  let i = row * D + 4u * c;
  dv[i] = x.x;
  if (4u * c + 1u < D) { dv[i + 1u] = x.y; }
  if (4u * c + 2u < D) { dv[i + 2u] = x.z; }
  if (4u * c + 3u < D) { dv[i + 3u] = x.w; }
}

@compute @workgroup_size(WG)
fn delta_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
              @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * nwg.x + wid.x) * WG + lid;
  if (row >= p.heads * p.T) { return; }
  var acc = 0.0;
  for (var c = 0u; c < D4; c++) { acc += dot(load_dout(row, c), load_o(row, c)); }
  delta_out[row] = acc;
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

// One row of a 4x4 tile: dS = scale * P * (dP - delta), skipping columns past T.
fn store_ds(row: u32, s0: u32, dp: vec4f) {
  let i = row * p.T + s0;
  let g = p.scale * (dp - vec4f(delta[row]));
  ds_out[i] = pm[i] * g.x;
  if (s0 + 1u < p.T) { ds_out[i + 1u] = pm[i + 1u] * g.y; }
  if (s0 + 2u < p.T) { ds_out[i + 2u] = pm[i + 2u] * g.z; }
  if (s0 + 3u < p.T) { ds_out[i + 3u] = pm[i + 3u] * g.w; }
}

@compute @workgroup_size(WG)
fn dscores(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
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
  let ga = first + min(t0, last);
  let gb = first + min(t0 + 1u, last);
  let gc = first + min(t0 + 2u, last);
  let gd = first + min(t0 + 3u, last);
  let va = first + min(s0, last);
  let vb = first + min(s0 + 1u, last);
  let vc = first + min(s0 + 2u, last);
  let vd = first + min(s0 + 3u, last);
  var x0 = vec4f(0.0);
  var x1 = vec4f(0.0);
  var x2 = vec4f(0.0);
  var x3 = vec4f(0.0);
  for (var c = 0u; c < D4; c++) {
    let v0 = load_v(va, c);
    let v1 = load_v(vb, c);
    let v2 = load_v(vc, c);
    let v3 = load_v(vd, c);
    let g0 = load_dout(ga, c);
    x0 += vec4f(dot(g0, v0), dot(g0, v1), dot(g0, v2), dot(g0, v3));
    let g1 = load_dout(gb, c);
    x1 += vec4f(dot(g1, v0), dot(g1, v1), dot(g1, v2), dot(g1, v3));
    let g2 = load_dout(gc, c);
    x2 += vec4f(dot(g2, v0), dot(g2, v1), dot(g2, v2), dot(g2, v3));
    let g3 = load_dout(gd, c);
    x3 += vec4f(dot(g3, v0), dot(g3, v1), dot(g3, v2), dot(g3, v3));
  }
  store_ds(first + t0, s0, x0);
  if (t0 + 1u < p.T) { store_ds(first + t0 + 1u, s0, x1); }
  if (t0 + 2u < p.T) { store_ds(first + t0 + 2u, s0, x2); }
  if (t0 + 3u < p.T) { store_ds(first + t0 + 3u, s0, x3); }
}

@compute @workgroup_size(WG)
fn query_grads(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
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
  // Rows past T read some other row of dS into accumulators that are never stored.
  let ra = (first + t0) * p.T;
  let rb = ra + p.T;
  let rc = rb + p.T;
  let rd = rc + p.T;
  var a0 = vec4f(0.0);
  var a1 = vec4f(0.0);
  var a2 = vec4f(0.0);
  var a3 = vec4f(0.0);
  var b0 = vec4f(0.0);
  var b1 = vec4f(0.0);
  var b2 = vec4f(0.0);
  var b3 = vec4f(0.0);
  // dS is zero above the diagonal inside the diagonal tile, so all four rows can run to
  // the tile's last key.
  let end = min(t0 + 4u, p.T);
  for (var s = 0u; s < end; s++) {
    let ka = load_k(first + s, c);
    let kb = load_k(first + s, c + 1u);
    let g0 = ds_rows[ra + s];
    let g1 = ds_rows[rb + s];
    let g2 = ds_rows[rc + s];
    let g3 = ds_rows[rd + s];
    a0 += g0 * ka;
    a1 += g1 * ka;
    a2 += g2 * ka;
    a3 += g3 * ka;
    b0 += g0 * kb;
    b1 += g1 * kb;
    b2 += g2 * kb;
    b3 += g3 * kb;
  }
  store_dq_pair(first + t0, c, a0, b0);
  if (t0 + 1u < p.T) { store_dq_pair(first + t0 + 1u, c, a1, b1); }
  if (t0 + 2u < p.T) { store_dq_pair(first + t0 + 2u, c, a2, b2); }
  if (t0 + 3u < p.T) { store_dq_pair(first + t0 + 3u, c, a3, b3); }
}

@compute @workgroup_size(WG)
fn key_grads(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) lid: u32) {
  let item = (wid.y * nwg.x + wid.x) * WG + lid;
  let nb = (p.T + 3u) / 4u;
  if (item >= p.heads * nb * D4) { return; }
  let c = item % D4;
  let si = (item / D4) % nb;
  let first = (item / (D4 * nb)) * p.T;
  let s0 = si * 4u;
  var k0 = vec4f(0.0);
  var k1 = vec4f(0.0);
  var k2 = vec4f(0.0);
  var k3 = vec4f(0.0);
  var v0 = vec4f(0.0);
  var v1 = vec4f(0.0);
  var v2 = vec4f(0.0);
  var v3 = vec4f(0.0);
  // Column s0+r of P and dS; columns past T read the start of the next row into
  // accumulators that are never stored. Rows t < s of the diagonal tile hold zeros.
  for (var t = s0; t < p.T; t++) {
    let row = first + t;
    let i = row * p.T + s0;
    let qt = load_q(row, c);
    let gt = load_dout(row, c);
    k0 += ds[i] * qt;
    k1 += ds[i + 1u] * qt;
    k2 += ds[i + 2u] * qt;
    k3 += ds[i + 3u] * qt;
    v0 += pm[i] * gt;
    v1 += pm[i + 1u] * gt;
    v2 += pm[i + 2u] * gt;
    v3 += pm[i + 3u] * gt;
  }
  store_dk(first + s0, c, k0);
  store_dv(first + s0, c, v0);
  if (s0 + 1u < p.T) { store_dk(first + s0 + 1u, c, k1); store_dv(first + s0 + 1u, c, v1); }
  if (s0 + 2u < p.T) { store_dk(first + s0 + 2u, c, k2); store_dv(first + s0 + 2u, c, v2); }
  if (s0 + 3u < p.T) { store_dk(first + s0 + 3u, c, k3); store_dv(first + s0 + 3u, c, v3); }
}

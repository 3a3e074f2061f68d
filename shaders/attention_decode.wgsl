// attention_decode: the kernels of one KV-cache inference step of GPT-2 (host side in
// src/kernels/attentionDecode.ts; used by GptModel.forwardCached and src/model/generate.ts).
//
//   append_kv      qkv (B, S, 3, H, D) -> q (B, H, S, D), and the k and v parts written
//                  into the caches kc, vc (B, H, Tmax, D) at cache time pos[b] + s.
//                  (qkv is the (B*S, 3C) output of c_attn for S new tokens, C = H*D.)
//   attend         out (B, S, H, D): for query s of row b at time t = pos[b] + s,
//                  out[b, s, h] = sum_{u <= t} softmax_u(q[b,h,s] . kc[b,h,u] * scale) vc[b,h,u]
//                  i.e. causal attention of the new tokens over the cache, which must
//                  already hold times 0..t (append_kv of the same step wrote the new ones).
//                  The output is token-major, ready for the c_proj matmul without a merge.
//
// (Choosing the next token from the logits is shaders/select_tokens.wgsl.)
// Layout: all row-major f32 except pos (u32 [B]). pos gives each row's own time, so prompts of different lengths share one batch.
// A time at or past Tmax is never written and attention stops at Tmax - 1 (the host keeps
// lengths within the cache; this only keeps a bad pos from touching another head's rows).
//
// Dispatch (WG threads per workgroup, grids folded into y past the x limit, see
// src/gpu/grid.ts): append_kv one thread per element of q, ceil(B*H*S*D / WG) groups;
// attend one thread per query row (b, h, s), ceil(B*H*S / WG).
//
// Why one thread per query row in attend: a decoding step has few rows (B*H for S = 1) and
// each streams over at most n_positions keys, so there is little to share, and barriers
// are what the software adapter handles worst. The softmax is single-pass ("online"): the
// running maximum and sum are rescaled only when a larger score arrives. Scores are in
// base 2 (exp2 is the cheap instruction): q is pre-scaled by scale*log2(e).
//
// D is an override so the vec4 loops have constant trip counts; the private arrays are
// sized for the largest supported D (MAX_D4*4; the host checks).

override WG: u32 = 64;
override D: u32 = 16;
override D4: u32 = (D + 3u) / 4u;   // derived from D; the host does not set it
const MAX_D4: u32 = 32u;

struct Params {
  n: u32,    // threads with work (see Dispatch)
  a: u32,    // H
  b: u32,    // S
  c: u32,    // Tmax
  x: f32,    // attend: scale*log2(e)
}

@group(0) @binding(0) var<uniform> p: Params;

// append_kv
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> pos: array<u32>;
@group(0) @binding(3) var<storage, read_write> kc_out: array<f32>;
@group(0) @binding(4) var<storage, read_write> vc_out: array<f32>;
@group(0) @binding(5) var<storage, read_write> q_out: array<f32>;

// attend (pos at binding 2 as above)
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read> kc: array<f32>;
@group(0) @binding(4) var<storage, read> vc: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;


fn flat_index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

@compute @workgroup_size(WG)
fn append_kv(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let H = p.a;
  let S = p.b;
  let d = i % D;
  let s = (i / D) % S;
  let bh = i / (D * S);
  let h = bh % H;
  let b = bh / H;
  let C = H * D;
  let o = (b * S + s) * 3u * C + h * D + d;
  q_out[i] = qkv[o];
  let t = pos[b] + s;
  if (t < p.c) {
    let c = (bh * p.c + t) * D + d;
    kc_out[c] = qkv[o + C];
    vc_out[c] = qkv[o + 2u * C];
  }
}

// Lanes of chunk c past D read as 0: they may belong to the next row.
fn live(c: u32) -> vec4<bool> {
  return (vec4u(4u * c) + vec4u(0u, 1u, 2u, 3u)) < vec4u(D);
}
fn load_q(base: u32, c: u32) -> vec4f {
  let i = base + 4u * c;
  return select(vec4f(0.0), vec4f(q[i], q[i + 1u], q[i + 2u], q[i + 3u]), live(c));
}
fn load_k(base: u32, c: u32) -> vec4f {
  let i = base + 4u * c;
  return select(vec4f(0.0), vec4f(kc[i], kc[i + 1u], kc[i + 2u], kc[i + 3u]), live(c));
}
fn load_v(base: u32, c: u32) -> vec4f {
  let i = base + 4u * c;
  return select(vec4f(0.0), vec4f(vc[i], vc[i + 1u], vc[i + 2u], vc[i + 3u]), live(c));
}

@compute @workgroup_size(WG)
fn attend(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
          @builtin(local_invocation_index) lid: u32) {
  let row = flat_index(wid, nwg, lid);   // (b*H + h)*S + s
  if (row >= p.n) { return; }
  let H = p.a;
  let S = p.b;
  let Tmax = p.c;
  let s = row % S;
  let bh = row / S;
  let h = bh % H;
  let b = bh / H;
  let last = min(pos[b] + s, Tmax - 1u);
  let first = bh * Tmax;   // cache row of time 0 for this (batch, head)

  var qr: array<vec4f, MAX_D4>;
  for (var c = 0u; c < D4; c++) { qr[c] = load_q(row * D, c) * p.x; }

  // Time 0 is visible to every query, so it seeds the running max without an -inf.
  var score = 0.0;
  for (var c = 0u; c < D4; c++) { score += dot(qr[c], load_k(first * D, c)); }
  var m = score;
  var l = 1.0;
  var acc: array<vec4f, MAX_D4>;
  for (var c = 0u; c < D4; c++) { acc[c] = load_v(first * D, c); }

  for (var t = 1u; t <= last; t++) {
    let kb = (first + t) * D;
    score = 0.0;
    for (var c = 0u; c < D4; c++) { score += dot(qr[c], load_k(kb, c)); }
    if (score > m) {
      let shrink = exp2(m - score);
      l *= shrink;
      for (var c = 0u; c < D4; c++) { acc[c] *= shrink; }
      m = score;
    }
    let e = exp2(score - m);
    l += e;
    for (var c = 0u; c < D4; c++) { acc[c] += e * load_v(kb, c); }
  }

  let inv = 1.0 / l;
  let ob = ((b * S + s) * H + h) * D;
  for (var c = 0u; c < D4; c++) {
    let o = acc[c] * inv;
    let i = ob + 4u * c;
    // A tail chunk of a D that is not a multiple of 4 must not spill into the next head.
    out[i] = o.x;
    if (4u * c + 1u < D) { out[i + 1u] = o.y; }
    if (4u * c + 2u < D) { out[i + 2u] = o.z; }
    if (4u * c + 3u < D) { out[i + 3u] = o.w; }
  }
}

// heads: the layout changes around GPT-2's attention (pure permutations, so each one's
// backward is another permutation in this file).
//
//   split_qkv:     qkv (B, T, 3, H, D) -> q, k, v (B, H, T, D)
//                  (qkv is the (B, T, 3C) output of c_attn, C = H*D)
//   join_qkv:      q, k, v (B, H, T, D) -> qkv (B, T, 3, H, D)   [backward of split_qkv]
//   swap_axes:     src (N, R, S, D) -> dst (N, S, R, D)
//                  merge heads: (B, H, T, D) -> (B, T, H, D), i.e. R = H, S = T;
//                  its backward is the same entry point with R = T, S = H.
//
// Every thread owns one element of the (B, H, T, D) side, so split/join read or write
// three elements and swap_axes one; every destination element is written exactly once.
// Dispatch: ceil(n / WG) workgroups of WG threads, folded into y past the x limit
// (src/gpu/grid.ts), n = elements of the (B, H, T, D) side (of dst for swap_axes).
// The entry points share binding numbers; each one's 'auto' layout only sees its own.

override WG: u32 = 256;

struct Params {
  n: u32,   // threads with work: element count described above
  a: u32,   // split/join: H;   swap_axes: R
  b: u32,   // split/join: T;   swap_axes: S
  d: u32,   // D
}

@group(0) @binding(0) var<uniform> p: Params;

// split_qkv
@group(0) @binding(1) var<storage, read> qkv_in: array<f32>;
@group(0) @binding(2) var<storage, read_write> q_out: array<f32>;
@group(0) @binding(3) var<storage, read_write> k_out: array<f32>;
@group(0) @binding(4) var<storage, read_write> v_out: array<f32>;

// join_qkv
@group(0) @binding(1) var<storage, read> q_in: array<f32>;
@group(0) @binding(2) var<storage, read> k_in: array<f32>;
@group(0) @binding(3) var<storage, read> v_in: array<f32>;
@group(0) @binding(4) var<storage, read_write> qkv_out: array<f32>;

// swap_axes
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

// Offset in qkv (B, T, 3, H, D) of the q element matching head-major index i of
// (B, H, T, D); the k and v elements follow at +C and +2C.
fn qkv_offset(i: u32) -> u32 {
  let H = p.a;
  let T = p.b;
  let D = p.d;
  let d = i % D;
  let t = (i / D) % T;
  let bh = i / (D * T);
  let h = bh % H;
  let b = bh / H;
  return (b * T + t) * 3u * H * D + h * D + d;
}

@compute @workgroup_size(WG)
fn split_qkv(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.n) { return; }
  let C = p.a * p.d;
  let o = qkv_offset(i);
  q_out[i] = qkv_in[o];
  k_out[i] = qkv_in[o + C];
  v_out[i] = qkv_in[o + 2u * C];
}

@compute @workgroup_size(WG)
fn join_qkv(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.n) { return; }
  let C = p.a * p.d;
  let o = qkv_offset(i);
  qkv_out[o] = q_in[i];
  qkv_out[o + C] = k_in[i];
  qkv_out[o + 2u * C] = v_in[i];
}

// Indexed by the destination so that writes are contiguous; reads still come in
// contiguous runs of D.
@compute @workgroup_size(WG)
fn swap_axes(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.n) { return; }
  let R = p.a;
  let S = p.b;
  let D = p.d;
  // i indexes dst (N, S, R, D).
  let d = i % D;
  let r = (i / D) % R;
  let ns = i / (D * R);
  let s = ns % S;
  let n = ns / S;
  dst[i] = src[((n * R + r) * S + s) * D + d];
}

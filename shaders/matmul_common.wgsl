// matmul_common: what the four matmul variants share, spliced in by the shader library's
// `//!include matmul_common` line; not a kernel on its own. The including file declares its
// workgroup shape and entry points; the layout of every binding is in its header.

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override ACCUMULATE: bool = false;
override V_TRANS: bool = false;
// Split-K: batch entry z reduces over slice z of K only, [z KS, min((z + 1) KS, K)); the
// host points the batch strides at the slice starts and sums the partial products.
override SPLIT_K: bool = false;
// BIAS adds bias[n] to every output column n in the store (a linear layer's bias, no pass of
// its own); the binding holds a placeholder when it is off.
override BIAS: bool = false;

struct Params {
  M: u32,
  N: u32,
  K: u32,
  strideA: u32,
  strideB: u32,
  alpha: f32,
  R: u32,
  scale: f32,
  KS: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read> u: array<f32>;
@group(0) @binding(6) var<storage, read> v: array<f32>;

// Length of the reduction of batch entry z: all of K, or its slice's share under SPLIT_K.
fn k_len(z: u32) -> u32 {
  if (SPLIT_K) { return min(p.KS, p.K - z * p.KS); }
  return p.K;
}

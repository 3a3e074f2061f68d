// l1_penalty: an L1 penalty on a tensor and its gradient, in one pass:
//   value  = lambda * sum_i |x_i|      (+ the value already there with ACCUMULATE)
//   grad_i = lambda * sign(x_i)        (0 at 0)
// O-LoRA's orthogonality term is this on x = A_old A_new^T (the gradient then goes
// through that product on the host side of the op).
// Layout: x, grad flat f32 [n]; value f32 [1].
// Dispatch: exactly one workgroup of WG threads: thread l handles i = l, l + WG, ...,
//   then a fixed-order tree sum in workgroup memory (reproducible, no atomics). The
//   products it is taken on are [K r, r], a few thousand values, once per step.

override WG: u32 = 256;
override ACCUMULATE: bool = false;

struct Params { n: u32, lambda: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> value: array<f32>;

// The whole workgroup is one "row" for row_reduce's fixed-order tree sum.
override ROW_THREADS: u32 = WG;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = lid; i < p.n; i += WG) {
    let v = x[i];
    grad[i] = p.lambda * sign(v);
    s += abs(v);
  }
  let total = row_sum(s, lid);
  if (lid == 0u) {
    var v = p.lambda * total;
    if (ACCUMULATE) { v += value[0]; }
    value[0] = v;
  }
}

//!include row_reduce

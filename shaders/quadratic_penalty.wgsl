// quadratic_penalty: a penalty on chosen parameters and its gradient, in one pass:
//   value  = lambda * sum_i w_i (theta_i - a_i)^2      (+ the value already there with ACCUMULATE)
//   grad_i = 2 lambda w_i (theta_i - a_i)
// EWC's diagonal-Fisher penalty is this with w = F and a = the previous task's weights;
// UNIT_WEIGHTS (w = 1) is plain L2 pull towards an anchor.
// Layout: theta, anchor, weight, grad flat f32 [n]; value f32 [1].
// Dispatch: exactly one workgroup of WG threads: thread l handles i = l, l + WG, ...,
//   then a fixed-order tree sum in workgroup memory (reproducible, no atomics). Penalties
//   are taken once per optimizer step over adapter-sized tensors, so one workgroup is
//   plenty and avoids a second reduction pass.

override WG: u32 = 256;
override UNIT_WEIGHTS: bool = false;
override ACCUMULATE: bool = false;

struct Params { n: u32, lambda: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> theta: array<f32>;
@group(0) @binding(2) var<storage, read> anchor: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;
@group(0) @binding(5) var<storage, read_write> value: array<f32>;

// The whole workgroup is one "row" for row_reduce's fixed-order tree sum.
override ROW_THREADS: u32 = WG;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = lid; i < p.n; i += WG) {
    var w = 1.0;
    if (!UNIT_WEIGHTS) { w = weight[i]; }
    let d = theta[i] - anchor[i];
    grad[i] = 2.0 * p.lambda * w * d;
    s += w * d * d;
  }
  let total = row_sum(s, lid);
  if (lid == 0u) {
    var v = p.lambda * total;
    if (ACCUMULATE) { v += value[0]; }
    value[0] = v;
  }
}

//!include row_reduce

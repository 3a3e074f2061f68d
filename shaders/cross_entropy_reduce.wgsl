// cross_entropy reductions over tokens, one workgroup, fixed order (reproducible):
//   mask_sum: denom[0] = max(sum_t mask[t], 1), needed by the gradient before the rows run
//   mean:     denom[0] as above, and meanLoss[0] = sum_t mask[t] * losses[t] / denom[0]
// Tokens with mask 0 contribute exactly 0 even if their loss is inf or NaN (padding rows
// may hold anything).
// Layout: mask, losses f32 [T]; denom, meanLoss f32 [1].
// Dispatch: exactly one workgroup of WG threads; thread l sums tokens l, l + WG, ... and a
// tree in workgroup memory combines the WG partial sums.

override WG: u32 = 256;

struct Params { rows: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> mask: array<f32>;
@group(0) @binding(2) var<storage, read_write> denom: array<f32>;
@group(0) @binding(3) var<storage, read> losses: array<f32>;
@group(0) @binding(4) var<storage, read_write> meanLoss: array<f32>;

var<workgroup> red_mask: array<f32, WG>;
var<workgroup> red_loss: array<f32, WG>;

@compute @workgroup_size(WG)
fn mask_sum(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var t = lid; t < p.rows; t += WG) {
    s += mask[t];
  }
  red_mask[lid] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k = k / 2u) {
    if (lid < k) {
      red_mask[lid] = red_mask[lid] + red_mask[lid + k];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    denom[0] = max(red_mask[0], 1.0);
  }
}

@compute @workgroup_size(WG)
fn mean(@builtin(local_invocation_index) lid: u32) {
  var sm = 0.0;
  var sl = 0.0;
  for (var t = lid; t < p.rows; t += WG) {
    let w = mask[t];
    sm += w;
    if (w != 0.0) {
      sl += w * losses[t];
    }
  }
  red_mask[lid] = sm;
  red_loss[lid] = sl;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k = k / 2u) {
    if (lid < k) {
      red_mask[lid] = red_mask[lid] + red_mask[lid + k];
      red_loss[lid] = red_loss[lid] + red_loss[lid + k];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let d = max(red_mask[0], 1.0);
    denom[0] = d;
    meanLoss[0] = red_loss[0] / d;
  }
}

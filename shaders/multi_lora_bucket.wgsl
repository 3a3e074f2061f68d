// multi_lora_bucket: groups the (row, slot) pairs by adapter so that the weight gradients
// can be summed per adapter without float atomics. For adapter e:
//   ranges[e] = (first, count), list[first .. first + count) = the slots s = m * k + j with
//   idx[s] == e, in ascending s (so every later sum runs in a fixed order).
// first = number of slots whose adapter is below e, which makes the lists of all adapters
// one packed array without a separate prefix-sum pass. Slots with idx >= E are left out.
// Layout: idx [S] u32 (S = M * k), ranges [E, 2] u32, list [S] u32 (only the first
// sum(count) entries are written).
// Dispatch: ceil(E / WG) workgroups of WG threads; one adapter per thread, which scans idx
// twice. E is a pool size (tens), S a batch of tokens times k.

override WG: u32 = 64;

struct Params { S: u32, E: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> idx: array<u32>;
@group(0) @binding(2) var<storage, read_write> ranges: array<u32>;
@group(0) @binding(3) var<storage, read_write> list: array<u32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let e = gid.x;
  if (e >= p.E) {
    return;
  }
  var first = 0u;
  var count = 0u;
  for (var s = 0u; s < p.S; s++) {
    let v = idx[s];
    first += select(0u, 1u, v < e);
    count += select(0u, 1u, v == e);
  }
  ranges[2u * e] = first;
  ranges[2u * e + 1u] = count;
  var pos = first;
  for (var s = 0u; s < p.S; s++) {
    if (idx[s] == e) {
      list[pos] = s;
      pos++;
    }
  }
}

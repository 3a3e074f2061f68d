// multi_lora_up: y[m, n] = base[m, n] + scale * sum_j w[m, j] * (B_e xa[m, j, :])[n],
// e = idx[m, j]; slots with e >= E add nothing, so a row whose slots are all the
// "no adapter" sentinel comes out exactly equal to base.
// Entries: main (y = delta), main_base (y = base + delta), main_acc (y += delta, in place).
// Layout: xa [M, k, r] f32, B [E, N, r] f32, idx [M, k] u32, w [M, k] f32, y [M, N] f32,
// base [M, N] f32 (main_base only; it is the last binding so the other entries can omit it).
// Dispatch: ceil(M * ceil(N / 8) / WG) workgroups of WG threads, folded into y past the x
// limit (src/gpu/grid.ts). A thread owns 8 consecutive outputs of one row in two vec4
// accumulators, so each xa value it loads feeds 8 FMAs (8 beat 4 per thread on the software
// adapter; B itself is read once per row either way, since rows may use different
// adapters). Slots are summed in ascending j.

override WG: u32 = 64;

struct Params { M: u32, N: u32, E: u32, r: u32, k: u32, nn8: u32, scale: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> xa: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read> idx: array<u32>;
@group(0) @binding(4) var<storage, read> w: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
@group(0) @binding(6) var<storage, read> base: array<f32>;

fn flat(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

// The row's delta for outputs n0 .. n0+7, returned as two vec4s in a 2-column matrix.
fn delta(m: u32, n0: u32) -> mat2x4f {
  // Lanes past N read row N-1 again: always in bounds, and never stored.
  let last = p.N - 1u;
  var lo = vec4f(0.0);
  var hi = vec4f(0.0);
  for (var j = 0u; j < p.k; j++) {
    let s = m * p.k + j;
    let e = idx[s];
    if (e >= p.E) {
      continue;
    }
    let row = e * p.N;
    let b0 = (row + min(n0, last)) * p.r;
    let b1 = (row + min(n0 + 1u, last)) * p.r;
    let b2 = (row + min(n0 + 2u, last)) * p.r;
    let b3 = (row + min(n0 + 3u, last)) * p.r;
    let b4 = (row + min(n0 + 4u, last)) * p.r;
    let b5 = (row + min(n0 + 5u, last)) * p.r;
    let b6 = (row + min(n0 + 6u, last)) * p.r;
    let b7 = (row + min(n0 + 7u, last)) * p.r;
    let xs = s * p.r;
    var d0 = vec4f(0.0);
    var d1 = vec4f(0.0);
    for (var t = 0u; t < p.r; t++) {
      let a = xa[xs + t];
      d0 += vec4f(B[b0 + t], B[b1 + t], B[b2 + t], B[b3 + t]) * a;
      d1 += vec4f(B[b4 + t], B[b5 + t], B[b6 + t], B[b7 + t]) * a;
    }
    let ws = w[s];
    lo += d0 * ws;
    hi += d1 * ws;
  }
  return mat2x4f(lo * p.scale, hi * p.scale);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = flat(wid, nwg, lid);
  if (i >= p.M * p.nn8) {
    return;
  }
  let m = i / p.nn8;
  let n0 = (i % p.nn8) * 8u;
  let v = delta(m, n0);
  for (var l = 0u; l < 4u; l++) {
    if (n0 + l < p.N) {
      y[m * p.N + n0 + l] = v[0][l];
    }
    if (n0 + 4u + l < p.N) {
      y[m * p.N + n0 + 4u + l] = v[1][l];
    }
  }
}

@compute @workgroup_size(WG)
fn main_base(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) lid: u32) {
  let i = flat(wid, nwg, lid);
  if (i >= p.M * p.nn8) {
    return;
  }
  let m = i / p.nn8;
  let n0 = (i % p.nn8) * 8u;
  let v = delta(m, n0);
  for (var l = 0u; l < 4u; l++) {
    if (n0 + l < p.N) {
      let o = m * p.N + n0 + l;
      y[o] = base[o] + v[0][l];
    }
    if (n0 + 4u + l < p.N) {
      let o = m * p.N + n0 + 4u + l;
      y[o] = base[o] + v[1][l];
    }
  }
}

@compute @workgroup_size(WG)
fn main_acc(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_index) lid: u32) {
  let i = flat(wid, nwg, lid);
  if (i >= p.M * p.nn8) {
    return;
  }
  let m = i / p.nn8;
  let n0 = (i % p.nn8) * 8u;
  let v = delta(m, n0);
  for (var l = 0u; l < 4u; l++) {
    if (n0 + l < p.N) {
      let o = m * p.N + n0 + l;
      y[o] = y[o] + v[0][l];
    }
    if (n0 + 4u + l < p.N) {
      let o = m * p.N + n0 + 4u + l;
      y[o] = y[o] + v[1][l];
    }
  }
}

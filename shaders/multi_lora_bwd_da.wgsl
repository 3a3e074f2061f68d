// multi_lora_bwd_da: dA[e, t, c] = sum over slots s routed to e of dxa[s, t] * x[m(s), c],
// with m(s) = s / k; adapters with no slots get zeros.
// Layout: list [S] u32 and ranges [E, 2] u32 (from multi_lora_bucket), dxa [M, k, r] f32,
// x [M, K] f32, dA [E, r, K] f32.
// Dispatch: ceil(E * ceil(r / 4) * ceil(K / 4) / WG) workgroups of WG threads, folded into
// y past the x limit (src/gpu/grid.ts). A thread owns a 4 (ranks) x 4 (columns) tile of
// one adapter in four vec4 accumulators: per slot it loads 4 + 4 values for 16 FMAs, and
// walks the slots in list order, so the sum is reproducible.

override WG: u32 = 64;

struct Params { K: u32, E: u32, r: u32, k: u32, nt4: u32, nc4: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> list: array<u32>;
@group(0) @binding(2) var<storage, read> ranges: array<u32>;
@group(0) @binding(3) var<storage, read> dxa: array<f32>;
@group(0) @binding(4) var<storage, read> x: array<f32>;
@group(0) @binding(5) var<storage, read_write> dA: array<f32>;

fn store(row: u32, col: u32, v: vec4f) {
  for (var l = 0u; l < 4u; l++) {
    if (col + l < p.K) {
      dA[row * p.K + col + l] = v[l];
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.E * p.nt4 * p.nc4) {
    return;
  }
  let e = i / (p.nt4 * p.nc4);
  let t0 = ((i / p.nc4) % p.nt4) * 4u;
  let col = (i % p.nc4) * 4u;
  // Lanes past r or K re-read the last rank or column (in bounds) and are never stored.
  let lastT = p.r - 1u;
  let lastC = p.K - 1u;
  let u0 = min(t0, lastT);
  let u1 = min(t0 + 1u, lastT);
  let u2 = min(t0 + 2u, lastT);
  let u3 = min(t0 + 3u, lastT);
  let c0 = min(col, lastC);
  let c1 = min(col + 1u, lastC);
  let c2 = min(col + 2u, lastC);
  let c3 = min(col + 3u, lastC);
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  let first = ranges[2u * e];
  let end = first + ranges[2u * e + 1u];
  for (var q = first; q < end; q++) {
    let s = list[q];
    let xr = (s / p.k) * p.K;
    let xv = vec4f(x[xr + c0], x[xr + c1], x[xr + c2], x[xr + c3]);
    let gs = s * p.r;
    acc0 += xv * dxa[gs + u0];
    acc1 += xv * dxa[gs + u1];
    acc2 += xv * dxa[gs + u2];
    acc3 += xv * dxa[gs + u3];
  }
  let row = e * p.r + t0;
  store(row, col, acc0);
  if (t0 + 1u < p.r) {
    store(row + 1u, col, acc1);
  }
  if (t0 + 2u < p.r) {
    store(row + 2u, col, acc2);
  }
  if (t0 + 3u < p.r) {
    store(row + 3u, col, acc3);
  }
}

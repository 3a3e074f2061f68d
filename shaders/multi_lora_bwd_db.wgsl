// multi_lora_bwd_db: dB[e, n, t] = scale * sum over slots s routed to e of
// w[s] * dy[m(s), n] * xa[s, t], with m(s) = s / k; adapters with no slots get zeros.
// Layout: list [S] u32 and ranges [E, 2] u32 (from multi_lora_bucket), dy [M, N] f32,
// w [M, k] f32, xa [M, k, r] f32, dB [E, N, r] f32.
// Dispatch: ceil(E * ceil(N / 4) * ceil(r / 4) / WG) workgroups of WG threads, folded into
// y past the x limit (src/gpu/grid.ts). A thread owns a 4 (outputs) x 4 (ranks) tile of one
// adapter in four vec4 accumulators, walking the slots in list order (reproducible).

override WG: u32 = 64;

struct Params { N: u32, E: u32, r: u32, k: u32, nn4: u32, nt4: u32, scale: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> list: array<u32>;
@group(0) @binding(2) var<storage, read> ranges: array<u32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read> w: array<f32>;
@group(0) @binding(5) var<storage, read> xa: array<f32>;
@group(0) @binding(6) var<storage, read_write> dB: array<f32>;

fn store(row: u32, t0: u32, v: vec4f) {
  for (var l = 0u; l < 4u; l++) {
    if (t0 + l < p.r) {
      dB[row * p.r + t0 + l] = v[l] * p.scale;
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.E * p.nn4 * p.nt4) {
    return;
  }
  let e = i / (p.nn4 * p.nt4);
  let n0 = ((i / p.nt4) % p.nn4) * 4u;
  let t0 = (i % p.nt4) * 4u;
  // Lanes past N or r re-read the last output or rank (in bounds) and are never stored.
  let lastN = p.N - 1u;
  let lastT = p.r - 1u;
  let n1 = min(n0 + 1u, lastN);
  let n2 = min(n0 + 2u, lastN);
  let n3 = min(n0 + 3u, lastN);
  let u0 = min(t0, lastT);
  let u1 = min(t0 + 1u, lastT);
  let u2 = min(t0 + 2u, lastT);
  let u3 = min(t0 + 3u, lastT);
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  let first = ranges[2u * e];
  let end = first + ranges[2u * e + 1u];
  for (var q = first; q < end; q++) {
    let s = list[q];
    let dr = (s / p.k) * p.N;
    let ws = w[s];
    let xs = s * p.r;
    let xv = vec4f(xa[xs + u0], xa[xs + u1], xa[xs + u2], xa[xs + u3]);
    acc0 += xv * (ws * dy[dr + n0]);
    acc1 += xv * (ws * dy[dr + n1]);
    acc2 += xv * (ws * dy[dr + n2]);
    acc3 += xv * (ws * dy[dr + n3]);
  }
  let row = e * p.N + n0;
  store(row, t0, acc0);
  if (n0 + 1u < p.N) {
    store(row + 1u, t0, acc1);
  }
  if (n0 + 2u < p.N) {
    store(row + 2u, t0, acc2);
  }
  if (n0 + 3u < p.N) {
    store(row + 3u, t0, acc3);
  }
}

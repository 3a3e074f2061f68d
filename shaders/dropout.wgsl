// dropout: inverted dropout with a mask recomputed from (seed, index), so the backward pass
// (and a later replay of the same step) needs no stored mask:
//   keep(i) = hash(i ^ hash(seed)) >= threshold,   threshold = round(p * 2^32)
//   out[i]  = keep(i) ? x[i] * invKeep : 0,         invKeep = 1 / (1 - p)
// The same call on a gradient with the same seed applies the same mask, which is the
// backward pass. hash is the PCG-based integer hash of Jarzynski and Olano, "Hash Functions
// for GPU Rendering" (JCGT 2020): well mixed and cheap; src/reference/dropout.ts repeats it
// in JavaScript so tests compare masks bit for bit.
// Layout: x, out flat f32 arrays of n elements (any shape); out may not alias x.
// Dispatch: ceil(n / WG) workgroups of WG threads, folded into y past the x limit
// (src/gpu/grid.ts); one element per thread.

override WG: u32 = 256;

struct Params {
  n: u32,
  seed: u32,
  threshold: u32,
  invKeep: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

fn pcg_hash(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.n) {
    return;
  }
  let keep = pcg_hash(i ^ pcg_hash(p.seed)) >= p.threshold;
  out[i] = select(0.0, x[i] * p.invKeep, keep);
}

// sum_batches: out[i] = alpha * sum_s parts[s * n + i] (+ out[i] when ACCUMULATE), the
// second half of a split-K matmul: the partial products of S slices of the inner dimension
// are added in slice order, so the result is reproducible.
// Layout: parts [S, n] f32, out [n] f32, different buffers.
// Dispatch: ceil(n / WG) workgroups of WG threads, folded into y past the x limit
// (src/gpu/grid.ts); one output per thread.

override WG: u32 = 256;
override ACCUMULATE: bool = false;

struct Params { n: u32, S: u32, alpha: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> parts: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.n) {
    return;
  }
  var s = 0.0;
  for (var k = 0u; k < p.S; k++) {
    s += parts[k * p.n + i];
  }
  s *= p.alpha;
  if (ACCUMULATE) {
    s += out[i];
  }
  out[i] = s;
}

// add: out[i] = a[i] + b[i] for i < n (the residual connection; its backward is the
// identity, so it has no backward kernel).
// Layout: a, b, out are flat f32 arrays of n elements; out may not alias a or b.
// Dispatch: ceil(n / WG) workgroups of WG threads, folded into y past the x limit
// (src/gpu/grid.ts); one element per thread.

override WG: u32 = 256;

struct Params { n: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i < p.n) {
    out[i] = a[i] + b[i];
  }
}

// accumulate: dst[i] += alpha * src[i] for i < n, in place (alpha * src[i]^2 with SQUARE = 1).
// Autograd sums gradient contributions with it (a tensor read by two ops gets two), gradient
// accumulation over micro-batches adds each micro-batch's gradients into the parameter's,
// and EWC sums squared gradients into its diagonal Fisher.
// Layout: dst, src are flat f32 arrays of n elements in different buffers (WebGPU forbids
// binding one buffer both read-only and writable in a dispatch).
// Dispatch: ceil(n / WG) workgroups of WG threads, folded into y past the x limit
// (src/gpu/grid.ts); one element per thread.

override WG: u32 = 256;
override SQUARE: u32 = 0;

struct Params { n: u32, alpha: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i < p.n) {
    let v = src[i];
    dst[i] = dst[i] + p.alpha * select(v, v * v, SQUARE == 1u);
  }
}

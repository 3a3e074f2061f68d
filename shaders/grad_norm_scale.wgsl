// grad_norm_scale: gradient clipping with the norm that shaders/grad_norm.wgsl left on the
// GPU: grad[i] *= min(1, maxNorm / (norm[0] + 1e-6)) (PyTorch's clip_grad_norm_ factor),
// so clipping needs no CPU round trip. When the factor is 1 nothing is written.
// Layout: grad flat f32 [n] (scaled in place); norm f32 [1].
// Dispatch: ceil(n / WG) workgroups of WG threads, folded into y past the x limit
// (src/gpu/grid.ts); one element per thread.

override WG: u32 = 256;

struct Params { n: u32, maxNorm: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> grad: array<f32>;
@group(0) @binding(2) var<storage, read> norm: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  let scale = min(1.0, p.maxNorm / (norm[0] + 1e-6));
  if (i >= p.n || scale >= 1.0) {
    return;
  }
  grad[i] = grad[i] * scale;
}

// adamw: one AdamW step (decoupled weight decay, bias-corrected moments), in place, in the
// order PyTorch's torch.optim.AdamW applies it:
//   param *= 1 - lr * weightDecay
//   m = beta1 * m + (1 - beta1) * g,   v = beta2 * v + (1 - beta2) * g^2
//   param -= (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// The host folds the step-dependent factors into uniforms in float64 (stepSize =
// lr / (1 - beta1^t), bc2Sqrt = sqrt(1 - beta2^t)), so the shader needs no pow and the
// step count t never reaches the GPU as an integer.
// `main_clipped` first scales g by PyTorch's clip_grad_norm_ factor min(1, maxNorm /
// (norm + 1e-6)) from the global norm that shaders/grad_norm.wgsl left on the GPU, so
// clipping costs no pass of its own over the gradients.
// Layout: param, grad, m, v flat f32 arrays of n elements (any shape); main_clipped: norm f32 [1].
// Dispatch: ceil(n / WG) workgroups of WG threads, folded into y past the x limit
// (src/gpu/grid.ts); one element per thread.

override WG: u32 = 256;

struct Params {
  n: u32,
  decay: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  stepSize: f32,
  bc2Sqrt: f32,
  maxNorm: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;

fn update(i: u32, g: f32) {
  let mi = p.beta1 * m[i] + (1.0 - p.beta1) * g;
  let vi = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  param[i] = param[i] * p.decay - p.stepSize * mi / (sqrt(vi) / p.bc2Sqrt + p.eps);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.n) {
    return;
  }
  update(i, grad[i]);
}

@group(0) @binding(5) var<storage, read> norm: array<f32>;

@compute @workgroup_size(WG)
fn main_clipped(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.n) {
    return;
  }
  update(i, grad[i] * min(1.0, p.maxNorm / (norm[0] + 1e-6)));
}

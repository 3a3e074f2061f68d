// transpose: out[b, c, r] = x[b, r, c] for a batch of row-major [R, C] matrices. Used to
// give matmul a plainly laid-out operand: on software adapters a transposed-B read costs
// more per step than copying the weights once.
// Layout: x [batch, R, C], out [batch, C, R], f32, different buffers.
// Dispatch: (ceil(R / 8), ceil(C / 8), batch) workgroups of 8x8 threads, one element each.

struct Params { R: u32, C: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let r = gid.x;
  let c = gid.y;
  if (r < p.R && c < p.C) {
    let base = gid.z * p.R * p.C;
    out[base + c * p.R + r] = x[base + r * p.C + c];
  }
}

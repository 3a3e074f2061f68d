// embedding (forward): out[t, c] = table[ids[t], c], the token lookup; learned positions
// are the same gather with ids[t] = position of token t (src/kernels/embedding.ts has
// positionIds).
// Layout: ids u32 [T] (T = batch * seq, any leading shape flattened); table f32 [V, C];
// out f32 [T, C]; all row-major and contiguous.
// Out-of-range ids (>= V) read nothing and give a zero row: ids live on the GPU, so the
// host cannot check them, and the guard here keeps a bad id from reading out of bounds.
// ACCUMULATE adds into out instead of overwriting it, so the position lookup can land on
// top of the token lookup without a separate add pass.
// Dispatch: ceil(T * C / WG) workgroups of WG threads, folded into y past the x limit
// (src/gpu/grid.ts); one output element per thread, so neighbouring threads read
// neighbouring columns of the same table row.

override WG: u32 = 256;
override ACCUMULATE: bool = false;

struct Params { n: u32, C: u32, V: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.n) {
    return;
  }
  let t = i / p.C;
  let c = i - t * p.C;
  let id = ids[t];
  var v = 0.0;
  if (id < p.V) {
    v = table[id * p.C + c];
  }
  if (ACCUMULATE) {
    out[i] = out[i] + v;
  } else {
    out[i] = v;
  }
}

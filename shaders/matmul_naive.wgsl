// matmul_naive: C = alpha * op(A) op(B) [+ scale * U V^T] [+ C], one output per invocation.
// The baseline the tiled variants are checked and timed against (llm.c keeps its numbered
// slow kernels for the same reason).
//
// Layout (row-major f32; batch index z, strides in elements, stride 0 = shared operand):
//   a: [batch?, M, K], or [batch?, K, M] when TRANS_A     (p.strideA per batch)
//   b: [batch?, K, N], or [batch?, N, K] when TRANS_B     (p.strideB per batch)
//   c: [batch, M, N]                                       (M * N per batch)
//   bias: [N] (read only when BIAS).
//   main_lowrank only (batch 1): u: [M, R]; v: [N, R], or [R, N] when V_TRANS.
// Dispatch: workgroup (WX, WY), chosen by the host (narrowed when M or N is small);
//   grid (ceil(N / WX), ceil(M / WY), batch).

override WX: u32 = 16;
override WY: u32 = 16;

fn dot_k(m: u32, n: u32, z: u32) -> f32 {
  let baseA = z * p.strideA;
  let baseB = z * p.strideB;
  var sum = 0.0;
  let kl = k_len(z);
  for (var k = 0u; k < kl; k++) {
    var x: f32;
    var y: f32;
    if (TRANS_A) { x = a[baseA + k * p.M + m]; } else { x = a[baseA + m * p.K + k]; }
    if (TRANS_B) { y = b[baseB + n * p.K + k]; } else { y = b[baseB + k * p.N + n]; }
    sum += x * y;
  }
  return p.alpha * sum;
}

fn store_one(m: u32, n: u32, z: u32, product: f32) {
  let i = z * p.M * p.N + m * p.N + n;
  var value = product;
  if (BIAS) { value += bias[n]; }
  if (ACCUMULATE) { c[i] = c[i] + value; } else { c[i] = value; }
}

@compute @workgroup_size(WX, WY)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x >= p.N || gid.y >= p.M) { return; }
  store_one(gid.y, gid.x, gid.z, dot_k(gid.y, gid.x, gid.z));
}

@compute @workgroup_size(WX, WY)
fn main_lowrank(@builtin(global_invocation_id) gid: vec3u) {
  let m = gid.y;
  let n = gid.x;
  if (n >= p.N || m >= p.M) { return; }
  var low = 0.0;
  for (var r = 0u; r < p.R; r++) {
    var y: f32;
    if (V_TRANS) { y = v[r * p.N + n]; } else { y = v[n * p.R + r]; }
    low += u[m * p.R + r] * y;
  }
  store_one(m, n, gid.z, dot_k(m, n, gid.z) + p.scale * low);
}

//!include matmul_common

// matmul_wgtile: C = alpha * op(A) op(B) [+ scale * U V^T] [+ C] with shared-memory tiles:
// a 16x16 workgroup computes a 64x64 block of C, each invocation a 4x4 sub-block in vec4
// accumulators; per step it stages a 64x16 slab of op(A) and a 16x64 slab of op(B) in
// workgroup memory, so each global element is read once per workgroup instead of 16 times.
// This is what real GPUs want; on SwiftShader the two barriers per step dominate.
//
// Layout (row-major f32; batch index z, strides in elements, stride 0 = shared operand):
//   a: [batch?, M, K], or [batch?, K, M] when TRANS_A     (p.strideA per batch)
//   b: [batch?, K, N], or [batch?, N, K] when TRANS_B     (p.strideB per batch)
//   c: [batch, M, N]                                       (M * N per batch)
//   bias: [N] (read only when BIAS).
//   main_lowrank only (batch 1): u: [M, R]; v: [N, R], or [R, N] when V_TRANS.
// Dispatch: workgroup (16, 16); grid (ceil(N / 64), ceil(M / 64), batch).
// Edges: staged loads past M, N or K read as zero; stores are guarded.

const T = 16u;   // invocations per side; each owns 4 rows and 4 columns
const BK = 16u;  // k extent of one staged slab
const TILE = 64u;

// sa[k * T + i] holds op(A) rows 4i..4i+3 of the block at slab column k; sb[k * T + j]
// holds op(B) columns 4j..4j+3 at slab row k. The inner loop then reads one vec4 of each.
// This invocation's reduction length (k_len of its batch entry), set once in product().
var<private> kl: u32;
var<workgroup> sa: array<vec4f, BK * T>;
var<workgroup> sb: array<vec4f, BK * T>;

struct Block {
  r0: u32,
  c0: u32,
  z: u32,
  acc0: vec4f,
  acc1: vec4f,
  acc2: vec4f,
  acc3: vec4f,
}

fn load_a(base: u32, m: u32, k: u32) -> f32 {
  if (m >= p.M || k >= kl) { return 0.0; }
  if (TRANS_A) { return a[base + k * p.M + m]; }
  return a[base + m * p.K + k];
}

fn load_b(base: u32, k: u32, n: u32) -> f32 {
  if (n >= p.N || k >= kl) { return 0.0; }
  if (TRANS_B) { return b[base + n * p.K + k]; }
  return b[base + k * p.N + n];
}

// Each of the 256 invocations stages 4 elements of each slab, walking the direction that
// is contiguous in global memory so neighbouring invocations read neighbouring addresses.
fn stage(tid: u32, m0: u32, n0: u32, k0: u32, baseA: u32, baseB: u32) {
  if (TRANS_A) {
    let k = tid / T;
    let i = tid % T;
    let m = m0 + 4u * i;
    sa[k * T + i] = vec4f(load_a(baseA, m, k0 + k), load_a(baseA, m + 1u, k0 + k),
                          load_a(baseA, m + 2u, k0 + k), load_a(baseA, m + 3u, k0 + k));
  } else {
    let row = tid / 4u;
    let kq = 4u * (tid % 4u);
    for (var j = 0u; j < 4u; j++) {
      sa[(kq + j) * T + row / 4u][row % 4u] = load_a(baseA, m0 + row, k0 + kq + j);
    }
  }
  if (TRANS_B) {
    let col = tid / 4u;
    let kq = 4u * (tid % 4u);
    for (var j = 0u; j < 4u; j++) {
      sb[(kq + j) * T + col / 4u][col % 4u] = load_b(baseB, k0 + kq + j, n0 + col);
    }
  } else {
    let k = tid / T;
    let i = tid % T;
    let n = n0 + 4u * i;
    sb[k * T + i] = vec4f(load_b(baseB, k0 + k, n), load_b(baseB, k0 + k, n + 1u),
                          load_b(baseB, k0 + k, n + 2u), load_b(baseB, k0 + k, n + 3u));
  }
}

fn product(wid: vec3u, lid: vec3u) -> Block {
  let m0 = wid.y * TILE;
  let n0 = wid.x * TILE;
  let z = wid.z;
  let baseA = z * p.strideA;
  let baseB = z * p.strideB;
  let tid = lid.y * T + lid.x;
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  // A let of uniform values keeps the loop (and its barriers) in uniform control flow.
  let klen = k_len(z);
  kl = klen;
  for (var k0 = 0u; k0 < klen; k0 += BK) {
    stage(tid, m0, n0, k0, baseA, baseB);
    workgroupBarrier();
    for (var k = 0u; k < BK; k++) {
      let x = sa[k * T + lid.y];
      let y = sb[k * T + lid.x];
      acc0 += x.x * y;
      acc1 += x.y * y;
      acc2 += x.z * y;
      acc3 += x.w * y;
    }
    workgroupBarrier();
  }
  return Block(m0 + 4u * lid.y, n0 + 4u * lid.x, z, p.alpha * acc0, p.alpha * acc1, p.alpha * acc2,
               p.alpha * acc3);
}

fn store_row(m: u32, c0: u32, z: u32, value: vec4f) {
  if (m >= p.M) { return; }
  let row = z * p.M * p.N + m * p.N;
  for (var j = 0u; j < 4u; j++) {
    let n = c0 + j;
    if (n < p.N) {
      var x = value[j];
      if (BIAS) { x += bias[n]; }
      if (ACCUMULATE) { c[row + n] = c[row + n] + x; } else { c[row + n] = x; }
    }
  }
}

fn write_block(t: Block) {
  store_row(t.r0, t.c0, t.z, t.acc0);
  store_row(t.r0 + 1u, t.c0, t.z, t.acc1);
  store_row(t.r0 + 2u, t.c0, t.z, t.acc2);
  store_row(t.r0 + 3u, t.c0, t.z, t.acc3);
}

fn u_at(m: u32, r: u32) -> f32 {
  return u[min(m, p.M - 1u) * p.R + r];
}

fn v_at(n: u32, r: u32) -> f32 {
  let nn = min(n, p.N - 1u);
  if (V_TRANS) { return v[r * p.N + nn]; }
  return v[nn * p.R + r];
}

@compute @workgroup_size(T, T)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  write_block(product(wid, lid));
}

// The same block plus the rank-R term scale * U V^T, added before the single store so that
// LoRA costs no extra pass over C. R is small, so U and V are read straight from global
// memory (clamped at the edges; those lanes are never stored).
@compute @workgroup_size(T, T)
fn main_lowrank(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  var t = product(wid, lid);
  var l0 = vec4f(0.0);
  var l1 = vec4f(0.0);
  var l2 = vec4f(0.0);
  var l3 = vec4f(0.0);
  for (var r = 0u; r < p.R; r++) {
    let y = vec4f(v_at(t.c0, r), v_at(t.c0 + 1u, r), v_at(t.c0 + 2u, r), v_at(t.c0 + 3u, r));
    l0 += u_at(t.r0, r) * y;
    l1 += u_at(t.r0 + 1u, r) * y;
    l2 += u_at(t.r0 + 2u, r) * y;
    l3 += u_at(t.r0 + 3u, r) * y;
  }
  t.acc0 += p.scale * l0;
  t.acc1 += p.scale * l1;
  t.acc2 += p.scale * l2;
  t.acc3 += p.scale * l3;
  write_block(t);
}

//!include matmul_common

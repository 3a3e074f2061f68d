// matmul_regtile: C = alpha * op(A) op(B) [+ scale * U V^T] [+ C], a 4x4 block of C per
// invocation held in four vec4 accumulators, and no workgroup memory at all. Software
// adapters (SwiftShader) pay heavily for barriers but reward register reuse: every loaded
// element of A feeds 4 FMAs and every element of B feeds 4.
//
// Layout (row-major f32; batch index z, strides in elements, stride 0 = shared operand):
//   a: [batch?, M, K], or [batch?, K, M] when TRANS_A     (p.strideA per batch)
//   b: [batch?, K, N], or [batch?, N, K] when TRANS_B     (p.strideB per batch)
//   c: [batch, M, N]                                       (M * N per batch)
//   bias: [N] (read only when BIAS).
//   main_lowrank only (batch 1): u: [M, R]; v: [N, R], or [R, N] when V_TRANS.
// Dispatch: workgroup (WX, WY), chosen by the host (narrowed when M or N is small);
//   grid (ceil(N / (4 WX)), ceil(M / (4 WY)), batch).
// Edges: row and column indices past M / N are clamped so that loads stay in bounds without
// branches (those lanes compute duplicates that are never stored); K runs in steps of 4
// with a scalar tail, so any K works.

override WX: u32 = 8;
override WY: u32 = 8;

// Rows r0..r0+3 and columns c0..c0+3 of one batch entry; acc_i is row r0+i.
struct Block {
  r0: u32,
  c0: u32,
  z: u32,
  acc0: vec4f,
  acc1: vec4f,
  acc2: vec4f,
  acc3: vec4f,
}

fn clamp_row(i: u32) -> u32 { return min(i, p.M - 1u); }
fn clamp_col(j: u32) -> u32 { return min(j, p.N - 1u); }

fn product(r0: u32, c0: u32, z: u32) -> Block {
  // A(m, k) = a[offA(m) + k * stepA] and B(k, n) = b[offB(n) + k * stepB] cover all four
  // transpose cases with one loop body.
  var stepA = 1u;
  var stepB = p.N;
  if (TRANS_A) { stepA = p.M; }
  if (TRANS_B) { stepB = 1u; }
  let baseA = z * p.strideA;
  let baseB = z * p.strideB;
  var ma = array<u32, 4>(clamp_row(r0), clamp_row(r0 + 1u), clamp_row(r0 + 2u), clamp_row(r0 + 3u));
  var nb = array<u32, 4>(clamp_col(c0), clamp_col(c0 + 1u), clamp_col(c0 + 2u), clamp_col(c0 + 3u));
  var a0: u32; var a1: u32; var a2: u32; var a3: u32;
  if (TRANS_A) {
    a0 = baseA + ma[0]; a1 = baseA + ma[1]; a2 = baseA + ma[2]; a3 = baseA + ma[3];
  } else {
    a0 = baseA + ma[0] * p.K; a1 = baseA + ma[1] * p.K; a2 = baseA + ma[2] * p.K; a3 = baseA + ma[3] * p.K;
  }
  var b0: u32; var b1: u32; var b2: u32; var b3: u32;
  if (TRANS_B) {
    b0 = baseB + nb[0] * p.K; b1 = baseB + nb[1] * p.K; b2 = baseB + nb[2] * p.K; b3 = baseB + nb[3] * p.K;
  } else {
    b0 = baseB + nb[0]; b1 = baseB + nb[1]; b2 = baseB + nb[2]; b3 = baseB + nb[3];
  }

  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  var k = 0u;
  let kl = k_len(z);
  // Four k per trip: fewer loop-carried index updates per FMA.
  for (; k + 4u <= kl; k += 4u) {
    let ka0 = k * stepA; let ka1 = ka0 + stepA; let ka2 = ka1 + stepA; let ka3 = ka2 + stepA;
    let kb0 = k * stepB; let kb1 = kb0 + stepB; let kb2 = kb1 + stepB; let kb3 = kb2 + stepB;
    let x0 = vec4f(a[a0 + ka0], a[a0 + ka1], a[a0 + ka2], a[a0 + ka3]);
    let x1 = vec4f(a[a1 + ka0], a[a1 + ka1], a[a1 + ka2], a[a1 + ka3]);
    let x2 = vec4f(a[a2 + ka0], a[a2 + ka1], a[a2 + ka2], a[a2 + ka3]);
    let x3 = vec4f(a[a3 + ka0], a[a3 + ka1], a[a3 + ka2], a[a3 + ka3]);
    let y0 = vec4f(b[b0 + kb0], b[b1 + kb0], b[b2 + kb0], b[b3 + kb0]);
    let y1 = vec4f(b[b0 + kb1], b[b1 + kb1], b[b2 + kb1], b[b3 + kb1]);
    let y2 = vec4f(b[b0 + kb2], b[b1 + kb2], b[b2 + kb2], b[b3 + kb2]);
    let y3 = vec4f(b[b0 + kb3], b[b1 + kb3], b[b2 + kb3], b[b3 + kb3]);
    acc0 += x0.x * y0 + x0.y * y1 + x0.z * y2 + x0.w * y3;
    acc1 += x1.x * y0 + x1.y * y1 + x1.z * y2 + x1.w * y3;
    acc2 += x2.x * y0 + x2.y * y1 + x2.z * y2 + x2.w * y3;
    acc3 += x3.x * y0 + x3.y * y1 + x3.z * y2 + x3.w * y3;
  }
  for (; k < kl; k++) {
    let ka = k * stepA;
    let kb = k * stepB;
    let y = vec4f(b[b0 + kb], b[b1 + kb], b[b2 + kb], b[b3 + kb]);
    acc0 += a[a0 + ka] * y;
    acc1 += a[a1 + ka] * y;
    acc2 += a[a2 + ka] * y;
    acc3 += a[a3 + ka] * y;
  }
  return Block(r0, c0, z, p.alpha * acc0, p.alpha * acc1, p.alpha * acc2, p.alpha * acc3);
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

fn v_at(n: u32, r: u32) -> f32 {
  if (V_TRANS) { return v[r * p.N + n]; }
  return v[n * p.R + r];
}

@compute @workgroup_size(WX, WY)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  write_block(product(gid.y * 4u, gid.x * 4u, gid.z));
}

// The same block plus the rank-R term scale * U V^T, added before the single store so that
// LoRA costs no extra pass over C.
@compute @workgroup_size(WX, WY)
fn main_lowrank(@builtin(global_invocation_id) gid: vec3u) {
  var t = product(gid.y * 4u, gid.x * 4u, gid.z);
  let m0 = clamp_row(t.r0) * p.R;
  let m1 = clamp_row(t.r0 + 1u) * p.R;
  let m2 = clamp_row(t.r0 + 2u) * p.R;
  let m3 = clamp_row(t.r0 + 3u) * p.R;
  let n0 = clamp_col(t.c0);
  let n1 = clamp_col(t.c0 + 1u);
  let n2 = clamp_col(t.c0 + 2u);
  let n3 = clamp_col(t.c0 + 3u);
  var l0 = vec4f(0.0);
  var l1 = vec4f(0.0);
  var l2 = vec4f(0.0);
  var l3 = vec4f(0.0);
  var r = 0u;
  // Two ranks per trip: loop overhead is a large share of so short a loop.
  for (; r + 2u <= p.R; r += 2u) {
    let r1 = r + 1u;
    let y0 = vec4f(v_at(n0, r), v_at(n1, r), v_at(n2, r), v_at(n3, r));
    let y1 = vec4f(v_at(n0, r1), v_at(n1, r1), v_at(n2, r1), v_at(n3, r1));
    l0 += u[m0 + r] * y0 + u[m0 + r1] * y1;
    l1 += u[m1 + r] * y0 + u[m1 + r1] * y1;
    l2 += u[m2 + r] * y0 + u[m2 + r1] * y1;
    l3 += u[m3 + r] * y0 + u[m3 + r1] * y1;
  }
  if (r < p.R) {
    let y = vec4f(v_at(n0, r), v_at(n1, r), v_at(n2, r), v_at(n3, r));
    l0 += u[m0 + r] * y;
    l1 += u[m1 + r] * y;
    l2 += u[m2 + r] * y;
    l3 += u[m3 + r] * y;
  }
  t.acc0 += p.scale * l0;
  t.acc1 += p.scale * l1;
  t.acc2 += p.scale * l2;
  t.acc3 += p.scale * l3;
  write_block(t);
}

//!include matmul_common

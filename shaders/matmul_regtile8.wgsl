// matmul_regtile8: C = alpha * op(A) op(B) [+ scale * U V^T] [+ C], an 8x8 block of C per
// invocation in sixteen vec4 accumulators, no workgroup memory. Same scheme as
// matmul_regtile with twice the block side: each loaded element now feeds 8 FMAs instead
// of 4. On SwiftShader every storage load is a per-lane gather, so loads, not FMAs, set
// the pace; the larger block wins there for most transposes even though the accumulators
// no longer fit in registers. Fewer, bigger blocks cost parallelism on small problems,
// which is why both sizes are kept and the tuner chooses.
//
// Layout (row-major f32; batch index z, strides in elements, stride 0 = shared operand):
//   a: [batch?, M, K], or [batch?, K, M] when TRANS_A     (p.strideA per batch)
//   b: [batch?, K, N], or [batch?, N, K] when TRANS_B     (p.strideB per batch)
//   c: [batch, M, N]                                       (M * N per batch)
//   bias: [N] (read only when BIAS).
//   main_lowrank only (batch 1): u: [M, R]; v: [N, R], or [R, N] when V_TRANS.
// Dispatch: workgroup (WX, WY), chosen by the host (narrowed when M or N is small);
//   grid (ceil(N / (8 WX)), ceil(M / (8 WY)), batch).
// Edges: row and column indices past M / N are clamped so that loads stay in bounds
// without branches (those lanes compute duplicates that are never stored); K runs in
// steps of 4 with a scalar tail, so any K works.

override WX: u32 = 8;
override WY: u32 = 8;

// Row i of the block: ri_0 holds columns 0..3, ri_1 columns 4..7.
struct Acc {
  r0_0: vec4f, r0_1: vec4f,
  r1_0: vec4f, r1_1: vec4f,
  r2_0: vec4f, r2_1: vec4f,
  r3_0: vec4f, r3_1: vec4f,
  r4_0: vec4f, r4_1: vec4f,
  r5_0: vec4f, r5_1: vec4f,
  r6_0: vec4f, r6_1: vec4f,
  r7_0: vec4f, r7_1: vec4f,
}

// Acc += x y^T for a column x of 8 block rows (x0: rows 0..3, x1: rows 4..7) and a row y
// of 8 block columns (y0: columns 0..3, y1: columns 4..7). Built as a new value rather
// than updated through a pointer, so the compiler keeps it in SSA form.
fn rank1(t: Acc, x0: vec4f, x1: vec4f, y0: vec4f, y1: vec4f) -> Acc {
  return Acc(
    t.r0_0 + x0.x * y0, t.r0_1 + x0.x * y1,
    t.r1_0 + x0.y * y0, t.r1_1 + x0.y * y1,
    t.r2_0 + x0.z * y0, t.r2_1 + x0.z * y1,
    t.r3_0 + x0.w * y0, t.r3_1 + x0.w * y1,
    t.r4_0 + x1.x * y0, t.r4_1 + x1.x * y1,
    t.r5_0 + x1.y * y0, t.r5_1 + x1.y * y1,
    t.r6_0 + x1.z * y0, t.r6_1 + x1.z * y1,
    t.r7_0 + x1.w * y0, t.r7_1 + x1.w * y1);
}

// Where rows r0..r0+7 of op(A) and columns c0..c0+7 of op(B) start (clamped into range);
// A(m, k) = a[row + k * stepA], B(k, n) = b[col + k * stepB].
struct Offsets {
  a0: vec4u,
  a1: vec4u,
  b0: vec4u,
  b1: vec4u,
  stepA: u32,
  stepB: u32,
}

fn offsets(r0: u32, c0: u32, z: u32) -> Offsets {
  let m0 = min(vec4u(r0) + vec4u(0u, 1u, 2u, 3u), vec4u(p.M - 1u));
  let m1 = min(vec4u(r0) + vec4u(4u, 5u, 6u, 7u), vec4u(p.M - 1u));
  let n0 = min(vec4u(c0) + vec4u(0u, 1u, 2u, 3u), vec4u(p.N - 1u));
  let n1 = min(vec4u(c0) + vec4u(4u, 5u, 6u, 7u), vec4u(p.N - 1u));
  let baseA = vec4u(z * p.strideA);
  let baseB = vec4u(z * p.strideB);
  var o: Offsets;
  if (TRANS_A) {
    o.a0 = baseA + m0; o.a1 = baseA + m1; o.stepA = p.M;
  } else {
    o.a0 = baseA + m0 * p.K; o.a1 = baseA + m1 * p.K; o.stepA = 1u;
  }
  if (TRANS_B) {
    o.b0 = baseB + n0 * p.K; o.b1 = baseB + n1 * p.K; o.stepB = 1u;
  } else {
    o.b0 = baseB + n0; o.b1 = baseB + n1; o.stepB = p.N;
  }
  return o;
}

fn k_step(t: Acc, o: Offsets, k: u32) -> Acc {
  let ia0 = o.a0 + vec4u(k * o.stepA);
  let ia1 = o.a1 + vec4u(k * o.stepA);
  let ib0 = o.b0 + vec4u(k * o.stepB);
  let ib1 = o.b1 + vec4u(k * o.stepB);
  return rank1(t,
    vec4f(a[ia0.x], a[ia0.y], a[ia0.z], a[ia0.w]),
    vec4f(a[ia1.x], a[ia1.y], a[ia1.z], a[ia1.w]),
    vec4f(b[ib0.x], b[ib0.y], b[ib0.z], b[ib0.w]),
    vec4f(b[ib1.x], b[ib1.y], b[ib1.z], b[ib1.w]));
}

fn product(r0: u32, c0: u32, z: u32) -> Acc {
  let o = offsets(r0, c0, z);
  var t = Acc();
  var k = 0u;
  let kl = k_len(z);
  // Four k per trip: the loop's own bookkeeping is costly on SIMD-emulating adapters.
  for (; k + 4u <= kl; k += 4u) {
    t = k_step(t, o, k);
    t = k_step(t, o, k + 1u);
    t = k_step(t, o, k + 2u);
    t = k_step(t, o, k + 3u);
  }
  for (; k < kl; k++) {
    t = k_step(t, o, k);
  }
  let s = p.alpha;
  return Acc(s * t.r0_0, s * t.r0_1, s * t.r1_0, s * t.r1_1, s * t.r2_0, s * t.r2_1, s * t.r3_0, s * t.r3_1,
             s * t.r4_0, s * t.r4_1, s * t.r5_0, s * t.r5_1, s * t.r6_0, s * t.r6_1, s * t.r7_0, s * t.r7_1);
}

fn store_row(m: u32, c0: u32, z: u32, lo: vec4f, hi: vec4f) {
  if (m >= p.M) { return; }
  let row = z * p.M * p.N + m * p.N;
  for (var j = 0u; j < 8u; j++) {
    let n = c0 + j;
    if (n < p.N) {
      var value: f32;
      if (j < 4u) { value = lo[j]; } else { value = hi[j - 4u]; }
      if (BIAS) { value += bias[n]; }
      if (ACCUMULATE) { c[row + n] = c[row + n] + value; } else { c[row + n] = value; }
    }
  }
}

fn write_block(t: Acc, r0: u32, c0: u32, z: u32) {
  store_row(r0, c0, z, t.r0_0, t.r0_1);
  store_row(r0 + 1u, c0, z, t.r1_0, t.r1_1);
  store_row(r0 + 2u, c0, z, t.r2_0, t.r2_1);
  store_row(r0 + 3u, c0, z, t.r3_0, t.r3_1);
  store_row(r0 + 4u, c0, z, t.r4_0, t.r4_1);
  store_row(r0 + 5u, c0, z, t.r5_0, t.r5_1);
  store_row(r0 + 6u, c0, z, t.r6_0, t.r6_1);
  store_row(r0 + 7u, c0, z, t.r7_0, t.r7_1);
}

fn v_at(n: u32, r: u32) -> f32 {
  if (V_TRANS) { return v[r * p.N + n]; }
  return v[n * p.R + r];
}

@compute @workgroup_size(WX, WY)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let r0 = gid.y * 8u;
  let c0 = gid.x * 8u;
  write_block(product(r0, c0, gid.z), r0, c0, gid.z);
}

// The same block plus the rank-R term scale * U V^T, added before the single store so that
// LoRA costs no extra pass over C.
@compute @workgroup_size(WX, WY)
fn main_lowrank(@builtin(global_invocation_id) gid: vec3u) {
  let r0 = gid.y * 8u;
  let c0 = gid.x * 8u;
  var t = product(r0, c0, gid.z);
  let m0 = min(vec4u(r0) + vec4u(0u, 1u, 2u, 3u), vec4u(p.M - 1u)) * p.R;
  let m1 = min(vec4u(r0) + vec4u(4u, 5u, 6u, 7u), vec4u(p.M - 1u)) * p.R;
  let n0 = min(vec4u(c0) + vec4u(0u, 1u, 2u, 3u), vec4u(p.N - 1u));
  let n1 = min(vec4u(c0) + vec4u(4u, 5u, 6u, 7u), vec4u(p.N - 1u));
  for (var r = 0u; r < p.R; r++) {
    // scale is folded into the U column: one multiply per row instead of per output.
    t = rank1(t,
      p.scale * vec4f(u[m0.x + r], u[m0.y + r], u[m0.z + r], u[m0.w + r]),
      p.scale * vec4f(u[m1.x + r], u[m1.y + r], u[m1.z + r], u[m1.w + r]),
      vec4f(v_at(n0.x, r), v_at(n0.y, r), v_at(n0.z, r), v_at(n0.w, r)),
      vec4f(v_at(n1.x, r), v_at(n1.y, r), v_at(n1.z, r), v_at(n1.w, r)));
  }
  write_block(t, r0, c0, gid.z);
}

//!include matmul_common

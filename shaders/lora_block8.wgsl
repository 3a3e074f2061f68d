// lora_block8: shared pieces of the LoRA rank-r kernels (lora_forward_prep,
// lora_backward_prep, lora_backward_da), spliced into them by the shader library's
// `//!include lora_block8` line. Not a kernel on its own: it has no entry point.
// An invocation keeps an 8x8 output block in sixteen vec4 accumulators and loads the two
// block sides as clamped index vectors, so edge lanes read duplicates that are never stored.

// An 8x8 block of accumulators: ri_0 holds row i, columns 0..3; ri_1 columns 4..7.
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

// Acc + u v^T for a column u of 8 rows (u0: rows 0..3, u1: rows 4..7) and a row v of 8
// columns; returned as a new value so the compiler keeps the block in registers.
fn outer(t: Acc, u0: vec4f, u1: vec4f, v0: vec4f, v1: vec4f) -> Acc {
  return Acc(
    t.r0_0 + u0.x * v0, t.r0_1 + u0.x * v1,
    t.r1_0 + u0.y * v0, t.r1_1 + u0.y * v1,
    t.r2_0 + u0.z * v0, t.r2_1 + u0.z * v1,
    t.r3_0 + u0.w * v0, t.r3_1 + u0.w * v1,
    t.r4_0 + u1.x * v0, t.r4_1 + u1.x * v1,
    t.r5_0 + u1.y * v0, t.r5_1 + u1.y * v1,
    t.r6_0 + u1.z * v0, t.r6_1 + u1.z * v1,
    t.r7_0 + u1.w * v0, t.r7_1 + u1.w * v1);
}

// The eight indices i0..i0+7 of a block side of length n, clamped into range (lanes past
// the edge load duplicates that are never stored), times a stride.
struct Side {
  lo: vec4u,
  hi: vec4u,
}

fn side(i0: u32, n: u32, stride: u32) -> Side {
  let last = vec4u(n - 1u);
  return Side(min(vec4u(i0) + vec4u(0u, 1u, 2u, 3u), last) * stride,
              min(vec4u(i0) + vec4u(4u, 5u, 6u, 7u), last) * stride);
}

struct Pair {
  lo: vec4f,
  hi: vec4f,
}

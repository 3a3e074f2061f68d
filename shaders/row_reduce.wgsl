// row_reduce: shared by the row kernels (softmax, layernorm, cross_entropy), spliced in by
// the shader library's `//!include row_reduce` line; not a kernel on its own. The
// including file declares WG and ROW_THREADS. Sum / max of v over the ROW_THREADS threads of
// a row, in a fixed tree order (reproducible). Every thread of the workgroup must call them,
// rows past the end too. With one thread per row (software adapters) they return v at
// once and touch no barrier.

var<workgroup> red: array<f32, WG>;

fn row_sum(v: f32, lid: u32) -> f32 {
  if (ROW_THREADS == 1u) {
    return v;
  }
  let lane = lid % ROW_THREADS;
  workgroupBarrier();
  red[lid] = v;
  workgroupBarrier();
  for (var s = ROW_THREADS / 2u; s > 0u; s = s / 2u) {
    if (lane < s) {
      red[lid] = red[lid] + red[lid + s];
    }
    workgroupBarrier();
  }
  return red[lid - lane];
}

fn row_max(v: f32, lid: u32) -> f32 {
  if (ROW_THREADS == 1u) {
    return v;
  }
  let lane = lid % ROW_THREADS;
  workgroupBarrier();
  red[lid] = v;
  workgroupBarrier();
  for (var s = ROW_THREADS / 2u; s > 0u; s = s / 2u) {
    if (lane < s) {
      red[lid] = max(red[lid], red[lid + s]);
    }
    workgroupBarrier();
  }
  return red[lid - lane];
}

/** Float64 reference row softmax over the last dimension C of x [R, C], and its backward. */

export function softmaxRef(x: Float64Array, R: number, C: number): Float64Array {
  const y = new Float64Array(R * C);
  for (let r = 0; r < R; r++) {
    let m = -Infinity;
    for (let i = 0; i < C; i++) m = Math.max(m, x[r * C + i]);
    let s = 0;
    for (let i = 0; i < C; i++) s += Math.exp(x[r * C + i] - m);
    for (let i = 0; i < C; i++) y[r * C + i] = Math.exp(x[r * C + i] - m) / s;
  }
  return y;
}

/** dx = y * (dy - sum(dy * y)) per row, from the forward output y. */
export function softmaxBackwardRef(y: Float64Array, dy: Float64Array, R: number, C: number): Float64Array {
  const dx = new Float64Array(R * C);
  for (let r = 0; r < R; r++) {
    let dot = 0;
    for (let i = 0; i < C; i++) dot += dy[r * C + i] * y[r * C + i];
    for (let i = 0; i < C; i++) dx[r * C + i] = y[r * C + i] * (dy[r * C + i] - dot);
  }
  return dx;
}

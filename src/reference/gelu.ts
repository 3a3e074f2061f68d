/** Float64 reference for GPT-2's tanh-approximated GELU and its derivative. */

const K = Math.sqrt(2 / Math.PI);
const A = 0.044715;

export function geluRef(x: Float64Array): Float64Array {
  return x.map((v) => 0.5 * v * (1 + Math.tanh(K * (v + A * v * v * v))));
}

/** dx = dout * gelu'(x). */
export function geluBackwardRef(x: Float64Array, dout: Float64Array): Float64Array {
  return x.map((v, i) => {
    const t = Math.tanh(K * (v + A * v * v * v));
    const du = K * (1 + 3 * A * v * v);
    return dout[i] * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * du);
  });
}

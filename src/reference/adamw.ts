/** Float64 reference AdamW step (torch.optim.AdamW's formula, decoupled weight decay). */

export interface AdamWState {
  param: Float64Array;
  m: Float64Array;
  v: Float64Array;
}

export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/** Returns the state after step `t` (1-based) with gradient `grad`; the input is untouched. */
export function adamwRef(state: AdamWState, grad: Float64Array, t: number, h: AdamWHyper): AdamWState {
  const n = grad.length;
  const param = new Float64Array(n);
  const m = new Float64Array(n);
  const v = new Float64Array(n);
  const bc1 = 1 - h.beta1 ** t;
  const bc2 = 1 - h.beta2 ** t;
  for (let i = 0; i < n; i++) {
    const g = grad[i];
    m[i] = h.beta1 * state.m[i] + (1 - h.beta1) * g;
    v[i] = h.beta2 * state.v[i] + (1 - h.beta2) * g * g;
    const mhat = m[i] / bc1;
    const vhat = v[i] / bc2;
    param[i] = state.param[i] * (1 - h.lr * h.weightDecay) - (h.lr * mhat) / (Math.sqrt(vhat) + h.eps);
  }
  return { param, m, v };
}

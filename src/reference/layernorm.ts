/** Float64 reference LayerNorm over the last dimension C of x [R, C]. */

export interface LayerNormRef {
  y: Float64Array;
  mean: Float64Array;
  rstd: Float64Array;
}

export function layerNormRef(
  x: Float64Array,
  gamma: Float64Array,
  beta: Float64Array,
  R: number,
  C: number,
  eps = 1e-5,
): LayerNormRef {
  const y = new Float64Array(R * C);
  const mean = new Float64Array(R);
  const rstd = new Float64Array(R);
  for (let r = 0; r < R; r++) {
    let s = 0;
    for (let i = 0; i < C; i++) s += x[r * C + i];
    const mu = s / C;
    let v = 0;
    for (let i = 0; i < C; i++) v += (x[r * C + i] - mu) ** 2;
    const rs = 1 / Math.sqrt(v / C + eps);
    for (let i = 0; i < C; i++) y[r * C + i] = (x[r * C + i] - mu) * rs * gamma[i] + beta[i];
    mean[r] = mu;
    rstd[r] = rs;
  }
  return { y, mean, rstd };
}

export interface LayerNormGradsRef {
  dx: Float64Array;
  dgamma: Float64Array;
  dbeta: Float64Array;
}

/** Gradients of sum(y * dy) with respect to x, gamma and beta (statistics recomputed). */
export function layerNormBackwardRef(
  x: Float64Array,
  gamma: Float64Array,
  dy: Float64Array,
  R: number,
  C: number,
  eps = 1e-5,
): LayerNormGradsRef {
  const { mean, rstd } = layerNormRef(x, gamma, new Float64Array(C), R, C, eps);
  const dx = new Float64Array(R * C);
  const dgamma = new Float64Array(C);
  const dbeta = new Float64Array(C);
  const xhat = new Float64Array(C);
  for (let r = 0; r < R; r++) {
    let sumG = 0;
    let sumGX = 0;
    for (let i = 0; i < C; i++) {
      xhat[i] = (x[r * C + i] - mean[r]) * rstd[r];
      const g = gamma[i] * dy[r * C + i];
      sumG += g;
      sumGX += g * xhat[i];
      dgamma[i] += dy[r * C + i] * xhat[i];
      dbeta[i] += dy[r * C + i];
    }
    for (let i = 0; i < C; i++) {
      const g = gamma[i] * dy[r * C + i];
      dx[r * C + i] = rstd[r] * (g - sumG / C - (xhat[i] * sumGX) / C);
    }
  }
  return { dx, dgamma, dbeta };
}

/** Float64 reference global L2 gradient norm and clipping (torch's clip_grad_norm_). */

export function gradNormRef(grads: readonly Float64Array[]): number {
  let s = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) s += g[i] * g[i];
  return Math.sqrt(s);
}

/** Returns the norm before clipping and clipped copies of the gradients. */
export function clipGradNormRef(grads: readonly Float64Array[], maxNorm: number): { norm: number; grads: Float64Array[] } {
  const norm = gradNormRef(grads);
  const scale = Math.min(1, maxNorm / (norm + 1e-6));
  return { norm, grads: grads.map((g) => g.map((v) => v * scale)) };
}

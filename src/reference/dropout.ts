import { dropoutThreshold, pcgHash } from '../util/random';

export { dropoutThreshold, pcgHash };

/** keep[i] = 1 where shaders/dropout.wgsl keeps element i for this seed and rate. */
export function dropoutMaskRef(n: number, p: number, seed: number): Uint8Array {
  const threshold = dropoutThreshold(p);
  const s = pcgHash(seed);
  const keep = new Uint8Array(n);
  for (let i = 0; i < n; i++) keep[i] = pcgHash((i ^ s) >>> 0) >= threshold ? 1 : 0;
  return keep;
}

/** Inverted dropout in float64: x / (1 - p) where kept, 0 elsewhere. */
export function dropoutRef(x: ArrayLike<number>, p: number, seed: number): Float64Array {
  const keep = dropoutMaskRef(x.length, p, seed);
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = keep[i] ? x[i] / (1 - p) : 0;
  return out;
}

/** The PCG-based hash of shaders/dropout.wgsl, in 32-bit unsigned arithmetic. */
export function pcgHash(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** What the kernel compares hashes against: keep when hash >= round(p * 2^32). */
export function dropoutThreshold(p: number): number {
  return Math.min(Math.round(p * 2 ** 32), 2 ** 32 - 1);
}

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

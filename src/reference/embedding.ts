/** Float64 reference for the embedding gather and its scatter-add backward. */

/** out[t, c] = table[ids[t], c]; ids >= V give zero rows. table [V, C] -> out [T, C]. */
export function embeddingRef(ids: ArrayLike<number>, table: Float64Array, V: number, C: number): Float64Array {
  const T = ids.length;
  const out = new Float64Array(T * C);
  for (let t = 0; t < T; t++) {
    const id = ids[t];
    if (id >= V) continue;
    for (let c = 0; c < C; c++) out[t * C + c] = table[id * C + c];
  }
  return out;
}

/** dtable[ids[t], c] += dout[t, c], onto a copy of `dtable` (zeros when omitted). */
export function embeddingBackwardRef(
  ids: ArrayLike<number>,
  dout: Float64Array,
  V: number,
  C: number,
  dtable?: Float64Array,
): Float64Array {
  const out = dtable ? Float64Array.from(dtable) : new Float64Array(V * C);
  for (let t = 0; t < ids.length; t++) {
    const id = ids[t];
    if (id >= V) continue;
    for (let c = 0; c < C; c++) out[id * C + c] += dout[t * C + c];
  }
  return out;
}

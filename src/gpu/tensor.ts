/** Element types our kernels read and write; all 4 bytes wide. */
export type DType = 'f32' | 'u32' | 'i32';

/**
 * A dense row-major array in a GPU storage buffer. The buffer may be larger than the
 * tensor (pooled allocations are rounded up), so `size` is the element count to use.
 */
export interface GpuTensor {
  readonly buffer: GPUBuffer;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly size: number;
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeToString(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export type HostArray = Float32Array | Uint32Array | Int32Array;

export function hostArrayFor(dtype: DType, length: number): HostArray {
  if (dtype === 'f32') return new Float32Array(length);
  if (dtype === 'u32') return new Uint32Array(length);
  return new Int32Array(length);
}

import { ShapeError } from '../gpu/errors';
import { shapeToString, type GpuTensor } from '../gpu/tensor';

/** Host-side argument checks shared by kernel wrappers: they fail before any dispatch. */
export function expectShape(kernel: string, what: string, t: GpuTensor, shape: readonly number[]): void {
  const ok = t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]);
  if (!ok) {
    throw new ShapeError(kernel, `${what} has shape ${shapeToString(t.shape)}, expected ${shapeToString(shape)}`);
  }
}

export function expectDType(kernel: string, what: string, t: GpuTensor, dtype: GpuTensor['dtype']): void {
  if (t.dtype !== dtype) throw new ShapeError(kernel, `${what} is ${t.dtype}, expected ${dtype}`);
}

export function expectRank(kernel: string, what: string, t: GpuTensor, rank: number): void {
  if (t.shape.length !== rank) {
    throw new ShapeError(kernel, `${what} has shape ${shapeToString(t.shape)}, expected rank ${rank}`);
  }
}

export function expectPositiveInt(kernel: string, what: string, v: number): void {
  if (!Number.isInteger(v) || v <= 0) throw new ShapeError(kernel, `${what} must be a positive integer, got ${v}`);
}

export function expectFinite(kernel: string, what: string, v: number): void {
  if (!Number.isFinite(v)) throw new ShapeError(kernel, `${what} must be finite, got ${v}`);
}

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

/**
 * Outputs must not alias inputs (or each other): a kernel that reads and writes the same
 * buffer would race. Throws naming both arguments.
 */
export function expectNoAlias(kernel: string, outputs: Record<string, GpuTensor>, inputs: Record<string, GpuTensor>): void {
  const all = Object.entries({ ...inputs, ...outputs });
  for (const [name, t] of Object.entries(outputs)) {
    const other = all.find(([n, u]) => n !== name && u.buffer === t.buffer);
    if (other) throw new ShapeError(kernel, `${name} may not share a buffer with ${other[0]}`);
  }
}

/** A caller-supplied f32 output: right shape, and no aliasing with the inputs. */
export function expectOutput(
  kernel: string,
  name: string,
  t: GpuTensor | undefined,
  shape: readonly number[],
  inputs: Record<string, GpuTensor>,
): void {
  if (!t) return;
  expectShape(kernel, name, t, shape);
  expectDType(kernel, name, t, 'f32');
  expectNoAlias(kernel, { [name]: t }, inputs);
}

/** Views a tensor as rows of its last dimension. */
export function rowsOf(kernel: string, what: string, t: GpuTensor): { rows: number; cols: number } {
  if (t.shape.length < 1) throw new ShapeError(kernel, `${what} must have at least one dimension`);
  const cols = t.shape[t.shape.length - 1];
  if (cols < 1) throw new ShapeError(kernel, `${what} has an empty last dimension`);
  return { rows: t.size / cols, cols };
}

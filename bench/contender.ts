// What the benchmark needs from each library it times: our kernels, TensorFlow.js, jax-js.
import type { Prepared } from './harness';
import type { LoraInputs, LoraShape, MatmulShape } from './reference';

export interface Contender {
  /** 'ours', 'tfjs' or 'jaxjs'. */
  readonly lib: string;
  /** Kernel variants this library lets us choose between ([''] when it picks for itself). */
  readonly variants: readonly string[];
  /** Adapter as this library's own device reports it, to confirm all share one adapter. */
  adapterInfo(): string;
  /** C = A · B (or A · B^T) on uploaded copies of a and b. */
  matmul(s: MatmulShape, a: Float32Array, b: Float32Array, variant: string): Prepared;
  /** LoRA forward then backward; outputs in LORA_OUTPUTS order. */
  lora(s: LoraShape, t: LoraInputs, variant: string): Prepared;
  /** The two plain matmuls a LoRA layer adds to: x W^T and dy W; outputs in that order. */
  pair(s: LoraShape, t: LoraInputs, variant: string): Prepared;
}

/** Best-effort description of the adapter behind a GPUDevice (Chromium exposes device.adapterInfo). */
export function describeDevice(device: GPUDevice | undefined): string {
  const info = (device as { adapterInfo?: GPUAdapterInfo } | undefined)?.adapterInfo;
  if (!info) return 'unknown';
  return [info.vendor, info.architecture, info.description].filter(Boolean).join(' / ') || 'unknown';
}

import { readSafetensors, tensorToFloat32, writeSafetensors } from '../checkpoint/safetensors';
import type { MethodState } from '../methods/method';

/**
 * A method's state after a stage as one safetensors file (tensors flat, the JSON meta in
 * the header's metadata), so the CLI keeps it on disk and the lab in browser storage.
 */
export function encodeMethodState(state: MethodState, info: Record<string, string> = {}): Uint8Array {
  return writeSafetensors(
    [...state.tensors].map(([name, data]) => ({ name, shape: [data.length], data })),
    { ...info, meta: JSON.stringify(state.meta ?? null) },
  );
}

export function decodeMethodState(bytes: Uint8Array, fileName = 'state.safetensors'): MethodState {
  const file = readSafetensors(bytes, fileName);
  const tensors = new Map<string, Float32Array>();
  for (const [name, t] of file.tensors) tensors.set(name, tensorToFloat32(t, fileName));
  return { tensors, meta: JSON.parse(file.metadata?.meta ?? 'null') };
}

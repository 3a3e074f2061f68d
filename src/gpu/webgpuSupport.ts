// Kept apart from browser.ts so the page can ask without bundling the GPU runtime.

/** Why WebGPU is missing, in words the page can show. */
export function webgpuMissingReason(): string | null {
  if (typeof navigator === 'undefined' || !('gpu' in navigator)) {
    if (typeof isSecureContext !== 'undefined' && !isSecureContext) {
      return 'WebGPU needs a secure context: open the lab from http://localhost or http://127.0.0.1 (or https).';
    }
    return 'This browser has no WebGPU (navigator.gpu is missing).';
  }
  return null;
}

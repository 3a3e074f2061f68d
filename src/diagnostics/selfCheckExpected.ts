/**
 * The self-check's expected outputs as a file: per case, the float64 references' outputs
 * stored as float32 (their rounding, 6e-8 relative, is far inside the check's 1e-4) in
 * base64, little-endian.
 */
export interface SelfCheckExpected {
  seed: number;
  cases: { kernel: string; shape: string; outputs: Float32Array[] }[];
}

interface StoredFile {
  format: 'continual-lab-selfcheck';
  version: 1;
  seed: number;
  cases: { kernel: string; shape: string; outputs: string[] }[];
}

/** The served file's path, below the site's root. */
export const SELF_CHECK_EXPECTED_PATH = 'selfcheck/expected.json';

function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(text: string): Uint8Array {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

export function encodeSelfCheckExpected(e: SelfCheckExpected): string {
  const file: StoredFile = {
    format: 'continual-lab-selfcheck',
    version: 1,
    seed: e.seed,
    cases: e.cases.map((c) => ({ kernel: c.kernel, shape: c.shape, outputs: c.outputs.map((o) => toBase64(new Uint8Array(o.buffer, o.byteOffset, o.byteLength))) })),
  };
  return `${JSON.stringify(file, null, 1)}\n`;
}

export function decodeSelfCheckExpected(text: string): SelfCheckExpected {
  const file = JSON.parse(text) as StoredFile;
  if (file?.format !== 'continual-lab-selfcheck' || file.version !== 1 || !Array.isArray(file.cases)) throw new Error('not a Continual Lab self-check file');
  return {
    seed: file.seed,
    cases: file.cases.map((c) => {
      const outputs = c.outputs.map((b) => {
        const bytes = fromBase64(b);
        if (bytes.length % 4) throw new Error(`self-check ${c.kernel}: an output of ${bytes.length} bytes is not float32`);
        return new Float32Array(bytes.buffer, 0, bytes.length / 4);
      });
      return { kernel: c.kernel, shape: c.shape, outputs };
    }),
  };
}

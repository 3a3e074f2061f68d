/**
 * The safetensors format, on plain bytes so that it works in a browser and in Node:
 *
 *   [u64 little-endian N][N bytes of JSON header][data buffer]
 *
 * The header maps each tensor name to {dtype, shape, data_offsets: [begin, end]} (offsets
 * relative to the data buffer) and may hold "__metadata__", a string-to-string map. Reading
 * is as strict as the reference implementation: the tensors must tile the data buffer
 * exactly, with no overlap, gap or trailing byte, so a truncated or hand-edited file is
 * refused instead of yielding garbage weights.
 */

export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

/** Bytes per element of each dtype the format defines. */
export const DTYPE_BYTES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
} as const;
export type SafetensorsDtype = keyof typeof DTYPE_BYTES;

/** Dtypes that `tensorToFloat32` converts; everything else is refused there. */
export const FLOAT_DTYPES: readonly SafetensorsDtype[] = ['F32', 'F16', 'BF16', 'F64'];

export interface SafetensorsTensor {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** The tensor's raw little-endian bytes: a view into the file, not a copy. */
  bytes: Uint8Array;
}

export interface SafetensorsFile {
  fileName: string;
  metadata: Record<string, string>;
  /** In data-buffer order. */
  tensors: Map<string, SafetensorsTensor>;
}

/** A tensor to write: F32 from a Float32Array, or any dtype from its raw little-endian bytes. */
export type SafetensorsInput =
  | { name: string; shape: readonly number[]; data: Float32Array }
  | { name: string; shape: readonly number[]; dtype: SafetensorsDtype; bytes: Uint8Array };

// The reference implementation refuses headers above 100 MB; a length beyond that is a
// corrupt prefix, not a real header.
const MAX_HEADER_BYTES = 100_000_000;

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Parses and validates a safetensors file. Tensor bytes are views into `data`. */
export function readSafetensors(data: Uint8Array | ArrayBuffer, fileName = 'model.safetensors'): SafetensorsFile {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  const fail = (what: string): never => {
    throw new CheckpointError(`${fileName}: ${what}`);
  };
  if (looksLikeLfsPointer(bytes)) {
    fail('is a Git LFS pointer file, not the weights; fetch the real file (git lfs pull) and try again');
  }
  if (bytes.byteLength < 8) fail(`is ${bytes.byteLength} bytes, too short to hold the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lo = view.getUint32(0, true);
  const hi = view.getUint32(4, true);
  const headerLength = hi * 2 ** 32 + lo;
  const available = bytes.byteLength - 8;
  if (headerLength > available) {
    fail(`header length ${headerLength} (first 8 bytes) is larger than the ${available} bytes that follow; the file is truncated or not safetensors`);
  }
  if (headerLength > MAX_HEADER_BYTES) fail(`header length ${headerLength} exceeds the format's limit of ${MAX_HEADER_BYTES} bytes`);

  let headerText: string;
  try {
    headerText = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength));
  } catch {
    return fail('header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(headerText);
  } catch (e) {
    return fail(`header is not valid JSON (${(e as Error).message}): ${JSON.stringify(headerText.slice(0, 80))}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    fail('header must be a JSON object mapping tensor names to {dtype, shape, data_offsets}');
  }
  // JSON.parse keeps the last of repeated keys, which would silently drop a tensor.
  const duplicate = firstDuplicateTopLevelKey(headerText);
  if (duplicate !== undefined) fail(`header names tensor "${duplicate}" more than once`);

  const dataStart = 8 + headerLength;
  const dataLength = bytes.byteLength - dataStart;
  const entries = header as Record<string, unknown>;
  const metadata: Record<string, string> = {};
  const found: Array<{ name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }> = [];

  for (const [name, value] of Object.entries(entries)) {
    if (name === '__metadata__') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('"__metadata__" must be an object of strings');
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`"__metadata__" entry "${k}" is ${JSON.stringify(v)}, expected a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const bad = (what: string): never => fail(`tensor "${name}": ${what}`);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) bad('expected an object {dtype, shape, data_offsets}');
    const info = value as Record<string, unknown>;
    const dtype = info.dtype;
    if (typeof dtype !== 'string' || !isDtype(dtype)) {
      bad(`unknown dtype ${JSON.stringify(dtype)}, expected one of ${Object.keys(DTYPE_BYTES).join(', ')}`);
    }
    const shape = info.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      bad(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    }
    const offsets = info.data_offsets;
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1]
    ) {
      bad(`data_offsets ${JSON.stringify(offsets)} must be [begin, end] with 0 <= begin <= end`);
    }
    const [begin, end] = offsets as [number, number];
    if (end > dataLength) bad(`data_offsets [${begin}, ${end}] run past the end of the data buffer (${dataLength} bytes)`);
    const need = elementCount(shape as number[]) * DTYPE_BYTES[dtype as SafetensorsDtype];
    if (need !== end - begin) {
      bad(`dtype ${dtype} and shape ${formatShape(shape as number[])} need ${need} bytes, but data_offsets [${begin}, ${end}] span ${end - begin}`);
    }
    found.push({ name, dtype: dtype as SafetensorsDtype, shape: [...(shape as number[])], begin, end });
  }

  found.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous: (typeof found)[number] | undefined;
  for (const t of found) {
    if (t.begin < cursor) {
      fail(`tensor "${t.name}" (data bytes ${t.begin}..${t.end}) overlaps tensor "${previous!.name}" (data bytes ${previous!.begin}..${previous!.end})`);
    }
    if (t.begin > cursor) {
      const after = previous ? `after tensor "${previous.name}"` : 'at the start of the data buffer';
      fail(`${t.begin - cursor} unused bytes ${after}, before tensor "${t.name}" (data_offsets must tile the data buffer)`);
    }
    cursor = t.end;
    previous = t;
  }
  if (cursor !== dataLength) {
    fail(`${dataLength - cursor} bytes of data after the last tensor (header accounts for ${cursor} of ${dataLength})`);
  }

  const tensors = new Map<string, SafetensorsTensor>();
  for (const t of found) {
    tensors.set(t.name, { name: t.name, dtype: t.dtype, shape: t.shape, bytes: bytes.subarray(dataStart + t.begin, dataStart + t.end) });
  }
  return { fileName, metadata, tensors };
}

/**
 * The tensor's values as a fresh Float32Array. F32 is copied byte for byte, so NaN payloads
 * and -0 survive; F16 and BF16 widen exactly; F64 rounds to nearest.
 */
export function tensorToFloat32(tensor: SafetensorsTensor, fileName = 'model.safetensors'): Float32Array {
  assertLittleEndianHost();
  const n = elementCount(tensor.shape);
  const src = tensor.bytes;
  switch (tensor.dtype) {
    case 'F32': {
      // Copy into a fresh buffer: the tensor may start at an offset that is not 4-aligned.
      const out = new Float32Array(n);
      new Uint8Array(out.buffer).set(src);
      return out;
    }
    case 'F16':
    case 'BF16': {
      const halves = new Uint16Array(n);
      new Uint8Array(halves.buffer).set(src);
      const out = new Float32Array(n);
      const outBits = new Uint32Array(out.buffer);
      if (tensor.dtype === 'BF16') for (let i = 0; i < n; i++) outBits[i] = halves[i] << 16;
      else for (let i = 0; i < n; i++) outBits[i] = float16BitsToFloat32Bits(halves[i]);
      return out;
    }
    case 'F64': {
      const wide = new Float64Array(n);
      new Uint8Array(wide.buffer).set(src);
      return Float32Array.from(wide);
    }
    default:
      throw new CheckpointError(
        `${fileName}: tensor "${tensor.name}" has dtype ${tensor.dtype}, expected a floating-point dtype (${FLOAT_DTYPES.join(', ')})`,
      );
  }
}

/** The float32 bit pattern of an IEEE half; exact for every input, NaN payloads kept. */
export function float16BitsToFloat32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  // Subnormal half: shift the leading one into the implicit bit and lower the exponent.
  let e = 113;
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

export function float16BitsToFloat32(h: number): number {
  return bitsToFloat32(float16BitsToFloat32Bits(h));
}

export function bfloat16BitsToFloat32(h: number): number {
  return bitsToFloat32((h & 0xffff) << 16);
}

function bitsToFloat32(bits: number): number {
  const u = new Uint32Array([bits >>> 0]);
  return new Float32Array(u.buffer)[0];
}

/**
 * Serialises tensors in the layout the reference writer produces: compact JSON header with
 * "__metadata__" first, padded with spaces so the data buffer starts 8-byte aligned; tensors
 * ordered by element size (largest first) and then by name, each stored contiguously.
 */
export function writeSafetensors(tensors: Iterable<SafetensorsInput>, metadata?: Record<string, string>): Uint8Array {
  assertLittleEndianHost();
  const items: Array<{ name: string; dtype: SafetensorsDtype; shape: number[]; bytes: Uint8Array }> = [];
  const seen = new Set<string>();
  for (const t of tensors) {
    const fail = (what: string): never => {
      throw new CheckpointError(`writing safetensors: tensor "${t.name}": ${what}`);
    };
    if (typeof t.name !== 'string' || t.name.length === 0) fail('name must be a non-empty string');
    if (t.name === '__metadata__') fail('"__metadata__" is reserved for the metadata map');
    if (seen.has(t.name)) fail('appears more than once');
    seen.add(t.name);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`shape ${JSON.stringify(t.shape)} is not a list of non-negative integers`);
    const n = elementCount(t.shape);
    if ('data' in t) {
      if (!(t.data instanceof Float32Array)) fail('data must be a Float32Array');
      if (t.data.length !== n) fail(`has ${t.data.length} values, but shape ${formatShape(t.shape)} needs ${n}`);
      items.push({ name: t.name, dtype: 'F32', shape: [...t.shape], bytes: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) });
    } else {
      if (!isDtype(t.dtype)) fail(`unknown dtype ${JSON.stringify(t.dtype)}`);
      const need = n * DTYPE_BYTES[t.dtype];
      if (t.bytes.byteLength !== need) fail(`has ${t.bytes.byteLength} bytes, but dtype ${t.dtype} and shape ${formatShape(t.shape)} need ${need}`);
      items.push({ name: t.name, dtype: t.dtype, shape: [...t.shape], bytes: t.bytes });
    }
  }
  items.sort((a, b) => DTYPE_BYTES[b.dtype] - DTYPE_BYTES[a.dtype] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  // No prototype, so that a tensor named "__proto__" is an ordinary key.
  const header: Record<string, unknown> = Object.create(null);
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new CheckpointError(`writing safetensors: metadata "${k}" must be a string, got ${typeof v}`);
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const t of items) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.byteLength] };
    offset += t.bytes.byteLength;
  }
  let headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(headerBytes.byteLength / 8) * 8;
  if (padded !== headerBytes.byteLength) {
    const withPad = new Uint8Array(padded).fill(0x20);
    withPad.set(headerBytes);
    headerBytes = withPad;
  }

  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerBytes.byteLength % 2 ** 32, true);
  view.setUint32(4, Math.floor(headerBytes.byteLength / 2 ** 32), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.byteLength;
  for (const t of items) {
    out.set(t.bytes, at);
    at += t.bytes.byteLength;
  }
  return out;
}

function isDtype(name: string): name is SafetensorsDtype {
  return Object.hasOwn(DTYPE_BYTES, name);
}

function assertLittleEndianHost(): void {
  // Typed-array views use host byte order and the format is little-endian; every platform
  // that runs WebGPU is little-endian, so this only guards against silent corruption.
  if (!HOST_IS_LITTLE_ENDIAN) throw new CheckpointError('safetensors: big-endian hosts are not supported');
}

function looksLikeLfsPointer(bytes: Uint8Array): boolean {
  const prefix = 'version https://git-lfs';
  if (bytes.byteLength < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix.charCodeAt(i)) return false;
  return true;
}

/**
 * The first key repeated at the top level of a JSON object text, if any. Assumes the text
 * already passed JSON.parse, so it only has to find where each value ends.
 */
function firstDuplicateTopLevelKey(text: string): string | undefined {
  const keys = new Set<string>();
  let i = text.indexOf('{') + 1;
  let depth = 0;
  let expectKey = true;
  while (i < text.length) {
    const ch = text[i];
    if (ch === '"') {
      const start = i;
      i++;
      while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      i++;
      if (depth === 0 && expectKey) {
        const key = JSON.parse(text.slice(start, i)) as string;
        if (keys.has(key)) return key;
        keys.add(key);
        expectKey = false;
      }
      continue;
    }
    if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') depth--;
    else if (ch === ',' && depth === 0) expectKey = true;
    if (depth < 0) break;
    i++;
  }
  return undefined;
}

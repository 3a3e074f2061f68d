import { describe, expect, it } from 'vitest';
import {
  bfloat16BitsToFloat32,
  CheckpointError,
  float16BitsToFloat32,
  float16BitsToFloat32Bits,
  readSafetensors,
  type SafetensorsInput,
  tensorToFloat32,
  writeSafetensors,
} from '../../src/checkpoint/safetensors';
import { rng, uniform } from '../../src/util/random';

const FILE = 'weights.safetensors';

function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

function f32FromBits(values: number[]): Float32Array {
  return new Float32Array(new Uint32Array(values).buffer);
}

/** A safetensors file from a header text and data bytes, with an optional forged length prefix. */
function rawFile(header: string, data: Uint8Array = new Uint8Array(0), lengthPrefix?: number): Uint8Array {
  const h = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + h.byteLength + data.byteLength);
  new DataView(out.buffer).setUint32(0, lengthPrefix ?? h.byteLength, true);
  out.set(h, 8);
  out.set(data, 8 + h.byteLength);
  return out;
}

function readError(bytes: Uint8Array): string {
  try {
    readSafetensors(bytes, FILE);
  } catch (e) {
    expect(e).toBeInstanceOf(CheckpointError);
    return (e as Error).message;
  }
  throw new Error('expected readSafetensors to throw');
}

describe('safetensors round trip', () => {
  const random = rng(7);
  const special = f32FromBits([
    0x7fc00001, // quiet NaN with a payload
    0xffa00005, // signalling NaN, negative
    0x80000000, // -0
    0x00000001, // smallest subnormal
    0x7f800000, // +inf
    0xff800000, // -inf
    0x7f7fffff, // largest finite
  ]);
  const tensors: SafetensorsInput[] = [
    { name: 'transformer.h.0.attn.c_attn.weight', shape: [7, 33], data: uniform(7 * 33, random) },
    { name: 'b', shape: [3, 1, 5], data: uniform(15, random, -1e30, 1e30) },
    { name: 'scalar', shape: [], data: new Float32Array([Math.PI]) },
    { name: 'empty', shape: [0, 4], data: new Float32Array(0) },
    { name: 'special', shape: [special.length], data: special },
    { name: 'a.single', shape: [1], data: new Float32Array([-1.5]) },
  ];

  for (const metadata of [undefined, {}, { format: 'pt', note: 'ünïcode ✓' }] as Array<Record<string, string> | undefined>) {
    it(`keeps every bit of every tensor (metadata ${JSON.stringify(metadata)})`, () => {
      const bytes = writeSafetensors(tensors, metadata);
      const file = readSafetensors(bytes, FILE);
      expect(file.metadata).toEqual(metadata ?? {});
      expect([...file.tensors.keys()].sort()).toEqual(tensors.map((t) => t.name).sort());
      for (const t of tensors) {
        if (!('data' in t)) throw new Error('test tensors are F32');
        const got = file.tensors.get(t.name)!;
        expect(got.dtype).toBe('F32');
        expect(got.shape).toEqual(t.shape);
        expect(bits(tensorToFloat32(got, FILE)), t.name).toEqual(bits(t.data));
      }
      // Writing what was read gives the same bytes: nothing is normalised on the way.
      const again = writeSafetensors(
        [...file.tensors.values()].map((t) => ({ name: t.name, shape: t.shape, data: tensorToFloat32(t) })),
        file.metadata,
      );
      expect(again).toEqual(bytes);
    });
  }

  it('pads the header with spaces to 8-byte alignment and writes it compactly, metadata first', () => {
    const bytes = writeSafetensors([{ name: 'w', shape: [2], data: new Float32Array([1, 2]) }], { format: 'pt' });
    const n = new DataView(bytes.buffer).getUint32(0, true);
    expect((8 + n) % 8).toBe(0);
    const header = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    const json = '{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
    expect(header).toBe(json.padEnd(Math.ceil(json.length / 8) * 8, ' '));
    expect(bytes.byteLength).toBe(8 + n + 8);
  });

  it('treats a tensor named "__proto__" as an ordinary name', () => {
    const file = readSafetensors(writeSafetensors([{ name: '__proto__', shape: [1], data: new Float32Array([5]) }]), FILE);
    expect([...file.tensors.keys()]).toEqual(['__proto__']);
    expect([...tensorToFloat32(file.tensors.get('__proto__')!)]).toEqual([5]);
  });

  it('orders tensors by element size, then name, each contiguous', () => {
    const bytes = writeSafetensors([
      { name: 'z16', shape: [3], dtype: 'F16', bytes: new Uint8Array(6) },
      { name: 'y32', shape: [1], data: new Float32Array([1]) },
      { name: 'x32', shape: [2], data: new Float32Array([2, 3]) },
      { name: 'w8', shape: [1], dtype: 'U8', bytes: new Uint8Array([9]) },
    ]);
    const file = readSafetensors(bytes, FILE);
    expect([...file.tensors.keys()]).toEqual(['x32', 'y32', 'z16', 'w8']);
    expect([...file.tensors.get('w8')!.bytes]).toEqual([9]);
  });

  it('refuses bad tensors when writing, naming them', () => {
    expect(() => writeSafetensors([{ name: 'w', shape: [2, 3], data: new Float32Array(5) }])).toThrow(
      'writing safetensors: tensor "w": has 5 values, but shape [2, 3] needs 6',
    );
    const dup = { name: 'w', shape: [1], data: new Float32Array(1) };
    expect(() => writeSafetensors([dup, dup])).toThrow('tensor "w": appears more than once');
    expect(() => writeSafetensors([{ name: 'w', shape: [-1], data: new Float32Array(1) }])).toThrow(/tensor "w": shape \[-1\]/);
    expect(() => writeSafetensors([{ name: 'h', shape: [2], dtype: 'F16', bytes: new Uint8Array(3) }])).toThrow(
      'tensor "h": has 3 bytes, but dtype F16 and shape [2] need 4',
    );
  });
});

describe('safetensors header validation', () => {
  const tensor = (dtype: string, shape: number[], offsets: [number, number]) =>
    `{"dtype":"${dtype}","shape":${JSON.stringify(shape)},"data_offsets":${JSON.stringify(offsets)}}`;

  it('refuses a file too short for the length prefix', () => {
    expect(readError(new Uint8Array(5))).toBe(`${FILE}: is 5 bytes, too short to hold the 8-byte header length`);
  });

  it('refuses a header length beyond the end of the file', () => {
    const bytes = rawFile('{}', new Uint8Array(0), 1000);
    expect(readError(bytes)).toBe(
      `${FILE}: header length 1000 (first 8 bytes) is larger than the 2 bytes that follow; the file is truncated or not safetensors`,
    );
  });

  it('refuses a header length with the high 32 bits set', () => {
    const bytes = rawFile('{}');
    new DataView(bytes.buffer).setUint32(4, 1, true);
    expect(readError(bytes)).toMatch(/header length 4294967298 \(first 8 bytes\) is larger than the 2 bytes/);
  });

  it('refuses a header that is not JSON, or not an object', () => {
    expect(readError(rawFile('{"w": {"dtype": '))).toMatch(new RegExp(`^${FILE}: header is not valid JSON \\(`));
    expect(readError(rawFile('[1, 2]'))).toBe(`${FILE}: header must be a JSON object mapping tensor names to {dtype, shape, data_offsets}`);
    const badUtf8 = rawFile('{"xx":1}');
    badUtf8[10] = 0xff;
    expect(readError(badUtf8)).toBe(`${FILE}: header is not valid UTF-8`);
  });

  it('refuses a Git LFS pointer with a hint', () => {
    const pointer = new TextEncoder().encode('version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 548105171\n');
    expect(readError(pointer)).toMatch(/is a Git LFS pointer file, not the weights/);
  });

  it('refuses offsets past the data buffer', () => {
    expect(readError(rawFile(`{"w":${tensor('F32', [4], [0, 16])}}`, new Uint8Array(12)))).toBe(
      `${FILE}: tensor "w": data_offsets [0, 16] run past the end of the data buffer (12 bytes)`,
    );
  });

  it('refuses malformed offsets', () => {
    expect(readError(rawFile(`{"w":${tensor('F32', [0], [8, 4])}}`, new Uint8Array(8)))).toBe(
      `${FILE}: tensor "w": data_offsets [8,4] must be [begin, end] with 0 <= begin <= end`,
    );
    expect(readError(rawFile('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}}', new Uint8Array(4)))).toMatch(/tensor "w": data_offsets \[0\] must be/);
  });

  it('refuses overlapping tensors, naming both', () => {
    const header = `{"a":${tensor('F32', [2], [0, 8])},"b":${tensor('F32', [2], [4, 12])}}`;
    expect(readError(rawFile(header, new Uint8Array(12)))).toBe(
      `${FILE}: tensor "b" (data bytes 4..12) overlaps tensor "a" (data bytes 0..8)`,
    );
  });

  it('refuses gaps and trailing bytes in the data buffer', () => {
    const gap = `{"a":${tensor('F32', [1], [0, 4])},"b":${tensor('F32', [1], [8, 12])}}`;
    expect(readError(rawFile(gap, new Uint8Array(12)))).toBe(
      `${FILE}: 4 unused bytes after tensor "a", before tensor "b" (data_offsets must tile the data buffer)`,
    );
    const trailing = `{"a":${tensor('F32', [1], [0, 4])}}`;
    expect(readError(rawFile(trailing, new Uint8Array(10)))).toBe(
      `${FILE}: 6 bytes of data after the last tensor (header accounts for 4 of 10)`,
    );
  });

  it('refuses a dtype and shape that disagree with the byte span', () => {
    expect(readError(rawFile(`{"w":${tensor('F32', [2, 3], [0, 20])}}`, new Uint8Array(20)))).toBe(
      `${FILE}: tensor "w": dtype F32 and shape [2, 3] need 24 bytes, but data_offsets [0, 20] span 20`,
    );
    expect(readError(rawFile(`{"w":${tensor('BF16', [3], [0, 12])}}`, new Uint8Array(12)))).toBe(
      `${FILE}: tensor "w": dtype BF16 and shape [3] need 6 bytes, but data_offsets [0, 12] span 12`,
    );
  });

  it('refuses unknown dtypes and bad shapes', () => {
    expect(readError(rawFile(`{"w":${tensor('F33', [1], [0, 4])}}`, new Uint8Array(4)))).toMatch(
      new RegExp(`^${FILE}: tensor "w": unknown dtype "F33", expected one of BOOL, U8, .*F32`),
    );
    expect(readError(rawFile(`{"w":${tensor('F32', [1.5], [0, 4])}}`, new Uint8Array(4)))).toBe(
      `${FILE}: tensor "w": shape [1.5] is not a list of non-negative integers`,
    );
    expect(readError(rawFile(`{"w":${tensor('constructor', [1], [0, 4])}}`, new Uint8Array(4)))).toMatch(/tensor "w": unknown dtype "constructor"/);
    expect(readError(rawFile('{"w":3}'))).toBe(`${FILE}: tensor "w": expected an object {dtype, shape, data_offsets}`);
  });

  it('refuses a tensor named twice', () => {
    const header = `{"w":${tensor('F32', [1], [0, 4])}, "w" :${tensor('F32', [1], [4, 8])}}`;
    expect(readError(rawFile(header, new Uint8Array(8)))).toBe(`${FILE}: header names tensor "w" more than once`);
    // Keys inside nested objects and strings that look like keys do not count.
    const ok = `{"__metadata__":{"w":"\\"w\\": {"},"w":${tensor('F32', [1], [0, 4])}}`;
    expect(readSafetensors(rawFile(ok, new Uint8Array(4)), FILE).metadata).toEqual({ w: '"w": {' });
  });

  it('refuses metadata values that are not strings', () => {
    expect(readError(rawFile('{"__metadata__":{"step":3}}'))).toBe(`${FILE}: "__metadata__" entry "step" is 3, expected a string`);
  });

  it('reads an F32 tensor that starts at an unaligned offset', () => {
    const values = new Float32Array([1.25, -7, 3e-39]);
    const data = new Uint8Array(13);
    data[0] = 42;
    data.set(new Uint8Array(values.buffer), 1);
    const header = `{"tag":${tensor('U8', [1], [0, 1])},"w":${tensor('F32', [3], [1, 13])}}`;
    const file = readSafetensors(rawFile(header, data), FILE);
    expect(bits(tensorToFloat32(file.tensors.get('w')!))).toEqual(bits(values));
  });

  it('refuses to convert integer tensors to floats, naming the tensor', () => {
    const file = readSafetensors(writeSafetensors([{ name: 'ids', shape: [2], dtype: 'I64', bytes: new Uint8Array(16) }]), FILE);
    expect(() => tensorToFloat32(file.tensors.get('ids')!, FILE)).toThrow(
      `${FILE}: tensor "ids" has dtype I64, expected a floating-point dtype (F32, F16, BF16, F64)`,
    );
  });
});

describe('half-precision decoding', () => {
  it('decodes known F16 values', () => {
    const cases: Array<[number, number]> = [
      [0x3c00, 1],
      [0xc100, -2.5],
      [0x7bff, 65504],
      [0x0400, 2 ** -14],
      [0x0001, 2 ** -24],
      [0x03ff, 1023 * 2 ** -24],
      [0x8001, -(2 ** -24)],
      [0x3555, 0.333251953125],
      [0x7c00, Infinity],
      [0xfc00, -Infinity],
      [0x0000, 0],
    ];
    for (const [h, v] of cases) expect(float16BitsToFloat32(h), `0x${h.toString(16)}`).toBe(v);
    expect(Object.is(float16BitsToFloat32(0x8000), -0)).toBe(true);
    expect(float16BitsToFloat32(0x7e00)).toBeNaN();
    // NaN payload bits move to the top of the float32 mantissa.
    expect(float16BitsToFloat32Bits(0x7e01)).toBe(0x7fc02000);
    expect(float16BitsToFloat32Bits(0xfd00)).toBe(0xffa00000);
  });

  it('decodes every F16 bit pattern like the IEEE formula', () => {
    for (let h = 0; h < 0x10000; h++) {
      const s = h & 0x8000 ? -1 : 1;
      const e = (h >> 10) & 0x1f;
      const m = h & 0x3ff;
      const want = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m === 0 ? s * Infinity : NaN) : s * (1 + m / 1024) * 2 ** (e - 15);
      const got = float16BitsToFloat32(h);
      if (Number.isNaN(want)) expect(got, `0x${h.toString(16)}`).toBeNaN();
      else if (!Object.is(got, want)) expect(got, `0x${h.toString(16)}`).toBe(want);
    }
  });

  it('decodes known BF16 values', () => {
    const cases: Array<[number, number]> = [
      [0x3f80, 1],
      [0xc020, -2.5],
      [0x4780, 65536],
      [0x7f7f, 3.3895313892515355e38],
      [0x0001, 9.183549615799121e-41],
      [0x7f80, Infinity],
      [0xff80, -Infinity],
    ];
    for (const [h, v] of cases) expect(bfloat16BitsToFloat32(h), `0x${h.toString(16)}`).toBe(v);
    expect(Object.is(bfloat16BitsToFloat32(0x8000), -0)).toBe(true);
    expect(bfloat16BitsToFloat32(0x7fc0)).toBeNaN();
  });

  it('widens F16, BF16 and F64 tensors read from a file', () => {
    const f16 = new Uint16Array([0x3c00, 0xc100, 0x7bff, 0x0001, 0x7c00, 0x7e00]);
    const bf16 = new Uint16Array([0x3f80, 0xc020, 0x0001, 0xff80]);
    const f64 = new Float64Array([1 / 3, -2.5, 1e300]);
    const file = readSafetensors(
      writeSafetensors([
        { name: 'h', shape: [2, 3], dtype: 'F16', bytes: new Uint8Array(f16.buffer) },
        { name: 'b', shape: [4], dtype: 'BF16', bytes: new Uint8Array(bf16.buffer) },
        { name: 'd', shape: [3], dtype: 'F64', bytes: new Uint8Array(f64.buffer) },
      ]),
      FILE,
    );
    const h = tensorToFloat32(file.tensors.get('h')!);
    expect([...h.slice(0, 5)]).toEqual([1, -2.5, 65504, 2 ** -24, Infinity]);
    expect(h[5]).toBeNaN();
    expect([...tensorToFloat32(file.tensors.get('b')!)]).toEqual([1, -2.5, 9.183549615799121e-41, -Infinity]);
    expect([...tensorToFloat32(file.tensors.get('d')!)]).toEqual([Math.fround(1 / 3), -2.5, Infinity]);
  });
});

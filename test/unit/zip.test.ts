import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { crc32, zipStored } from '../../src/util/zip';

const enc = (s: string) => new TextEncoder().encode(s);

function hasUnzip(): boolean {
  try {
    execFileSync('unzip', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Reads a stored-only ZIP through its central directory, as an unzip tool does. */
function readZip(zip: Uint8Array): Map<string, Uint8Array> {
  const v = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  const end = zip.length - 22;
  expect(v.getUint32(end, true)).toBe(0x06054b50);
  const count = v.getUint16(end + 10, true);
  let at = v.getUint32(end + 16, true);
  const out = new Map<string, Uint8Array>();
  for (let i = 0; i < count; i++) {
    expect(v.getUint32(at, true)).toBe(0x02014b50);
    const size = v.getUint32(at + 24, true);
    const nameLen = v.getUint16(at + 28, true);
    const local = v.getUint32(at + 42, true);
    const name = new TextDecoder().decode(zip.subarray(at + 46, at + 46 + nameLen));
    expect(v.getUint32(local, true)).toBe(0x04034b50);
    const data = zip.subarray(local + 30 + v.getUint16(local + 26, true), local + 30 + v.getUint16(local + 26, true) + size);
    expect(crc32(data)).toBe(v.getUint32(at + 16, true));
    out.set(name, data);
    at += 46 + nameLen;
  }
  return out;
}

describe('stored ZIP archives', () => {
  it('computes the standard CRC-32', () => {
    expect(crc32(enc('hello'))).toBe(0x3610a686);
    expect(crc32(enc('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array())).toBe(0);
  });

  it('writes entries that read back byte for byte, UTF-8 names and empty files included', () => {
    const files = [
      { path: 'seqlora/adapter_config.json', bytes: enc('{"r": 16}') },
      { path: 'see/expert1-ünïcode/adapter_model.safetensors', bytes: Uint8Array.from({ length: 5000 }, (_, i) => (i * 31) & 255) },
      { path: 'empty.txt', bytes: new Uint8Array() },
    ];
    const back = readZip(zipStored(files, new Date(2026, 11, 5, 12, 30, 10)));
    expect([...back.keys()]).toEqual(files.map((f) => f.path));
    for (const f of files) expect(Buffer.compare(back.get(f.path)!, f.bytes)).toBe(0);
  });

  // Reported as skipped on a machine without Info-ZIP's unzip.
  it.skipIf(!hasUnzip())('is read by Info-ZIP unzip', () => {
    const dir = mkdtempSync(join(tmpdir(), 'zip-'));
    try {
      writeFileSync(join(dir, 'a.zip'), zipStored([{ path: 'x/y.json', bytes: enc('[1,2]') }]));
      execFileSync('unzip', ['-q', join(dir, 'a.zip'), '-d', dir]);
      expect(readFileSync(join(dir, 'x/y.json'), 'utf8')).toBe('[1,2]');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

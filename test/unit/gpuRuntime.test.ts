import { describe, expect, it } from 'vitest';
import { describeAdapter } from '../../src/gpu/adapterInfo';
import { sizeClass } from '../../src/gpu/bufferPool';
import { Params } from '../../src/gpu/params';
import { libraryFromFiles } from '../../src/gpu/shaderLibrary';

describe('sizeClass', () => {
  it('rounds up to a class that fits, wasting at most 12.5% past 1 MiB', () => {
    for (const bytes of [1, 4, 255, 256, 257, 1000, 4096, 1 << 20, (1 << 20) + 1, 3_000_000, 123_456_789]) {
      const c = sizeClass(bytes);
      expect(c).toBeGreaterThanOrEqual(bytes);
      expect(c % 4).toBe(0);
      if (bytes > 1 << 20) expect(c / bytes).toBeLessThanOrEqual(1.125);
    }
    expect(sizeClass(1)).toBe(256);
    expect(sizeClass(1000)).toBe(1024);
  });
});

describe('Params', () => {
  it('packs scalars in field order, padded to 16 bytes', () => {
    const bytes = new Params().u32(7).f32(0.5).i32(-3).u32(1).u32(2).bytes();
    expect(bytes.byteLength).toBe(32);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    expect(view.getUint32(0, true)).toBe(7);
    expect(view.getFloat32(4, true)).toBe(0.5);
    expect(view.getInt32(8, true)).toBe(-3);
    expect(view.getUint32(16, true)).toBe(2);
  });
  it('refuses values that are not u32', () => {
    expect(() => new Params().u32(-1)).toThrow(/not a u32/);
    expect(() => new Params().u32(1.5)).toThrow(/not a u32/);
  });
});

describe('libraryFromFiles', () => {
  it('finds shaders by base name and lists the known ones when one is missing', () => {
    const lib = libraryFromFiles({ '/shaders/matmul.wgsl': 'A', '/shaders/add.wgsl': 'B' });
    expect(lib.source('matmul')).toBe('A');
    expect(() => lib.source('nope')).toThrow('shader "shaders/nope.wgsl" not found (have: add, matmul)');
  });
});

describe('shader includes', () => {
  it('splices //!include lines, nested, and refuses cycles', () => {
    const lib = libraryFromFiles({
      'k.wgsl': 'fn main() {}\n//!include a\n',
      'a.wgsl': 'fn a() {}\n//!include b',
      'b.wgsl': 'fn b() {}',
      'c1.wgsl': '//!include c2',
      'c2.wgsl': '//!include c1',
    });
    expect(lib.source('k')).toBe('fn main() {}\nfn a() {}\nfn b() {}\n');
    expect(() => lib.source('c1')).toThrow('shader include cycle: c1 -> c2 -> c1');
    expect(() => libraryFromFiles({ 'x.wgsl': '//!include nope' }).source('x')).toThrow(/nope\.wgsl" not found/);
  });
});

describe('describeAdapter', () => {
  const limits = { maxStorageBufferBindingSize: 1 << 27, maxComputeInvocationsPerWorkgroup: 256 } as unknown as GPUSupportedLimits;
  it('marks SwiftShader as a software adapter', () => {
    const info = { vendor: 'google', architecture: 'swiftshader', device: '', description: 'SwiftShader driver' } as GPUAdapterInfo;
    const s = describeAdapter(info, limits, new Set(['timestamp-query', 'subgroups']));
    expect(s.isSoftware).toBe(true);
    expect(s.features).toEqual(['subgroups', 'timestamp-query']);
    expect(s.limits.maxStorageBufferBindingSize).toBe(1 << 27);
  });
  it('does not mark a discrete GPU as software', () => {
    const info = { vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA H100' } as GPUAdapterInfo;
    expect(describeAdapter(info, limits, new Set()).isSoftware).toBe(false);
  });
});

describe('maxRelError', () => {
  it('is zero for equal arrays and finds the worst element', async () => {
    const { maxRelError } = await import('../../src/util/compare');
    expect(maxRelError([1, 2, 3], [1, 2, 3]).err).toBe(0);
    const r = maxRelError([1, 2.5, 3], [1, 2, 3]);
    expect(r.index).toBe(1);
    expect(r.err).toBeCloseTo(0.5 / 2.03, 6);
  });
  it('treats NaN (a poisoned, unwritten element) and a length mismatch as infinite error', async () => {
    const { maxRelError } = await import('../../src/util/compare');
    expect(maxRelError([1, NaN, 3], [1, 2, 3])).toEqual({ err: Infinity, index: 1 });
    expect(maxRelError([1, 2], [1, 2, 3]).err).toBe(Infinity);
  });
});

describe('expectGradientMatchesFiniteDifference', () => {
  it('samples any array length and catches a wrong gradient', async () => {
    const { expectGradientMatchesFiniteDifference } = await import('../helpers/compare');
    for (const n of [3, 28, 64, 128, 1000]) {
      const x = Float64Array.from({ length: n }, (_, i) => Math.sin(i));
      const f = (v: Float64Array) => v.reduce((s, a) => s + a * a, 0);
      const grad = x.map((v) => 2 * v);
      expectGradientMatchesFiniteDifference(f, x, grad, `sum of squares n=${n}`, { samples: 24 });
      const wrong = grad.slice();
      wrong.fill(0);
      expect(() => expectGradientMatchesFiniteDifference(f, x, wrong, 'wrong', { samples: 24 })).toThrow();
    }
  });
});

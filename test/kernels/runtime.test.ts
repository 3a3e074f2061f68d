import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context';
import { GpuUnavailableError, KernelError, ShapeError } from '../../src/gpu/errors';
import { createNodeContext, releaseNodeGpu } from '../../src/gpu/node';
import { Params } from '../../src/gpu/params';
import { libraryFromFiles } from '../../src/gpu/shaderLibrary';
import { nodeShaderLibrary } from '../../src/gpu/nodeShaderLibrary';
import { add } from '../../src/kernels/add';

// Test-only shaders: one that fails to compile, one whose binding needs more bytes than
// the buffer we give it (a validation error at bind time).
const broken = `// deliberately broken
@group(0) @binding(1) var<storage, read_write> o: array<f32>;
@compute @workgroup_size(1) fn main() {
  o[0] = undefined_name + 1.0;
}`;
const needsBigBuffer = `struct Big { v: array<vec4f, 1000> }
@group(0) @binding(1) var<storage, read_write> o: Big;
@compute @workgroup_size(1) fn main() { o.v[0] = vec4f(1.0); }`;

const boolOverride = `override FLAG: bool = false;
@group(0) @binding(1) var<storage, read_write> o: array<f32>;
@compute @workgroup_size(1) fn main() { o[0] = select(1.0, 2.0, FLAG); }`;

let ctx: GpuContext;
beforeAll(async () => {
  const real = nodeShaderLibrary();
  const extra = libraryFromFiles({ 'broken.wgsl': broken, 'needs_big_buffer.wgsl': needsBigBuffer, 'bool_override.wgsl': boolOverride });
  ctx = await createNodeContext({
    shaders: {
      source: (name) => (['broken', 'needs_big_buffer', 'bool_override'].includes(name) ? extra.source(name) : real.source(name)),
    },
  });
});
afterAll(() => releaseNodeGpu(ctx));

describe('GPU runtime', () => {
  it('reports the adapter with its limits and features', () => {
    expect(ctx.adapter.vendor.length).toBeGreaterThan(0);
    expect(ctx.adapter.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 * 1024);
    expect(ctx.adapter.limits.maxComputeInvocationsPerWorkgroup).toBeGreaterThanOrEqual(256);
    expect(Array.isArray(ctx.adapter.features)).toBe(true);
  });

  it('compiles each kernel variant once per device', async () => {
    const a = ctx.upload(new Float32Array([1, 2, 3]), [3]);
    const before = ctx.pipelinesCompiled;
    for (let i = 0; i < 5; i++) ctx.release(add(ctx, a, a));
    expect(ctx.pipelinesCompiled - before).toBeLessThanOrEqual(1);
    const afterFirst = ctx.pipelinesCompiled;
    for (let i = 0; i < 5; i++) ctx.release(add(ctx, a, a));
    expect(ctx.pipelinesCompiled).toBe(afterFirst);
    // Another override value is another variant.
    ctx.pipeline({ name: 'add_wg64', shader: 'add', constants: { WG: 64 } });
    ctx.pipeline({ name: 'add_wg64', shader: 'add', constants: { WG: 64 } });
    expect(ctx.pipelinesCompiled).toBe(afterFirst + 1);
    await ctx.sync();
    ctx.release(a);
  });

  it('accepts boolean override constants', async () => {
    const o = ctx.empty([1]);
    for (const FLAG of [false, true]) {
      ctx.dispatch({ name: 'bool_override', shader: 'bool_override', constants: { FLAG } }, { buffers: [o], workgroups: [1] });
      expect(Array.from(await ctx.readF32(o))).toEqual([FLAG ? 2 : 1]);
    }
    ctx.release(o);
  });

  it('reuses pooled buffers and returns to the same live count (no leaks)', async () => {
    const base = ctx.poolStats();
    const a = ctx.upload(new Float32Array(1000).fill(1), [1000]);
    const first = add(ctx, a, a);
    const firstBuffer = first.buffer;
    ctx.release(first);
    const createdAfterFirst = ctx.poolStats().created;
    for (let i = 0; i < 20; i++) {
      const o = add(ctx, a, a);
      ctx.release(o);
    }
    const again = add(ctx, a, a);
    expect(again.buffer).toBe(firstBuffer);
    expect(Array.from(await ctx.readF32(again)).every((v) => v === 2)).toBe(true);
    ctx.release(again, a);
    const end = ctx.poolStats();
    expect(end.live).toBe(base.live);
    // Readback staging buffers come from the pool too; nothing new after the first pass.
    expect(end.created).toBeLessThanOrEqual(createdAfterFirst + 1);
    // A released buffer moves from live bytes to pooled bytes at its size-class size.
    const t = ctx.empty([12345], 'f32');
    const held = ctx.poolStats();
    ctx.release(t);
    const freed = ctx.poolStats();
    expect(freed.pooledBytes - held.pooledBytes).toBe(t.buffer.size);
    expect(held.liveBytes - freed.liveBytes).toBe(t.buffer.size);
    expect(t.buffer.size).toBeGreaterThanOrEqual(12345 * 4);
  });

  it('times kernels on the GPU when the adapter has timestamp queries', async () => {
    if (!ctx.device.features.has('timestamp-query')) {
      expect(ctx.startProfiling()).toBe(false);
      return;
    }
    expect(ctx.startProfiling()).toBe(true);
    const a = ctx.upload(new Float32Array(4096).fill(1), [4096]);
    for (let i = 0; i < 3; i++) ctx.release(add(ctx, a, a));
    const report = await ctx.profileReport();
    const entry = report.find((e) => e.kernel === 'add');
    expect(entry?.count).toBe(3);
    expect(entry!.ms).toBeGreaterThanOrEqual(0);
    ctx.release(a);
  });

  it('refuses to release a buffer twice', () => {
    const t = ctx.empty([4]);
    ctx.release(t);
    expect(() => ctx.release(t)).toThrow(/not live/);
  });

  it('turns a WGSL compile error into an exception naming the kernel, file and line', async () => {
    const out = ctx.empty([1]);
    ctx.dispatch({ name: 'broken_kernel', shader: 'broken' }, { buffers: [out], workgroups: [1] });
    const err = await ctx.sync().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(KernelError);
    expect(String((err as Error).message)).toMatch(/broken_kernel/);
    expect(String((err as Error).message)).toMatch(/shaders\/broken\.wgsl:4:/);
    ctx.release(out);
  });

  it('turns a validation error at dispatch into an exception naming the kernel', async () => {
    const small = ctx.empty([4]);
    ctx.dispatch({ name: 'needs_big_buffer', shader: 'needs_big_buffer' }, { buffers: [small], workgroups: [1] });
    await expect(ctx.sync()).rejects.toThrow(/kernel "needs_big_buffer"/);
    // The context stays usable after the error.
    const a = ctx.upload(new Float32Array([1]), [1]);
    const o = add(ctx, a, a);
    expect(Array.from(await ctx.readF32(o))).toEqual([2]);
    ctx.release(small, a, o);
  });

  it('rejects bad sizes on the host with messages that say what was wrong', () => {
    expect(() => ctx.empty([ctx.limits.maxStorageBufferBindingSize])).toThrow(/maxStorageBufferBindingSize/);
    expect(() => ctx.empty([2, -1])).toThrow(ShapeError);
    expect(() => ctx.upload(new Float32Array(5), [2, 3])).toThrow(/5 elements but shape \[2, 3\] needs 6/);
    const t = ctx.empty([1]);
    expect(() =>
      ctx.dispatch(
        { name: 'add', shader: 'add', constants: { WG: 256 } },
        { params: new Params().u32(1).bytes(), buffers: [t, t, t], workgroups: [ctx.limits.maxComputeWorkgroupsPerDimension + 1] },
      ),
    ).toThrow(/workgroup count/);
    ctx.release(t);
  });
});

describe('device loss', () => {
  let lostCtx: GpuContext;
  beforeAll(async () => {
    lostCtx = await createNodeContext();
  });
  afterAll(() => releaseNodeGpu(lostCtx));

  it('is surfaced as an event, and later use says the device was lost', async () => {
    const seen: string[] = [];
    lostCtx.onDeviceLost((info) => seen.push(info.reason));
    lostCtx.device.destroy();
    const info = await lostCtx.lost;
    expect(info.reason).toBe('destroyed');
    expect(seen).toEqual(['destroyed']);
    expect(lostCtx.isLost).toBe(true);
    expect(() => lostCtx.empty([4])).toThrow(GpuUnavailableError);
    expect(() => lostCtx.empty([4])).toThrow(/device was lost/);
  });
});

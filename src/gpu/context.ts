import { BufferPool, type PoolStats } from './bufferPool';
import { GpuUnavailableError, KernelError, ShapeError } from './errors';
import type { ShaderLibrary } from './shaderLibrary';
import { hostArrayFor, shapeToString, sizeOf, type DType, type GpuTensor, type HostArray } from './tensor';
import { describeAdapter, type AdapterSummary } from './adapterInfo';
import { KernelProfiler } from './profiler';

/**
 * One compiled variant of a WGSL kernel. `constants` fill the shader's `override`
 * declarations, so variants (tile sizes, transposes) share a source file.
 */
export interface KernelSpec {
  /** Name used in labels and error messages, e.g. "matmul_regtile". */
  name: string;
  /** File in shaders/ without the .wgsl extension. */
  shader: string;
  entryPoint?: string;
  constants?: Record<string, number | boolean>;
}

/**
 * Binding convention shared by every kernel in shaders/: @group(0) @binding(0) is the
 * uniform parameter struct (when the kernel has one), and the storage buffers follow at
 * bindings 1, 2, ... in the order given here.
 */
export interface DispatchArgs {
  params?: Uint8Array;
  buffers: Array<GpuTensor | GPUBuffer>;
  workgroups: readonly [number, number?, number?];
}

// Flag values fixed by the WebGPU spec; spelled out so that importing this module never
// touches a global that Node only has after the Dawn binding is installed.
const Usage = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80 } as const;
const MAP_READ_MODE = 0x1;
const STORAGE = Usage.STORAGE | Usage.COPY_SRC | Usage.COPY_DST;
const UNIFORM_ARENA_BYTES = 64 * 1024;

/** GPU runtime shared by the browser and Node: pipelines, buffers, dispatch, errors. */
export class GpuContext {
  readonly limits: GPUSupportedLimits;
  readonly adapter: AdapterSummary;
  readonly pool: BufferPool;
  /** Resolves when the device is lost (destroyed, driver reset, ...). */
  readonly lost: Promise<GPUDeviceLostInfo>;
  private lostInfo: GPUDeviceLostInfo | null = null;
  private readonly lostListeners = new Set<(info: GPUDeviceLostInfo) => void>();

  private readonly modules = new Map<string, GPUShaderModule>();
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private compileCount = 0;
  private dispatches = 0;

  private encoder: GPUCommandEncoder | null = null;
  private profiler: KernelProfiler | null = null;
  private profileReads: Promise<void> = Promise.resolve();
  private encodedKernels: string[] = [];
  private readonly pendingErrors: Promise<KernelError | null>[] = [];

  // Uniforms of every dispatch since the last flush live in one buffer at 256-byte
  // aligned offsets, written with one writeBuffer just before the submit that reads them.
  private readonly uniformArena: GPUBuffer;
  private readonly uniformStaging = new Uint8Array(UNIFORM_ARENA_BYTES);
  private uniformOffset = 0;
  private readonly uniformAlign: number;

  /**
   * A zeroed 16-byte storage buffer outside the pool, bound where a kernel declares an
   * operand that a dispatch does not read (WebGPU wants every declared binding bound).
   */
  readonly placeholder: GpuTensor;

  constructor(
    readonly device: GPUDevice,
    adapterInfo: GPUAdapterInfo,
    adapterFeatures: ReadonlySet<string>,
    private readonly shaders: ShaderLibrary,
    isFallbackAdapter = false,
  ) {
    this.limits = device.limits;
    this.adapter = describeAdapter(adapterInfo, device.limits, adapterFeatures, isFallbackAdapter);
    this.pool = new BufferPool(device);
    this.uniformAlign = device.limits.minUniformBufferOffsetAlignment;
    this.uniformArena = device.createBuffer({
      size: UNIFORM_ARENA_BYTES,
      usage: Usage.UNIFORM | Usage.COPY_DST,
      label: 'uniform-arena',
    });
    this.placeholder = {
      buffer: device.createBuffer({ size: 16, usage: STORAGE, label: 'placeholder' }),
      shape: [4],
      dtype: 'f32',
      size: 4,
    };
    device.addEventListener('uncapturederror', (ev) => {
      const err = (ev as GPUUncapturedErrorEvent).error;
      this.pendingErrors.push(Promise.resolve(new KernelError('(uncaptured)', err.message)));
    });
    this.lost = device.lost.then((info) => {
      this.lostInfo = info;
      for (const fn of this.lostListeners) fn(info);
      return info;
    });
  }

  /** Registers a handler for device loss; returns a function that removes it. */
  onDeviceLost(fn: (info: GPUDeviceLostInfo) => void): () => void {
    if (this.lostInfo) queueMicrotask(() => fn(this.lostInfo!));
    this.lostListeners.add(fn);
    return () => this.lostListeners.delete(fn);
  }

  get isLost(): boolean {
    return this.lostInfo !== null;
  }

  /** Compute dispatches recorded on this context so far (per-step counts are differences). */
  get dispatchCount(): number {
    return this.dispatches;
  }

  /** How many pipelines were compiled on this device (each variant once). */
  get pipelinesCompiled(): number {
    return this.compileCount;
  }

  // ---------------------------------------------------------------- tensors

  /** Allocates a pooled tensor; its contents are undefined until written. */
  empty(shape: readonly number[], dtype: DType = 'f32', label = 'tensor'): GpuTensor {
    this.assertAlive();
    const size = sizeOf(shape);
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new ShapeError('empty', `bad shape ${shapeToString(shape)}`);
    }
    const bytes = Math.max(4, size * 4);
    if (bytes > this.limits.maxStorageBufferBindingSize) {
      throw new ShapeError(
        label,
        `tensor ${shapeToString(shape)} needs ${bytes} bytes, over this device's maxStorageBufferBindingSize ` +
          `of ${this.limits.maxStorageBufferBindingSize}`,
      );
    }
    const buffer = this.pool.acquire(bytes, STORAGE, label);
    return { buffer, shape: [...shape], dtype, size };
  }

  /** Uploads host data into a new tensor of the given shape. */
  upload(data: HostArray | readonly number[], shape: readonly number[], dtype?: DType, label = 'upload'): GpuTensor {
    const dt: DType = dtype ?? (data instanceof Uint32Array ? 'u32' : data instanceof Int32Array ? 'i32' : 'f32');
    const n = sizeOf(shape);
    if (data.length !== n) {
      throw new ShapeError(label, `data has ${data.length} elements but shape ${shapeToString(shape)} needs ${n}`);
    }
    const t = this.empty(shape, dt, label);
    this.write(t, data);
    return t;
  }

  /** Overwrites a tensor's contents from the host. */
  write(t: GpuTensor, data: HostArray | readonly number[]): void {
    if (data.length !== t.size) {
      throw new ShapeError('write', `data has ${data.length} elements, tensor ${shapeToString(t.shape)} has ${t.size}`);
    }
    // A queued write would overtake dispatches still sitting in the open encoder.
    this.flush();
    const arr = ArrayBuffer.isView(data) ? data : hostArrayFor(t.dtype, data.length);
    if (!ArrayBuffer.isView(data)) (arr as Float32Array).set(data as number[]);
    if (arr.byteLength > 0) this.device.queue.writeBuffer(t.buffer, 0, arr.buffer, arr.byteOffset, arr.byteLength);
  }

  /** A new tensor of zeros, cleared on the GPU (no host array, whatever the size). */
  zeros(shape: readonly number[], dtype: DType = 'f32', label = 'zeros'): GpuTensor {
    const t = this.empty(shape, dtype, label);
    if (t.size > 0) this.commandEncoder().clearBuffer(t.buffer, 0, t.size * 4);
    return t;
  }

  /** A new tensor with the same contents, copied on the GPU in queue order. */
  clone(t: GpuTensor, label = 'clone'): GpuTensor {
    const out = this.empty(t.shape, t.dtype, label);
    if (t.size > 0) this.commandEncoder().copyBufferToBuffer(t.buffer, 0, out.buffer, 0, t.size * 4);
    return out;
  }

  /**
   * Copies `count` elements of `src` from element `srcOffset` into `dst` at `dstOffset`, on
   * the GPU in queue order (a copy command, not a dispatch): how adapter pairs are stacked
   * for the multi-adapter kernels and their gradients taken apart again.
   */
  copy(src: GpuTensor, dst: GpuTensor, range: { srcOffset?: number; dstOffset?: number; count?: number } = {}): void {
    const { srcOffset = 0, dstOffset = 0 } = range;
    const count = range.count ?? src.size - srcOffset;
    const ok = (n: number) => Number.isInteger(n) && n >= 0;
    if (!ok(srcOffset) || !ok(dstOffset) || !ok(count) || srcOffset + count > src.size || dstOffset + count > dst.size) {
      throw new ShapeError(
        'copy',
        `elements [${srcOffset}, ${srcOffset + count}) of a ${src.size}-element tensor into [${dstOffset}, ${dstOffset + count}) ` +
          `of a ${dst.size}-element one: out of range`,
      );
    }
    if (src.dtype !== dst.dtype) throw new ShapeError('copy', `dtypes differ: ${src.dtype} into ${dst.dtype}`);
    if (count === 0) return;
    if (src.buffer === dst.buffer) throw new ShapeError('copy', 'source and destination are the same buffer');
    this.commandEncoder().copyBufferToBuffer(src.buffer, srcOffset * 4, dst.buffer, dstOffset * 4, count * 4);
  }

  /** Fills a tensor with one value (tests poison outputs with NaN this way). */
  fill(t: GpuTensor, value: number): void {
    const arr = hostArrayFor(t.dtype, t.size);
    arr.fill(value);
    this.write(t, arr);
  }

  /** Reads a tensor back; also surfaces any GPU error raised since the last check. */
  async read(t: GpuTensor): Promise<HostArray> {
    this.assertAlive();
    const bytes = t.size * 4;
    const out = hostArrayFor(t.dtype, t.size);
    if (bytes === 0) return out;
    const staging = this.pool.acquire(bytes, Usage.MAP_READ | Usage.COPY_DST, 'readback');
    this.commandEncoder().copyBufferToBuffer(t.buffer, 0, staging, 0, bytes);
    this.flush();
    try {
      await staging.mapAsync(MAP_READ_MODE, 0, bytes);
      new Uint8Array(out.buffer).set(new Uint8Array(staging.getMappedRange(0, bytes)));
      staging.unmap();
    } finally {
      this.pool.release(staging);
    }
    await this.checkErrors();
    return out;
  }

  async readF32(t: GpuTensor): Promise<Float32Array> {
    if (t.dtype !== 'f32') throw new ShapeError('readF32', `tensor is ${t.dtype}`);
    return (await this.read(t)) as Float32Array;
  }

  release(...tensors: GpuTensor[]): void {
    for (const t of tensors) this.pool.release(t.buffer);
  }

  poolStats(): PoolStats {
    return this.pool.stats();
  }

  // ---------------------------------------------------------------- kernels

  /** The compiled pipeline for a kernel variant, compiling it on first use only. */
  pipeline(spec: KernelSpec): GPUComputePipeline {
    const key = pipelineKey(spec);
    let p = this.pipelines.get(key);
    if (p) return p;
    this.assertAlive();
    const module = this.module(spec);
    this.device.pushErrorScope('validation');
    p = this.device.createComputePipeline({
      label: spec.name,
      layout: 'auto',
      compute: { module, entryPoint: spec.entryPoint ?? 'main', constants: numericConstants(spec.constants) },
    });
    this.trackScope(spec.name, 'compiling pipeline');
    this.pipelines.set(key, p);
    this.compileCount++;
    return p;
  }

  /** Records one dispatch into the open command encoder (submitted by flush or read). */
  dispatch(spec: KernelSpec, args: DispatchArgs): void {
    this.assertAlive();
    const [x, y = 1, z = 1] = args.workgroups;
    const maxDim = this.limits.maxComputeWorkgroupsPerDimension;
    for (const d of [x, y, z]) {
      if (!Number.isInteger(d) || d < 0 || d > maxDim) {
        throw new ShapeError(spec.name, `workgroup count ${d} outside 0..${maxDim} (grid [${x}, ${y}, ${z}])`);
      }
    }
    if (x * y * z === 0) return;
    const pipeline = this.pipeline(spec);
    const entries: GPUBindGroupEntry[] = [];
    if (args.params) {
      const size = args.params.byteLength;
      if (this.uniformOffset + size > UNIFORM_ARENA_BYTES) this.flush();
      const offset = this.uniformOffset;
      this.uniformStaging.set(args.params, offset);
      this.uniformOffset = Math.ceil((offset + size) / this.uniformAlign) * this.uniformAlign;
      entries.push({ binding: 0, resource: { buffer: this.uniformArena, offset, size } });
    }
    args.buffers.forEach((b, i) => {
      const buffer = 'buffer' in b ? b.buffer : b;
      entries.push({ binding: i + 1, resource: { buffer } });
    });
    this.device.pushErrorScope('validation');
    const bindGroup = this.device.createBindGroup({ label: spec.name, layout: pipeline.getBindGroupLayout(0), entries });
    this.trackScope(spec.name, 'binding buffers');
    if (this.profiler && this.profiler.pending >= 2048) this.flush();
    const pass = this.commandEncoder().beginComputePass({
      label: spec.name,
      timestampWrites: this.profiler?.passTimestamps(spec.name),
    });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    pass.end();
    this.encodedKernels.push(spec.name);
    this.dispatches++;
  }

  /** Submits everything recorded so far. Cheap when nothing is pending. */
  flush(): void {
    if (!this.encoder) return;
    if (this.uniformOffset > 0) {
      this.device.queue.writeBuffer(this.uniformArena, 0, this.uniformStaging.buffer, 0, this.uniformOffset);
    }
    const kernels = this.encodedKernels;
    const profiled = this.profiler?.encodeResolve(this.encoder);
    this.device.pushErrorScope('validation');
    const cmd = this.encoder.finish();
    this.device.queue.submit([cmd]);
    if (this.profiler && profiled) {
      const p = this.profiler;
      this.profileReads = this.profileReads.then(() => p.collect(profiled));
    }
    this.trackScope(summarise(kernels), 'submitting');
    this.encoder = null;
    this.encodedKernels = [];
    this.uniformOffset = 0;
  }

  /**
   * Starts timing every dispatch on the GPU (needs the 'timestamp-query' feature); returns
   * false where the adapter lacks it. `profileReport()` gives the totals.
   */
  startProfiling(): boolean {
    if (!this.device.features.has('timestamp-query')) return false;
    this.flush();
    this.profiler ??= new KernelProfiler(this.device);
    return true;
  }

  /** GPU milliseconds per kernel name since profiling started, longest first. */
  async profileReport(): Promise<Array<{ kernel: string; ms: number; count: number }>> {
    this.flush();
    await this.profileReads;
    return this.profiler?.report() ?? [];
  }

  /** Waits for all submitted work and throws the first GPU error since the last check. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    await this.checkErrors();
  }

  destroy(): void {
    this.pool.destroyAll();
    this.placeholder.buffer.destroy();
    this.uniformArena.destroy();
    this.device.destroy();
  }

  // ---------------------------------------------------------------- internals

  private module(spec: KernelSpec): GPUShaderModule {
    let m = this.modules.get(spec.shader);
    if (m) return m;
    const code = this.shaders.source(spec.shader);
    this.device.pushErrorScope('validation');
    m = this.device.createShaderModule({ label: spec.shader, code });
    const file = `shaders/${spec.shader}.wgsl`;
    // Dawn reports positions as ":line:col"; name the file so the message points somewhere.
    this.trackScope(spec.name, `compiling ${file}`, (msg) => msg.replace(/(^|\s):(\d+):(\d+)/g, `$1${file}:$2:$3`));
    this.pendingErrors.push(
      m.getCompilationInfo().then((info) => {
        const errors = info.messages.filter((msg) => msg.type === 'error');
        if (errors.length === 0) return null;
        const text = errors.map((e) => `${file}:${e.lineNum}:${e.linePos}: ${e.message}`).join('\n');
        return new KernelError(spec.name, text);
      }),
    );
    this.modules.set(spec.shader, m);
    return m;
  }

  private commandEncoder(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder({ label: 'continual-lab' });
    return this.encoder;
  }

  private trackScope(kernel: string, during: string, rewrite: (msg: string) => string = (m) => m): void {
    this.pendingErrors.push(
      this.device
        .popErrorScope()
        .then((err) => (err ? new KernelError(kernel, `${during}: ${rewrite(err.message)}`) : null)),
    );
  }

  private async checkErrors(): Promise<void> {
    const pending = this.pendingErrors.splice(0);
    const results = await Promise.all(pending);
    const first = results.find((e) => e !== null);
    if (first) throw first;
  }

  private assertAlive(): void {
    if (this.lostInfo) {
      throw new GpuUnavailableError(`GPU device was lost (${this.lostInfo.reason}): ${this.lostInfo.message}`);
    }
  }
}

// WGSL bool overrides are set with numbers through the API (Dawn rejects JS booleans).
function numericConstants(c: KernelSpec['constants']): Record<string, number> | undefined {
  if (!c) return undefined;
  return Object.fromEntries(Object.entries(c).map(([k, v]) => [k, typeof v === 'boolean' ? Number(v) : v]));
}

function pipelineKey(spec: KernelSpec): string {
  const c = spec.constants ? Object.entries(spec.constants).sort(([a], [b]) => (a < b ? -1 : 1)) : [];
  return `${spec.shader}#${spec.entryPoint ?? 'main'}#${JSON.stringify(c)}`;
}

function summarise(kernels: string[]): string {
  const unique = [...new Set(kernels)];
  return unique.length <= 4 ? unique.join(', ') : `${unique.slice(0, 4).join(', ')} and ${unique.length - 4} more`;
}


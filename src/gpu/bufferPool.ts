/**
 * Reuses GPU buffers by (usage, size class). Allocation sizes are rounded up to a size
 * class so that a training step that frees and re-allocates tensors of the same shapes
 * touches no allocator after its first iteration.
 *
 * Safety of reuse: all work reaches the GPU through one queue in submission order, so a
 * buffer released after a dispatch is encoded may be handed to a later dispatch at once.
 * The one hazard, a queue.writeBuffer overtaking an encoder that is not yet submitted, is
 * handled by GpuContext (it flushes before uploading).
 */
export interface PoolStats {
  /** Buffers handed out and not yet released. */
  live: number;
  /** Bytes in buffers handed out and not yet released. */
  liveBytes: number;
  /** Buffers kept for reuse. */
  pooled: number;
  /** Bytes in buffers kept for reuse (live + pooled bytes is what the pool holds on the GPU). */
  pooledBytes: number;
  /** Buffers ever created (a pool that works stops this growing). */
  created: number;
}

export function sizeClass(bytes: number): number {
  const min = 256;
  if (bytes <= min) return min;
  // Powers of two up to 1 MiB, then 1/8 steps of the power of two: waste at most 12.5%.
  const p = 2 ** Math.ceil(Math.log2(bytes));
  if (p <= 1 << 20) return p;
  const step = p / 16;
  return Math.ceil(bytes / step) * step;
}

export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private readonly liveSet = new Set<GPUBuffer>();
  private liveBytesTotal = 0;
  private createdCount = 0;

  constructor(private readonly device: GPUDevice) {}

  acquire(bytes: number, usage: GPUBufferUsageFlags, label = 'pooled'): GPUBuffer {
    const size = sizeClass(bytes);
    const key = `${usage}:${size}`;
    const list = this.free.get(key);
    let buffer = list?.pop();
    if (!buffer) {
      buffer = this.device.createBuffer({ size, usage, label });
      this.createdCount++;
    }
    this.liveSet.add(buffer);
    this.liveBytesTotal += buffer.size;
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    if (!this.liveSet.delete(buffer)) {
      throw new Error(`BufferPool.release: buffer "${buffer.label}" is not live (double release?)`);
    }
    this.liveBytesTotal -= buffer.size;
    const key = `${buffer.usage}:${buffer.size}`;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push(buffer);
  }

  stats(): PoolStats {
    let pooled = 0;
    let pooledBytes = 0;
    for (const list of this.free.values()) {
      pooled += list.length;
      for (const b of list) pooledBytes += b.size;
    }
    return { live: this.liveSet.size, liveBytes: this.liveBytesTotal, pooled, pooledBytes, created: this.createdCount };
  }

  /** Frees the buffers kept for reuse (live ones stay). */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
  }

  destroyAll(): void {
    this.trim();
    for (const b of this.liveSet) b.destroy();
    this.liveSet.clear();
    this.liveBytesTotal = 0;
  }
}

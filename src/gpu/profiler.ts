/**
 * GPU time per kernel from timestamp queries (where the adapter has 'timestamp-query'):
 * each compute pass writes a begin and an end timestamp; totals are summed by kernel name
 * when resolved. Used by benchmarks and to find hot spots, never by the training path.
 */
export class KernelProfiler {
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuffer: GPUBuffer;
  private names: string[] = [];
  readonly totals = new Map<string, { ms: number; count: number }>();

  constructor(
    private readonly device: GPUDevice,
    private readonly capacity = 2048,
  ) {
    this.querySet = device.createQuerySet({ type: 'timestamp', count: capacity * 2 });
    this.resolveBuffer = device.createBuffer({ size: capacity * 16, usage: 0x200 | 0x4 }); // QUERY_RESOLVE | COPY_SRC
  }

  /** Timestamp writes for the next pass, or undefined when this batch is full. */
  passTimestamps(kernel: string): GPUComputePassTimestampWrites | undefined {
    if (this.names.length >= this.capacity) return undefined;
    const i = this.names.length;
    this.names.push(kernel);
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  get pending(): number {
    return this.names.length;
  }

  /**
   * Adds resolve commands for the passes recorded so far to `encoder`, into a read buffer
   * of their own (a shared one could still be mapped by the previous collect).
   */
  encodeResolve(encoder: GPUCommandEncoder): { names: string[]; buffer: GPUBuffer | null } {
    const names = this.names;
    this.names = [];
    if (names.length === 0) return { names, buffer: null };
    const buffer = this.device.createBuffer({ size: names.length * 16, usage: 0x1 | 0x8 }); // MAP_READ | COPY_DST
    encoder.resolveQuerySet(this.querySet, 0, names.length * 2, this.resolveBuffer, 0);
    encoder.copyBufferToBuffer(this.resolveBuffer, 0, buffer, 0, names.length * 16);
    return { names, buffer };
  }

  /** Reads back what encodeResolve copied (after its submit) and adds it to the totals. */
  async collect({ names, buffer }: { names: string[]; buffer: GPUBuffer | null }): Promise<void> {
    if (!buffer) return;
    await buffer.mapAsync(0x1);
    const t = new BigUint64Array(buffer.getMappedRange().slice(0));
    buffer.destroy();
    names.forEach((n, i) => {
      const ms = Number(t[2 * i + 1] - t[2 * i]) / 1e6;
      const e = this.totals.get(n) ?? { ms: 0, count: 0 };
      e.ms += Math.max(0, ms);
      e.count++;
      this.totals.set(n, e);
    });
  }

  /** Kernels by total time, longest first. */
  report(): Array<{ kernel: string; ms: number; count: number }> {
    return [...this.totals].map(([kernel, v]) => ({ kernel, ...v })).sort((a, b) => b.ms - a.ms);
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolveBuffer.destroy();
  }
}

/**
 * Packs a kernel's uniform parameters in WGSL struct order. Every field here is a 4-byte
 * scalar, so a struct of scalars has no padding and the order of calls is the layout.
 */
export class Params {
  private readonly view: DataView;
  private offset = 0;
  constructor(capacityBytes = 64) {
    this.view = new DataView(new ArrayBuffer(capacityBytes));
  }
  u32(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`Params.u32: ${v} is not a u32`);
    this.view.setUint32(this.offset, v, true);
    this.offset += 4;
    return this;
  }
  i32(v: number): this {
    this.view.setInt32(this.offset, v, true);
    this.offset += 4;
    return this;
  }
  f32(v: number): this {
    this.view.setFloat32(this.offset, v, true);
    this.offset += 4;
    return this;
  }
  /** The packed bytes, padded to 16 (uniform structs are 16-byte aligned in size). */
  bytes(): Uint8Array {
    const size = Math.max(16, Math.ceil(this.offset / 16) * 16);
    return new Uint8Array(this.view.buffer, 0, size);
  }
}

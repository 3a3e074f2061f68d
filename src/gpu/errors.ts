/** A GPU error attributed to the kernel whose dispatch or compilation raised it. */
export class KernelError extends Error {
  constructor(
    readonly kernel: string,
    detail: string,
  ) {
    super(`kernel "${kernel}": ${detail}`);
    this.name = 'KernelError';
  }
}

/** Bad arguments to a kernel wrapper, caught on the host before anything reaches the GPU. */
export class ShapeError extends Error {
  constructor(kernel: string, detail: string) {
    super(`${kernel}: ${detail}`);
    this.name = 'ShapeError';
  }
}

/** No usable WebGPU adapter; the message says what to install or enable. */
export class GpuUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GpuUnavailableError';
  }
}

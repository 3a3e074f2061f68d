import type { GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import { grid1d } from '../gpu/grid';
import { Params } from '../gpu/params';
import type { GpuTensor } from '../gpu/tensor';
import { expectDType } from './check';

const WG = 256;
/** Each stage-1 thread sums at least this many squares... */
const MIN_PER_THREAD = 64;
/** ...and a tensor gets at most this many threads (and partial sums). */
const MAX_THREADS = 4096;

const PARTIAL = { name: 'grad_norm_partial', shader: 'grad_norm', entryPoint: 'partial', constants: { WG } };
const FINISH = { name: 'grad_norm_finish', shader: 'grad_norm', entryPoint: 'finish', constants: { WG } };

function threadsFor(n: number): number {
  return Math.max(1, Math.min(MAX_THREADS, Math.ceil(n / MIN_PER_THREAD)));
}

/**
 * Global L2 norm sqrt(sum over all tensors of sum g^2), computed and kept on the GPU:
 * returns a new f32 [1] tensor (read it asynchronously for display; release it after).
 * Two fixed-order stages, so the value is reproducible.
 */
export function gradNorm(ctx: GpuContext, grads: readonly GpuTensor[], out?: GpuTensor): GpuTensor {
  const k = 'gradNorm';
  if (grads.length === 0) throw new ShapeError(k, 'needs at least one gradient tensor');
  grads.forEach((g, i) => expectDType(k, `grads[${i}]`, g, 'f32'));
  if (new Set(grads.map((g) => g.buffer)).size !== grads.length) {
    throw new ShapeError(k, 'the same gradient buffer is listed twice (it would be counted, and scaled, twice)');
  }
  const norm = out ?? ctx.empty([1], 'f32', 'gradNorm.norm');
  if (norm.shape.length !== 1 || norm.shape[0] !== 1) throw new ShapeError(k, `out must be [1], got [${norm.shape.join(', ')}]`);
  expectDType(k, 'out', norm, 'f32');
  if (grads.some((g) => g.buffer === norm.buffer)) throw new ShapeError(k, 'out may not share a buffer with a gradient');
  const total = grads.reduce((s, g) => s + threadsFor(g.size), 0);
  const partials = ctx.empty([total], 'f32', 'gradNorm.partials');
  let offset = 0;
  for (const g of grads) {
    const threads = threadsFor(g.size);
    ctx.dispatch(PARTIAL, {
      params: new Params().u32(g.size).u32(threads).u32(offset).bytes(),
      buffers: [g, partials],
      workgroups: grid1d(ctx, threads, WG),
    });
    offset += threads;
  }
  ctx.dispatch(FINISH, {
    params: new Params().u32(total).u32(0).u32(0).bytes(),
    buffers: [partials, norm],
    workgroups: [1],
  });
  // Safe right away: the pool only hands the buffer to work queued after these dispatches.
  ctx.release(partials);
  return norm;
}

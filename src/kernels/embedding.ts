import type { GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import { grid1d } from '../gpu/grid';
import { Params } from '../gpu/params';
import type { GpuTensor } from '../gpu/tensor';
import { expectDType, expectPositiveInt, expectRank, expectShape } from './check';
import { expectNoAlias, expectOutput } from './check';

const WG = 256;
const gather = (accumulate: boolean) => ({
  name: accumulate ? 'embedding_add' : 'embedding',
  shader: 'embedding',
  // Bool overrides take 0 / 1: pipeline constants are numbers in WebGPU.
  constants: { WG, ACCUMULATE: accumulate ? 1 : 0 },
});
const LINK = { name: 'embedding_backward_link', shader: 'embedding_backward', entryPoint: 'link_tokens', constants: { WG: 64 } };
const SCATTER = { name: 'embedding_backward_scatter', shader: 'embedding_backward', entryPoint: 'scatter', constants: { WG } };

export interface EmbeddingOptions {
  out?: GpuTensor;
  /** Add the looked-up rows into `out` (which must then be given) instead of overwriting. */
  accumulate?: boolean;
}

/**
 * Row gather: out[..., c] = table[ids[...], c]. ids u32 of any shape (e.g. [B, S] or
 * [T]); table f32 [V, C]; out f32 [...ids.shape, C]. Ids >= V give zero rows (checked on
 * the GPU: ids never come back to the host). For learned positions pass positionIds().
 */
export function embedding(ctx: GpuContext, ids: GpuTensor, table: GpuTensor, opts: EmbeddingOptions = {}): GpuTensor {
  expectDType('embedding', 'ids', ids, 'u32');
  expectDType('embedding', 'table', table, 'f32');
  expectRank('embedding', 'table', table, 2);
  const [V, C] = table.shape;
  if (V < 1 || C < 1) throw new ShapeError('embedding', `table has an empty dimension: [${V}, ${C}]`);
  const outShape = [...ids.shape, C];
  if (opts.accumulate && !opts.out) throw new ShapeError('embedding', 'accumulate needs an existing out tensor');
  expectOutput('embedding', 'out', opts.out, outShape, { ids, table });
  const out = opts.out ?? ctx.empty(outShape, 'f32', 'embedding.out');
  ctx.dispatch(gather(opts.accumulate ?? false), {
    params: new Params().u32(out.size).u32(C).u32(V).bytes(),
    buffers: [ids, table, out],
    workgroups: grid1d(ctx, out.size, WG),
  });
  return out;
}

/**
 * dtable[v, c] += sum of dout[t, c] over tokens t with ids[t] == v (accumulates into the
 * existing gradient: zero it first for a fresh one). ids u32 [...]; dout f32
 * [...ids.shape, C]; dtable f32 [V, C]. Deterministic: no atomics, fixed summation order
 * (see shaders/embedding_backward.wgsl). Out-of-range ids contribute nothing.
 */
export function embeddingBackward(ctx: GpuContext, ids: GpuTensor, dout: GpuTensor, dtable: GpuTensor): void {
  expectDType('embeddingBackward', 'ids', ids, 'u32');
  expectDType('embeddingBackward', 'dtable', dtable, 'f32');
  expectRank('embeddingBackward', 'dtable', dtable, 2);
  const [V, C] = dtable.shape;
  if (V < 1 || C < 1) throw new ShapeError('embeddingBackward', `dtable has an empty dimension: [${V}, ${C}]`);
  expectShape('embeddingBackward', 'dout', dout, [...ids.shape, C]);
  expectDType('embeddingBackward', 'dout', dout, 'f32');
  expectNoAlias('embeddingBackward', { dtable }, { ids, dout });
  const T = ids.size;
  if (T === 0) return;
  const chain = ctx.empty([T], 'u32', 'embedding.chain');
  const params = new Params().u32(T).u32(C).u32(V).bytes();
  ctx.dispatch(LINK, { params, buffers: [ids, chain], workgroups: grid1d(ctx, T, 64) });
  ctx.dispatch(SCATTER, { params, buffers: [ids, chain, dout, dtable], workgroups: grid1d(ctx, T * C, WG) });
  // Safe right away: the pool only hands the buffer to work queued after these dispatches.
  ctx.release(chain);
}

/**
 * Position ids for learned positional embeddings: u32 [batch, seq] holding
 * offset, offset + 1, ..., offset + seq - 1 in every row. Build once per shape and reuse.
 */
export function positionIds(ctx: GpuContext, batch: number, seq: number, offset = 0): GpuTensor {
  expectPositiveInt('positionIds', 'batch', batch);
  expectPositiveInt('positionIds', 'seq', seq);
  if (!Number.isInteger(offset) || offset < 0) {
    throw new ShapeError('positionIds', `offset must be a non-negative integer, got ${offset}`);
  }
  const ids = new Uint32Array(batch * seq);
  for (let b = 0; b < batch; b++) for (let s = 0; s < seq; s++) ids[b * seq + s] = offset + s;
  return ctx.upload(ids, [batch, seq], 'u32', 'positionIds');
}

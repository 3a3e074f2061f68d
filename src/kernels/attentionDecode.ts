import type { GpuContext, KernelSpec } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import { grid1d } from '../gpu/grid';
import { Params } from '../gpu/params';
import { shapeToString, type GpuTensor } from '../gpu/tensor';
import { ROWS_MAX_HEAD_DIM } from './attention';
import { expectDType, expectFinite, expectNoAlias, expectOutput, expectPositiveInt, expectRank, expectShape } from './check';

// Kernels of one KV-cache inference step (shaders/attention_decode.wgsl):
//   qkv      (B, S, 3C) or (B*S, 3C)  c_attn's output for S new tokens per row, C = H*D
//   kCache, vCache  (B, H, Tmax, D)   keys / values of every time written so far
//   pos      u32 (B)                  cache time of each row's first new token; rows may
//                                      differ (prompts of different lengths)
//   q        (B, H, S, D)             the new queries (from appendKv)
//   out      (B, S, H*D)              attention output, token-major (c_proj's input)
// pos lives on the GPU, so the host cannot check pos[b] + S <= Tmax here: the caller
// (src/model/kvCache.ts) tracks lengths; the kernels only refuse to write past Tmax.

const WG = 64;
const LOG2E = Math.LOG2E;
/** Largest head size the attend kernel's register arrays hold. */
export const DECODE_MAX_HEAD_DIM = ROWS_MAX_HEAD_DIM;

function spec(entryPoint: string, D = 1): KernelSpec {
  return { name: `attention_decode.${entryPoint}`, shader: 'attention_decode', entryPoint, constants: { WG, D } };
}

function expectCache(kernel: string, kCache: GpuTensor, vCache: GpuTensor): [number, number, number, number] {
  expectDType(kernel, 'kCache', kCache, 'f32');
  expectRank(kernel, 'kCache', kCache, 4);
  const [B, H, Tmax, D] = kCache.shape;
  if (B === 0 || H === 0 || Tmax === 0 || D === 0) {
    throw new ShapeError(kernel, `kCache has an empty shape ${shapeToString(kCache.shape)}`);
  }
  if (D > DECODE_MAX_HEAD_DIM) throw new ShapeError(kernel, `head size D=${D} is over the maximum of ${DECODE_MAX_HEAD_DIM}`);
  expectDType(kernel, 'vCache', vCache, 'f32');
  expectShape(kernel, 'vCache', vCache, kCache.shape);
  if (kCache.buffer === vCache.buffer) throw new ShapeError(kernel, 'kCache may not share a buffer with vCache');
  return [B, H, Tmax, D];
}

function expectPos(kernel: string, pos: GpuTensor, B: number): void {
  expectDType(kernel, 'pos', pos, 'u32');
  expectShape(kernel, 'pos', pos, [B]);
}

/**
 * Writes the k and v parts of qkv for S new tokens into the caches at times
 * pos[b] .. pos[b]+S-1 and returns the new queries q (B, H, S, D) (into `opts.q` if given).
 */
export function appendKv(
  ctx: GpuContext,
  qkv: GpuTensor,
  kCache: GpuTensor,
  vCache: GpuTensor,
  pos: GpuTensor,
  S: number,
  opts: { q?: GpuTensor } = {},
): GpuTensor {
  const K = 'appendKv';
  const [B, H, Tmax, D] = expectCache(K, kCache, vCache);
  expectPositiveInt(K, 'S', S);
  if (S > Tmax) throw new ShapeError(K, `S=${S} new tokens do not fit a cache of ${Tmax} times`);
  expectPos(K, pos, B);
  expectDType(K, 'qkv', qkv, 'f32');
  const width = 3 * H * D;
  const s = qkv.shape;
  const ok = (s.length === 3 && s[0] === B && s[1] === S && s[2] === width) || (s.length === 2 && s[0] === B * S && s[1] === width);
  if (!ok) {
    throw new ShapeError(K, `qkv has shape ${shapeToString(s)}, expected ${shapeToString([B, S, width])} or ${shapeToString([B * S, width])}`);
  }
  const qShape = [B, H, S, D];
  expectOutput(K, 'q', opts.q, qShape, { qkv, pos, kCache, vCache });
  expectNoAlias(K, { kCache, vCache }, { qkv, pos });
  const q = opts.q ?? ctx.empty(qShape, 'f32', 'appendKv.q');
  const n = B * H * S * D;
  ctx.dispatch(spec('append_kv', D), {
    params: new Params().u32(n).u32(H).u32(S).u32(Tmax).f32(0).bytes(),
    buffers: [qkv, pos, kCache, vCache, q],
    workgroups: grid1d(ctx, n, WG),
  });
  return q;
}

/**
 * Causal attention of S new queries per row over the cache: query s of row b (time
 * pos[b] + s) attends to cached times 0..pos[b]+s, which must already be written (run
 * appendKv first). Returns out (B, S, H*D), token-major, ready for the output projection.
 */
export function attentionDecode(
  ctx: GpuContext,
  q: GpuTensor,
  kCache: GpuTensor,
  vCache: GpuTensor,
  pos: GpuTensor,
  opts: { scale?: number; out?: GpuTensor } = {},
): GpuTensor {
  const K = 'attentionDecode';
  const [B, H, Tmax, D] = expectCache(K, kCache, vCache);
  expectPos(K, pos, B);
  expectDType(K, 'q', q, 'f32');
  expectRank(K, 'q', q, 4);
  const S = q.shape[2];
  expectShape(K, 'q', q, [B, H, S, D]);
  if (S === 0) throw new ShapeError(K, 'q has no positions');
  if (S > Tmax) throw new ShapeError(K, `S=${S} queries do not fit a cache of ${Tmax} times`);
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  expectFinite(K, 'scale', scale);
  const outShape = [B, S, H * D];
  expectOutput(K, 'out', opts.out, outShape, { q, kCache, vCache, pos });
  const out = opts.out ?? ctx.empty(outShape, 'f32', 'attentionDecode.out');
  const rows = B * H * S;
  ctx.dispatch(spec('attend', D), {
    params: new Params().u32(rows).u32(H).u32(S).u32(Tmax).f32(scale * LOG2E).bytes(),
    buffers: [q, pos, kCache, vCache, out],
    workgroups: grid1d(ctx, rows, WG),
  });
  return out;
}

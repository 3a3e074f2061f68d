import type { GptConfig } from '../model/config';
import { attentionForwardRef } from './attention';
import { crossEntropyRef } from './crossEntropy';
import { embeddingRef } from './embedding';
import { geluRef } from './gelu';
import { mergeHeadsRef, splitQkvRef } from './heads';
import { layerNormRef } from './layernorm';
import { matmulRef } from './matmul';

/**
 * An adapter's contribution to one projection: given the projection's name
 * ("transformer.h.0.attn.c_attn") and its input x [rows, K], the delta [rows, N] to add to
 * x W + b, or null for none.
 */
export type ProjectionDeltaRef = (name: string, x: Float64Array, rows: number, K: number) => Float64Array | null;

/**
 * Float64 GPT-2 forward on the CPU from Hugging Face-named weights: the oracle the GPU
 * model is checked against. ids are [B, T] row-major; returns logits [B*T, vocab].
 * `delta` adds adapters that cannot be merged into the weights (per-token gates).
 */
export function gptForwardRef(
  config: GptConfig,
  w: ReadonlyMap<string, Float64Array>,
  ids: ArrayLike<number>,
  B: number,
  T: number,
  delta?: ProjectionDeltaRef,
): Float64Array {
  const C = config.n_embd;
  const H = config.n_head;
  const V = config.vocab_size;
  const eps = config.layer_norm_epsilon;
  const get = (n: string) => {
    const t = w.get(`transformer.${n}`);
    if (!t) throw new Error(`gptForwardRef: missing transformer.${n}`);
    return t;
  };
  const R = B * T;
  const positions = Array.from({ length: R }, (_, i) => i % T);
  const x = embeddingRef(ids, get('wte.weight'), V, C);
  const pos = embeddingRef(positions, get('wpe.weight'), config.n_positions, C);
  for (let i = 0; i < x.length; i++) x[i] += pos[i];

  const linear = (a: Float64Array, K: number, name: string) => {
    const W = get(`${name}.weight`);
    const b = get(`${name}.bias`);
    const N = b.length;
    const y = matmulRef(a, [R, K], W, [K, N]);
    for (let i = 0; i < y.length; i++) y[i] += b[i % N];
    const d = delta?.(`transformer.${name}`, a, R, K);
    if (d) for (let i = 0; i < y.length; i++) y[i] += d[i];
    return y;
  };
  const addInto = (dst: Float64Array, src: Float64Array) => {
    for (let i = 0; i < dst.length; i++) dst[i] += src[i];
  };

  for (let l = 0; l < config.n_layer; l++) {
    const p = `h.${l}`;
    const ln1 = layerNormRef(x, get(`${p}.ln_1.weight`), get(`${p}.ln_1.bias`), R, C, eps).y;
    const qkv = linear(ln1, C, `${p}.attn.c_attn`);
    const { q, k, v } = splitQkvRef(qkv, B, T, H, C / H);
    const att = mergeHeadsRef(attentionForwardRef(q, k, v, B, H, T, C / H).out, B, H, T, C / H);
    addInto(x, linear(att, C, `${p}.attn.c_proj`));
    const ln2 = layerNormRef(x, get(`${p}.ln_2.weight`), get(`${p}.ln_2.bias`), R, C, eps).y;
    const hidden = get(`${p}.mlp.c_fc.bias`).length;
    const up = geluRef(linear(ln2, C, `${p}.mlp.c_fc`));
    addInto(x, linear(up, hidden, `${p}.mlp.c_proj`));
  }
  const xf = layerNormRef(x, get('ln_f.weight'), get('ln_f.bias'), R, C, eps).y;
  return matmulRef(xf, [R, C], get('wte.weight'), [V, C], { transB: true });
}

/** Mean masked next-token cross-entropy of the reference forward (the training loss). */
export function gptLossRef(
  config: GptConfig,
  w: ReadonlyMap<string, Float64Array>,
  ids: ArrayLike<number>,
  targets: ArrayLike<number>,
  mask: ArrayLike<number>,
  B: number,
  T: number,
  delta?: ProjectionDeltaRef,
): number {
  const logits = gptForwardRef(config, w, ids, B, T, delta);
  return crossEntropyRef(logits, targets, mask, B * T, config.vocab_size).mean;
}

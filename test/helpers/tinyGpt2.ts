/**
 * A tiny random GPT-2 checkpoint in exactly the files Hugging Face's save_pretrained writes
 * (config.json with GPT2Config's fields, model.safetensors with GPT2LMHeadModel's names,
 * Conv1D weights [in, out], no lm_head.weight when tied), so the loader is tested against
 * the format a user downloads, not against our own writer.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expectedGpt2Tensors, TRANSFORMER_PREFIX } from '../../src/checkpoint/gpt2Checkpoint';
import { type SafetensorsInput, writeSafetensors } from '../../src/checkpoint/safetensors';
import { type GptConfig, gptConfigToJson, makeGptConfig } from '../../src/model/config';
import { normal, rng } from '../../src/util/random';

export interface TinyGpt2Options {
  seed: number;
  n_layer: number;
  n_head: number;
  n_embd: number;
  vocab_size: number;
  n_positions: number;
  n_inner?: number | null;
  /** Modern files prefix parameter names with `transformer.`; gpt2 / distilgpt2 do not. Default true. */
  withPrefix?: boolean;
  /** Add the causal-mask buffers `h.{i}.attn.bias` / `h.{i}.attn.masked_bias` older files carry. Default false. */
  withMaskBuffers?: boolean;
  /** false writes a separate random `lm_head.weight`. Default true. */
  tie_word_embeddings?: boolean;
}

export interface TinyGpt2Checkpoint {
  config: GptConfig;
  /** Canonical name (with `transformer.`) -> values, as written. */
  weights: Map<string, Float32Array>;
  configJson: string;
  safetensors: Uint8Array;
}

// Fields transformers writes for every GPT2Config that the engine does not use.
const SAVE_PRETRAINED_EXTRAS = {
  reorder_and_upcast_attn: false,
  scale_attn_by_inverse_layer_idx: false,
  scale_attn_weights: true,
  summary_activation: null,
  summary_first_dropout: 0.1,
  summary_proj_to_labels: true,
  summary_type: 'cls_index',
  summary_use_proj: true,
  torch_dtype: 'float32',
  transformers_version: '4.46.3',
  use_cache: true,
};

/** The checkpoint's two files in memory, with seeded random weights. */
export function makeTinyGpt2Checkpoint(opts: TinyGpt2Options): TinyGpt2Checkpoint {
  const config = makeGptConfig(
    {
      vocab_size: opts.vocab_size,
      n_positions: opts.n_positions,
      n_embd: opts.n_embd,
      n_layer: opts.n_layer,
      n_head: opts.n_head,
      n_inner: opts.n_inner ?? null,
      bos_token_id: opts.vocab_size - 1,
      eos_token_id: opts.vocab_size - 1,
      tie_word_embeddings: opts.tie_word_embeddings ?? true,
      extra: { ...SAVE_PRETRAINED_EXTRAS },
    },
    'tiny GPT-2 options',
  );
  const random = rng(opts.seed);
  const weights = new Map<string, Float32Array>();
  const shapes = new Map<string, number[]>();
  for (const spec of expectedGpt2Tensors(config)) {
    shapes.set(spec.name, spec.shape);
    const n = spec.shape.reduce((a, b) => a * b, 1);
    // Values well away from an identity init (LayerNorm gains near 1 but not 1, nonzero
    // biases), so a tensor loaded into the wrong slot or transposed changes the outputs.
    let values: Float32Array;
    if (/ln_(1|2|f)\.weight$/.test(spec.name)) values = normal(n, random, 0.1).map((v) => 1 + v);
    else if (spec.name.endsWith('.bias')) values = normal(n, random, 0.05);
    else values = normal(n, random, 0.1);
    weights.set(spec.name, values);
  }

  const withPrefix = opts.withPrefix ?? true;
  const stored = (canonical: string) => (withPrefix || !canonical.startsWith(TRANSFORMER_PREFIX) ? canonical : canonical.slice(TRANSFORMER_PREFIX.length));
  const inputs: SafetensorsInput[] = [...weights].map(([name, data]) => ({ name: stored(name), shape: shapes.get(name)!, data }));
  if (opts.withMaskBuffers) {
    const T = config.n_positions;
    const mask = new Float32Array(T * T);
    for (let r = 0; r < T; r++) for (let c = 0; c <= r; c++) mask[r * T + c] = 1;
    for (let i = 0; i < config.n_layer; i++) {
      inputs.push({ name: stored(`${TRANSFORMER_PREFIX}h.${i}.attn.bias`), shape: [1, 1, T, T], data: mask });
      inputs.push({ name: stored(`${TRANSFORMER_PREFIX}h.${i}.attn.masked_bias`), shape: [], data: new Float32Array([-1e4]) });
    }
  }
  return { config, weights, configJson: gptConfigToJson(config), safetensors: writeSafetensors(inputs, { format: 'pt' }) };
}

/** Writes config.json and model.safetensors into `dir` (created if needed). */
export async function writeTinyGpt2Checkpoint(dir: string, opts: TinyGpt2Options): Promise<TinyGpt2Checkpoint> {
  const ckpt = makeTinyGpt2Checkpoint(opts);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.json'), ckpt.configJson);
  await writeFile(join(dir, 'model.safetensors'), ckpt.safetensors);
  return ckpt;
}

/**
 * GPT-2 checkpoints in Hugging Face's layout: `config.json` (GPT2Config) plus
 * `model.safetensors` with GPT2LMHeadModel's tensor names. The linear layers are GPT-2's
 * Conv1D, whose weight is stored [in, out] (the transpose of torch.nn.Linear), so
 * `h.{i}.attn.c_attn.weight` is [n_embd, 3 * n_embd] with q, k, v side by side along the
 * output axis.
 *
 * Files in the wild differ in two harmless ways that loading accepts: older ones (gpt2,
 * distilgpt2) drop the `transformer.` prefix, and some carry the causal-mask buffers
 * `h.{i}.attn.bias` / `h.{i}.attn.masked_bias`, which are constants and are skipped.
 */
import { type GptConfig, gptConfigToJson, mlpWidth, parseGptConfig, validateGptConfig } from '../model/config';
import {
  CheckpointError,
  FLOAT_DTYPES,
  elementCount,
  formatShape,
  readSafetensors,
  tensorToFloat32,
  writeSafetensors,
  type SafetensorsTensor,
} from './safetensors';

export { CheckpointError } from './safetensors';
export { ConfigError } from '../model/config';

export const TRANSFORMER_PREFIX = 'transformer.';
export const LM_HEAD = 'lm_head.weight';

export interface Gpt2TensorSpec {
  /** Canonical name, with the `transformer.` prefix. */
  name: string;
  shape: number[];
  /** The shape in words, for error messages. */
  dims: string;
}

/** Every parameter of GPT2LMHeadModel with this config, in model order; no lm_head when tied. */
export function expectedGpt2Tensors(config: GptConfig): Gpt2TensorSpec[] {
  const d = config.n_embd;
  const h = mlpWidth(config);
  const t = TRANSFORMER_PREFIX;
  const specs: Gpt2TensorSpec[] = [
    { name: `${t}wte.weight`, shape: [config.vocab_size, d], dims: '[vocab_size, n_embd]' },
    { name: `${t}wpe.weight`, shape: [config.n_positions, d], dims: '[n_positions, n_embd]' },
  ];
  for (let i = 0; i < config.n_layer; i++) {
    const p = `${t}h.${i}.`;
    specs.push(
      { name: `${p}ln_1.weight`, shape: [d], dims: '[n_embd]' },
      { name: `${p}ln_1.bias`, shape: [d], dims: '[n_embd]' },
      { name: `${p}attn.c_attn.weight`, shape: [d, 3 * d], dims: '[n_embd, 3*n_embd], Conv1D [in, out]' },
      { name: `${p}attn.c_attn.bias`, shape: [3 * d], dims: '[3*n_embd]' },
      { name: `${p}attn.c_proj.weight`, shape: [d, d], dims: '[n_embd, n_embd], Conv1D [in, out]' },
      { name: `${p}attn.c_proj.bias`, shape: [d], dims: '[n_embd]' },
      { name: `${p}ln_2.weight`, shape: [d], dims: '[n_embd]' },
      { name: `${p}ln_2.bias`, shape: [d], dims: '[n_embd]' },
      { name: `${p}mlp.c_fc.weight`, shape: [d, h], dims: '[n_embd, n_inner], Conv1D [in, out]' },
      { name: `${p}mlp.c_fc.bias`, shape: [h], dims: '[n_inner]' },
      { name: `${p}mlp.c_proj.weight`, shape: [h, d], dims: '[n_inner, n_embd], Conv1D [in, out]' },
      { name: `${p}mlp.c_proj.bias`, shape: [d], dims: '[n_embd]' },
    );
  }
  specs.push(
    { name: `${t}ln_f.weight`, shape: [d], dims: '[n_embd]' },
    { name: `${t}ln_f.bias`, shape: [d], dims: '[n_embd]' },
  );
  if (!config.tie_word_embeddings) specs.push({ name: LM_HEAD, shape: [config.vocab_size, d], dims: '[vocab_size, n_embd]' });
  return specs;
}

/** Causal-mask buffers that some files carry; constants, not parameters. */
const MASK_BUFFER = /^(transformer\.)?h\.\d+\.attn\.(bias|masked_bias)$/;

export interface Gpt2FileNames {
  config?: string;
  weights?: string;
}

export interface LoadedGpt2Checkpoint {
  config: GptConfig;
  /** Canonical name -> values, in expectedGpt2Tensors order. */
  tensors: Map<string, Float32Array>;
  /** Things that did not stop the load (extra tensors, an untied copy of a tied head). */
  warnings: string[];
  /** Whether the file used the `transformer.` prefix. */
  prefixed: boolean;
  /** Dtype each tensor was stored in (F16 / BF16 files are widened to F32). */
  sourceDtypes: Map<string, string>;
}

/**
 * Loads a Hugging Face GPT-2 checkpoint from its two files' contents. Every problem with
 * the weights is collected and reported at once, each naming the tensor and what was
 * expected, so fixing a converted file takes one round.
 */
export function loadGpt2Checkpoint(
  configJsonText: string,
  safetensorsBytes: Uint8Array | ArrayBuffer,
  fileNames: Gpt2FileNames = {},
): LoadedGpt2Checkpoint {
  const configName = fileNames.config ?? 'config.json';
  const weightsName = fileNames.weights ?? 'model.safetensors';
  const config = parseGptConfig(configJsonText, configName);
  const file = readSafetensors(safetensorsBytes, weightsName);

  const warnings: string[] = [];
  const problems: string[] = [];
  // Canonical name -> the entry as stored, whichever spelling the file used.
  const byCanonical = new Map<string, SafetensorsTensor>();
  let prefixed = false;
  for (const [name, entry] of file.tensors) {
    if (MASK_BUFFER.test(name)) continue;
    const canonical = name === LM_HEAD || name.startsWith(TRANSFORMER_PREFIX) ? name : TRANSFORMER_PREFIX + name;
    if (name.startsWith(TRANSFORMER_PREFIX)) prefixed = true;
    const other = byCanonical.get(canonical);
    if (other) {
      problems.push(`tensors "${other.name}" and "${name}" are the same parameter spelled with and without the "${TRANSFORMER_PREFIX}" prefix`);
      continue;
    }
    byCanonical.set(canonical, entry);
  }

  const specs = expectedGpt2Tensors(config);
  const tensors = new Map<string, Float32Array>();
  const sourceDtypes = new Map<string, string>();
  for (const spec of specs) {
    const entry = byCanonical.get(spec.name);
    byCanonical.delete(spec.name);
    if (!entry) {
      const also = spec.name.startsWith(TRANSFORMER_PREFIX) ? ` (or "${spec.name.slice(TRANSFORMER_PREFIX.length)}")` : '';
      const why = spec.name === LM_HEAD ? ' because config has tie_word_embeddings = false' : '';
      problems.push(`tensor "${spec.name}"${also} is missing${why}; expected shape ${formatShape(spec.shape)} ${spec.dims}`);
      continue;
    }
    const entryOk = checkEntry(entry, spec.shape, spec.dims, problems);
    if (entryOk) {
      tensors.set(spec.name, tensorToFloat32(entry, weightsName));
      sourceDtypes.set(spec.name, entry.dtype);
    }
  }

  const head = byCanonical.get(LM_HEAD);
  if (head && config.tie_word_embeddings) {
    byCanonical.delete(LM_HEAD);
    const wte = tensors.get(`${TRANSFORMER_PREFIX}wte.weight`);
    const shape = [config.vocab_size, config.n_embd];
    if (checkEntry(head, shape, '[vocab_size, n_embd]', problems) && wte && !sameBits(tensorToFloat32(head, weightsName), wte)) {
      warnings.push(
        `tensor "${LM_HEAD}" differs from the token embedding, but config has tie_word_embeddings = true: it is ignored and the embedding is used as the output projection`,
      );
    }
  }
  for (const [, entry] of byCanonical) {
    warnings.push(`ignored unexpected tensor "${entry.name}" (${entry.dtype} ${formatShape(entry.shape)})`);
  }

  if (problems.length > 0) {
    const list = problems.length === 1 ? problems[0] : `${problems.length} problems:\n  - ${problems.join('\n  - ')}`;
    throw new CheckpointError(`${weightsName} does not match ${configName} (GPT-2, n_layer=${config.n_layer}, n_embd=${config.n_embd}, vocab_size=${config.vocab_size}): ${list}`);
  }
  return { config, tensors, warnings, prefixed, sourceDtypes };
}

function checkEntry(entry: SafetensorsTensor, shape: number[], dims: string, problems: string[]): boolean {
  let ok = true;
  if (!FLOAT_DTYPES.includes(entry.dtype)) {
    problems.push(`tensor "${entry.name}" has dtype ${entry.dtype}, expected F32 (or ${FLOAT_DTYPES.filter((d) => d !== 'F32').join(', ')})`);
    ok = false;
  }
  if (!sameShape(entry.shape, shape)) {
    const transposed = shape.length === 2 && sameShape(entry.shape, [shape[1], shape[0]]);
    const hint = transposed ? ' (it looks transposed: GPT-2 Conv1D weights are stored [in, out], not nn.Linear\'s [out, in])' : '';
    problems.push(`tensor "${entry.name}" has shape ${formatShape(entry.shape)}, expected ${formatShape(shape)} ${dims}${hint}`);
    ok = false;
  }
  return ok;
}

export interface SavedGpt2Checkpoint {
  configJson: string;
  safetensors: Uint8Array;
}

/**
 * Writes canonical Hugging Face names, like save_pretrained: `transformer.` prefix, F32,
 * metadata {"format": "pt"}, and no `lm_head.weight` when it is tied to the embedding.
 */
export function saveGpt2Checkpoint(config: GptConfig, tensors: ReadonlyMap<string, Float32Array>): SavedGpt2Checkpoint {
  validateGptConfig(config);
  const specs = expectedGpt2Tensors(config);
  const expected = new Set(specs.map((s) => s.name));
  const problems: string[] = [];
  for (const spec of specs) {
    const data = tensors.get(spec.name);
    const n = elementCount(spec.shape);
    if (!data) problems.push(`tensor "${spec.name}" is missing; expected ${n} values for shape ${formatShape(spec.shape)} ${spec.dims}`);
    else if (data.length !== n) problems.push(`tensor "${spec.name}" has ${data.length} values, expected ${n} for shape ${formatShape(spec.shape)} ${spec.dims}`);
  }
  for (const name of tensors.keys()) {
    // A tied head is the embedding itself; writing it would duplicate the largest tensor.
    if (!expected.has(name) && !(name === LM_HEAD && config.tie_word_embeddings)) {
      problems.push(`tensor "${name}" is not a GPT-2 parameter for this config`);
    }
  }
  if (problems.length > 0) throw new CheckpointError(`saving GPT-2 checkpoint: ${problems.join('; ')}`);
  const safetensors = writeSafetensors(
    specs.map((s) => ({ name: s.name, shape: s.shape, data: tensors.get(s.name)! })),
    { format: 'pt' },
  );
  return { configJson: gptConfigToJson(config), safetensors };
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}


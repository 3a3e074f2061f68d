/**
 * GPT model configuration, spelled with the field names of Hugging Face's GPT2Config so that
 * a `config.json` written by `save_pretrained` loads unchanged and ours loads in transformers.
 * Settings that are the lab's own live under `continual_lab`, which transformers keeps as an
 * opaque attribute.
 */

/** Activations the engine computes: all three names denote the tanh approximation of GELU. */
export const SUPPORTED_ACTIVATIONS = ['gelu_new', 'gelu_pytorch_tanh', 'gelu_fast'] as const;
export type GptActivation = (typeof SUPPORTED_ACTIVATIONS)[number];

export const TOKENIZER_KINDS = ['bytes', 'gpt2-bpe'] as const;
export type TokenizerKind = (typeof TOKENIZER_KINDS)[number];

/** The lab's own settings, stored in config.json under the key `continual_lab`. */
export interface ContinualLabSettings {
  tokenizer: TokenizerKind;
}

export interface GptConfig {
  model_type: 'gpt2';
  architectures: string[];
  vocab_size: number;
  /** Longest sequence the learned position table covers. */
  n_positions: number;
  n_embd: number;
  n_layer: number;
  n_head: number;
  /** MLP hidden width; null means 4 * n_embd, as in GPT2Config. */
  n_inner: number | null;
  activation_function: GptActivation;
  layer_norm_epsilon: number;
  resid_pdrop: number;
  embd_pdrop: number;
  attn_pdrop: number;
  initializer_range: number;
  bos_token_id: number | null;
  eos_token_id: number | null;
  tie_word_embeddings: boolean;
  continual_lab?: ContinualLabSettings;
  /**
   * Fields of a loaded config.json that the engine does not use (n_ctx, task_specific_params,
   * torch_dtype ...), kept so that saving a loaded checkpoint does not lose them.
   */
  extra?: Record<string, unknown>;
}

/** GPT2Config's defaults (the 124M-parameter `gpt2`). */
export const GPT2_DEFAULTS: Readonly<GptConfig> = Object.freeze({
  model_type: 'gpt2',
  architectures: ['GPT2LMHeadModel'],
  vocab_size: 50257,
  n_positions: 1024,
  n_embd: 768,
  n_layer: 12,
  n_head: 12,
  n_inner: null,
  activation_function: 'gelu_new',
  layer_norm_epsilon: 1e-5,
  resid_pdrop: 0.1,
  embd_pdrop: 0.1,
  attn_pdrop: 0.1,
  initializer_range: 0.02,
  bos_token_id: 50256,
  eos_token_id: 50256,
  tie_word_embeddings: true,
}) as GptConfig;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** A config from GPT2Config's defaults and the given fields, validated. */
export function makeGptConfig(fields: Partial<GptConfig>, source = 'GPT config'): GptConfig {
  const config: GptConfig = { ...GPT2_DEFAULTS, architectures: [...GPT2_DEFAULTS.architectures], ...fields };
  validateGptConfig(config, source);
  return config;
}

/** Width of the MLP's hidden layer. */
export function mlpWidth(config: GptConfig): number {
  return config.n_inner ?? 4 * config.n_embd;
}

export function headDim(config: GptConfig): number {
  return config.n_embd / config.n_head;
}

export interface GptParameterCount {
  /** Token and position tables. */
  embeddings: number;
  perLayer: number;
  /** The final LayerNorm. */
  final: number;
  /** A separate output projection; 0 when tied to the token embedding. */
  lmHead: number;
  total: number;
}

/** Parameters of a GPT-2 model with this config (gpt2: 124,439,808). */
export function gptParameterCount(config: GptConfig): GptParameterCount {
  const d = config.n_embd;
  const h = mlpWidth(config);
  const embeddings = config.vocab_size * d + config.n_positions * d;
  const layerNorms = 2 * (2 * d);
  const attention = d * 3 * d + 3 * d + d * d + d;
  const mlp = d * h + h + h * d + d;
  const perLayer = layerNorms + attention + mlp;
  const final = 2 * d;
  const lmHead = config.tie_word_embeddings ? 0 : config.vocab_size * d;
  return { embeddings, perLayer, final, lmHead, total: embeddings + config.n_layer * perLayer + final + lmHead };
}

// Fields of GPT2Config that, set away from their defaults, would change the forward pass in a
// way the engine does not implement; refusing them beats silently computing another model.
const UNSUPPORTED_VALUES: ReadonlyArray<[field: string, expected: unknown, why: string]> = [
  ['scale_attn_weights', true, 'attention scores are always scaled by 1/sqrt(head_dim)'],
  ['scale_attn_by_inverse_layer_idx', false, 'per-layer attention scaling is not implemented'],
  ['add_cross_attention', false, 'encoder-decoder cross-attention is not implemented'],
  ['is_encoder_decoder', false, 'encoder-decoder models are not supported'],
];

const KNOWN_FIELDS = new Set<string>([
  'model_type',
  'architectures',
  'vocab_size',
  'n_positions',
  'n_embd',
  'n_layer',
  'n_head',
  'n_inner',
  'activation_function',
  'layer_norm_epsilon',
  'resid_pdrop',
  'embd_pdrop',
  'attn_pdrop',
  'initializer_range',
  'bos_token_id',
  'eos_token_id',
  'tie_word_embeddings',
  'continual_lab',
]);

const REQUIRED_SIZES = ['vocab_size', 'n_positions', 'n_embd', 'n_layer', 'n_head'] as const;

/**
 * Parses a Hugging Face GPT-2 `config.json`. Absent optional fields take GPT2Config's
 * defaults, as transformers does; the five size fields are required because save_pretrained
 * always writes them and a missing one means a wrong file.
 */
export function parseGptConfig(jsonText: string, fileName = 'config.json'): GptConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(jsonText);
  } catch (e) {
    throw new ConfigError(`${fileName}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(`${fileName}: expected a JSON object with GPT2Config fields, got ${describe(raw)}`);
  }
  const obj = raw as Record<string, unknown>;
  const fail = (field: string, what: string): never => {
    throw new ConfigError(`${fileName}: field "${field}" ${what}`);
  };

  if ('model_type' in obj && obj.model_type !== 'gpt2') {
    fail('model_type', `is ${describe(obj.model_type)}, expected "gpt2" (only GPT-2 architecture checkpoints are supported)`);
  }
  for (const field of REQUIRED_SIZES) {
    if (!(field in obj)) fail(field, 'is missing (a positive integer is required)');
  }
  for (const [field, expected, why] of UNSUPPORTED_VALUES) {
    if (field in obj && obj[field] !== expected) {
      fail(field, `is ${describe(obj[field])}, expected ${JSON.stringify(expected)}: ${why}`);
    }
  }

  const config: GptConfig = { ...GPT2_DEFAULTS, architectures: [...GPT2_DEFAULTS.architectures] };
  const c = config as unknown as Record<string, unknown>;
  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(obj)) {
    if (KNOWN_FIELDS.has(key)) c[key] = value;
    else extra[key] = value;
  }
  if ('architectures' in obj && obj.architectures === null) config.architectures = [];
  if ('continual_lab' in obj && obj.continual_lab !== undefined) {
    config.continual_lab = parseLabSettings(obj.continual_lab, fail);
  }
  if (Object.keys(extra).length > 0) config.extra = extra;
  validateGptConfig(config, fileName);
  return config;
}

function parseLabSettings(value: unknown, fail: (field: string, what: string) => never): ContinualLabSettings {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail('continual_lab', `is ${describe(value)}, expected an object such as {"tokenizer": "bytes"}`);
  }
  const v = value as Record<string, unknown>;
  const tokenizer = v.tokenizer ?? 'bytes';
  if (!(TOKENIZER_KINDS as readonly unknown[]).includes(tokenizer)) {
    fail('continual_lab.tokenizer', `is ${describe(tokenizer)}, expected one of ${TOKENIZER_KINDS.map((k) => `"${k}"`).join(', ')}`);
  }
  return { ...v, tokenizer: tokenizer as TokenizerKind };
}

/** Throws a ConfigError naming `source` and the first bad field. */
export function validateGptConfig(config: GptConfig, source = 'GPT config'): void {
  const fail = (field: string, what: string): never => {
    throw new ConfigError(`${source}: field "${field}" ${what}`);
  };
  const c = config as unknown as Record<string, unknown>;
  if (config.model_type !== 'gpt2') fail('model_type', `is ${describe(config.model_type)}, expected "gpt2"`);
  if (!Array.isArray(config.architectures) || !config.architectures.every((a) => typeof a === 'string')) {
    fail('architectures', `is ${describe(config.architectures)}, expected a list of class names such as ["GPT2LMHeadModel"]`);
  }
  for (const field of REQUIRED_SIZES) {
    const v = c[field];
    if (!isPositiveInteger(v)) fail(field, `is ${describe(v)}, expected a positive integer`);
  }
  if (config.n_inner !== null && !isPositiveInteger(config.n_inner)) {
    fail('n_inner', `is ${describe(config.n_inner)}, expected a positive integer or null (null means 4 * n_embd)`);
  }
  if (config.n_embd % config.n_head !== 0) {
    fail('n_head', `is ${config.n_head}, which does not divide n_embd = ${config.n_embd}`);
  }
  if (!(SUPPORTED_ACTIVATIONS as readonly unknown[]).includes(config.activation_function)) {
    fail(
      'activation_function',
      `is ${describe(config.activation_function)}, expected one of ${SUPPORTED_ACTIVATIONS.map((a) => `"${a}"`).join(', ')} (tanh-approximated GELU)`,
    );
  }
  const eps = config.layer_norm_epsilon;
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps <= 0) {
    fail('layer_norm_epsilon', `is ${describe(eps)}, expected a positive number such as 1e-5`);
  }
  for (const field of ['resid_pdrop', 'embd_pdrop', 'attn_pdrop'] as const) {
    const p = config[field];
    if (typeof p !== 'number' || !(p >= 0 && p < 1)) fail(field, `is ${describe(p)}, expected a probability in [0, 1)`);
  }
  const init = config.initializer_range;
  if (typeof init !== 'number' || !Number.isFinite(init) || init <= 0) {
    fail('initializer_range', `is ${describe(init)}, expected a positive number such as 0.02`);
  }
  for (const field of ['bos_token_id', 'eos_token_id'] as const) {
    const id = config[field];
    if (id === null) continue;
    if (!Number.isInteger(id) || id < 0 || id >= config.vocab_size) {
      fail(field, `is ${describe(id)}, expected null or a token id in [0, ${config.vocab_size}) (vocab_size = ${config.vocab_size})`);
    }
  }
  if (typeof config.tie_word_embeddings !== 'boolean') {
    fail('tie_word_embeddings', `is ${describe(config.tie_word_embeddings)}, expected true or false`);
  }
  if (config.continual_lab !== undefined && !(TOKENIZER_KINDS as readonly unknown[]).includes(config.continual_lab.tokenizer)) {
    fail('continual_lab.tokenizer', `is ${describe(config.continual_lab.tokenizer)}, expected one of ${TOKENIZER_KINDS.join(', ')}`);
  }
}

/**
 * config.json text as save_pretrained lays it out (keys sorted, two-space indent, final
 * newline), so that diffs against a transformers-written file stay small.
 */
export function gptConfigToJson(config: GptConfig): string {
  validateGptConfig(config);
  const out: Record<string, unknown> = { ...(config.extra ?? {}) };
  for (const key of KNOWN_FIELDS) {
    const value = (config as unknown as Record<string, unknown>)[key];
    if (value !== undefined) out[key] = value;
  }
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(out).sort()) sorted[key] = out[key];
  return JSON.stringify(sorted, null, 2) + '\n';
}

function isPositiveInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
}

function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `a list ${truncate(JSON.stringify(v))}`;
  if (v === null) return 'null';
  if (typeof v === 'object') return `an object ${truncate(JSON.stringify(v))}`;
  return String(v);
}

function truncate(s: string): string {
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CheckpointError,
  expectedGpt2Tensors,
  loadGpt2Checkpoint,
  saveGpt2Checkpoint,
} from '../../src/checkpoint/gpt2Checkpoint';
import { loadGpt2CheckpointDir, saveGpt2CheckpointDir } from '../../src/checkpoint/gpt2CheckpointNode';
import { readSafetensors, type SafetensorsInput, tensorToFloat32, writeSafetensors } from '../../src/checkpoint/safetensors';
import {
  ConfigError,
  GPT2_DEFAULTS,
  gptConfigToJson,
  gptParameterCount,
  makeGptConfig,
  mlpWidth,
  parseGptConfig,
} from '../../src/model/config';
import { makeTinyGpt2Checkpoint, type TinyGpt2Options, writeTinyGpt2Checkpoint } from '../helpers/tinyGpt2';

// The config.json published with the `gpt2` model on Hugging Face.
const GPT2_CONFIG_JSON = `{
  "activation_function": "gelu_new",
  "architectures": ["GPT2LMHeadModel"],
  "attn_pdrop": 0.1,
  "bos_token_id": 50256,
  "embd_pdrop": 0.1,
  "eos_token_id": 50256,
  "initializer_range": 0.02,
  "layer_norm_epsilon": 1e-05,
  "model_type": "gpt2",
  "n_ctx": 1024,
  "n_embd": 768,
  "n_head": 12,
  "n_layer": 12,
  "n_positions": 1024,
  "resid_pdrop": 0.1,
  "summary_activation": null,
  "summary_first_dropout": 0.1,
  "summary_proj_to_labels": true,
  "summary_type": "cls_index",
  "summary_use_proj": true,
  "task_specific_params": {"text-generation": {"do_sample": true, "max_length": 50}},
  "vocab_size": 50257
}`;

const TINY: TinyGpt2Options = { seed: 3, n_layer: 2, n_head: 2, n_embd: 8, vocab_size: 11, n_positions: 6 };

function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

function configError(text: string, file = 'model/config.json'): string {
  try {
    parseGptConfig(text, file);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected parseGptConfig to throw');
}

/** The tiny checkpoint's tensors as stored, so a test can drop or alter some and rewrite the file. */
type RawTensor = Extract<SafetensorsInput, { bytes: Uint8Array }>;

function storedTensors(bytes: Uint8Array): RawTensor[] {
  return [...readSafetensors(bytes).tensors.values()].map((t) => ({ name: t.name, shape: t.shape, dtype: t.dtype, bytes: t.bytes }));
}

function loadError(configJson: string, tensors: SafetensorsInput[]): string {
  try {
    loadGpt2Checkpoint(configJson, writeSafetensors(tensors), { config: 'tiny/config.json', weights: 'tiny/model.safetensors' });
  } catch (e) {
    expect(e).toBeInstanceOf(CheckpointError);
    return (e as Error).message;
  }
  throw new Error('expected loadGpt2Checkpoint to throw');
}

describe('GPT config', () => {
  it('parses the published gpt2 config, keeping fields it does not use', () => {
    const c = parseGptConfig(GPT2_CONFIG_JSON);
    expect(c).toMatchObject({ vocab_size: 50257, n_positions: 1024, n_embd: 768, n_layer: 12, n_head: 12, n_inner: null });
    expect(c.tie_word_embeddings).toBe(true);
    expect(c.layer_norm_epsilon).toBe(1e-5);
    expect(mlpWidth(c)).toBe(3072);
    expect(c.extra?.n_ctx).toBe(1024);
    expect(c.extra?.task_specific_params).toEqual({ 'text-generation': { do_sample: true, max_length: 50 } });
    expect(JSON.parse(gptConfigToJson(c))).toEqual({ tie_word_embeddings: true, n_inner: null, ...JSON.parse(GPT2_CONFIG_JSON) });
  });

  it('counts parameters of gpt2 and distilgpt2', () => {
    expect(gptParameterCount(GPT2_DEFAULTS).total).toBe(124_439_808);
    expect(gptParameterCount(makeGptConfig({ n_layer: 6 })).total).toBe(81_912_576);
    const untied = makeGptConfig({ vocab_size: 10, n_positions: 4, n_embd: 4, n_layer: 1, n_head: 1, n_inner: 6, bos_token_id: null, eos_token_id: 9, tie_word_embeddings: false });
    const count = gptParameterCount(untied);
    expect(count.lmHead).toBe(40);
    // Brute force: the sum of the sizes of the tensors a checkpoint holds.
    const sizes = expectedGpt2Tensors(untied).map((s) => s.shape.reduce((a, b) => a * b, 1));
    expect(count.total).toBe(sizes.reduce((a, b) => a + b, 0));
  });

  it('writes config.json with sorted keys and our settings under their own key, and reads it back', () => {
    const c = makeGptConfig({ vocab_size: 261, n_positions: 128, n_embd: 64, n_layer: 2, n_head: 4, bos_token_id: 256, eos_token_id: 257, continual_lab: { tokenizer: 'bytes' } });
    const text = gptConfigToJson(c);
    expect(text.endsWith('}\n')).toBe(true);
    const keys = Object.keys(JSON.parse(text));
    expect(keys).toEqual([...keys].sort());
    expect(JSON.parse(text).continual_lab).toEqual({ tokenizer: 'bytes' });
    expect(parseGptConfig(text)).toEqual(c);
  });

  it('takes GPT2Config defaults for absent optional fields', () => {
    const c = parseGptConfig('{"vocab_size": 5, "n_positions": 4, "n_embd": 6, "n_layer": 1, "n_head": 3, "bos_token_id": 0, "eos_token_id": 4}');
    expect(c.activation_function).toBe('gelu_new');
    expect(c.layer_norm_epsilon).toBe(1e-5);
    expect(c.model_type).toBe('gpt2');
    expect(c.extra).toBeUndefined();
  });

  const base = { vocab_size: 16, n_positions: 8, n_embd: 12, n_layer: 1, n_head: 3, bos_token_id: 0, eos_token_id: 1 };
  const bad = (fields: Record<string, unknown>) => JSON.stringify({ ...base, ...fields });
  const F = 'model/config.json';
  const cases: Array<[string, string, string]> = [
    ['not JSON', '{"n_embd": 12,', `${F}: not valid JSON (`],
    ['not an object', '[1]', `${F}: expected a JSON object with GPT2Config fields, got a list [1]`],
    ['another architecture', bad({ model_type: 'llama' }), `${F}: field "model_type" is "llama", expected "gpt2" (only GPT-2 architecture checkpoints are supported)`],
    ['missing size', JSON.stringify({ ...base, n_embd: undefined }), `${F}: field "n_embd" is missing (a positive integer is required)`],
    ['zero heads', bad({ n_head: 0 }), `${F}: field "n_head" is 0, expected a positive integer`],
    ['fractional layers', bad({ n_layer: 1.5 }), `${F}: field "n_layer" is 1.5, expected a positive integer`],
    ['string size', bad({ vocab_size: '16' }), `${F}: field "vocab_size" is "16", expected a positive integer`],
    ['heads not dividing width', bad({ n_head: 5 }), `${F}: field "n_head" is 5, which does not divide n_embd = 12`],
    ['bad n_inner', bad({ n_inner: -4 }), `${F}: field "n_inner" is -4, expected a positive integer or null (null means 4 * n_embd)`],
    ['unsupported activation', bad({ activation_function: 'relu' }), `${F}: field "activation_function" is "relu", expected one of "gelu_new", "gelu_pytorch_tanh", "gelu_fast" (tanh-approximated GELU)`],
    ['negative epsilon', bad({ layer_norm_epsilon: -1 }), `${F}: field "layer_norm_epsilon" is -1, expected a positive number such as 1e-5`],
    ['dropout of 1', bad({ attn_pdrop: 1 }), `${F}: field "attn_pdrop" is 1, expected a probability in [0, 1)`],
    ['token id out of range', bad({ eos_token_id: 50256 }), `${F}: field "eos_token_id" is 50256, expected null or a token id in [0, 16) (vocab_size = 16)`],
    ['tie flag not boolean', bad({ tie_word_embeddings: 'yes' }), `${F}: field "tie_word_embeddings" is "yes", expected true or false`],
    ['per-layer attention scaling', bad({ scale_attn_by_inverse_layer_idx: true }), `${F}: field "scale_attn_by_inverse_layer_idx" is true, expected false: per-layer attention scaling is not implemented`],
    ['unknown tokenizer', bad({ continual_lab: { tokenizer: 'sentencepiece' } }), `${F}: field "continual_lab.tokenizer" is "sentencepiece", expected one of "bytes", "gpt2-bpe"`],
  ];
  for (const [what, text, message] of cases) {
    it(`refuses ${what}, naming the file and field`, () => {
      const got = configError(text, F);
      if (message.endsWith('(')) expect(got.startsWith(message)).toBe(true);
      else expect(got).toBe(message);
    });
  }
});

describe('GPT-2 tensor layout', () => {
  it('lists Hugging Face names and Conv1D [in, out] shapes', () => {
    const c = makeGptConfig({ vocab_size: 50, n_positions: 16, n_embd: 8, n_layer: 3, n_head: 2, n_inner: 20, bos_token_id: 0, eos_token_id: 0 });
    const specs = expectedGpt2Tensors(c);
    expect(specs.length).toBe(2 + 12 * 3 + 2);
    const shape = (name: string) => specs.find((s) => s.name === name)?.shape;
    expect(shape('transformer.wte.weight')).toEqual([50, 8]);
    expect(shape('transformer.wpe.weight')).toEqual([16, 8]);
    expect(shape('transformer.h.2.attn.c_attn.weight')).toEqual([8, 24]);
    expect(shape('transformer.h.2.attn.c_attn.bias')).toEqual([24]);
    expect(shape('transformer.h.0.attn.c_proj.weight')).toEqual([8, 8]);
    expect(shape('transformer.h.1.mlp.c_fc.weight')).toEqual([8, 20]);
    expect(shape('transformer.h.1.mlp.c_fc.bias')).toEqual([20]);
    expect(shape('transformer.h.1.mlp.c_proj.weight')).toEqual([20, 8]);
    expect(shape('transformer.ln_f.bias')).toEqual([8]);
    expect(shape('lm_head.weight')).toBeUndefined();
    expect(expectedGpt2Tensors({ ...c, tie_word_embeddings: false }).at(-1)).toMatchObject({ name: 'lm_head.weight', shape: [50, 8] });
  });
});

describe('loading Hugging Face GPT-2 checkpoints', () => {
  const dirs: string[] = [];
  const tempDir = async () => {
    const d = await mkdtemp(join(tmpdir(), 'gpt2-ckpt-'));
    dirs.push(d);
    return d;
  };
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  for (const variant of [
    { withPrefix: true, withMaskBuffers: false },
    { withPrefix: false, withMaskBuffers: false },
    { withPrefix: false, withMaskBuffers: true },
    { withPrefix: true, withMaskBuffers: true },
  ]) {
    it(`loads a tiny checkpoint folder bit-exactly (${JSON.stringify(variant)})`, async () => {
      const dir = await tempDir();
      const written = await writeTinyGpt2Checkpoint(dir, { ...TINY, ...variant });
      const loaded = await loadGpt2CheckpointDir(dir);
      expect(loaded.warnings).toEqual([]);
      expect(loaded.prefixed).toBe(variant.withPrefix);
      expect(loaded.config).toEqual(written.config);
      expect([...loaded.tensors.keys()]).toEqual(expectedGpt2Tensors(written.config).map((s) => s.name));
      for (const [name, values] of written.weights) expect(bits(loaded.tensors.get(name)!), name).toEqual(bits(values));
    });
  }

  it('writes the helper files the way save_pretrained does', () => {
    const plain = makeTinyGpt2Checkpoint({ ...TINY, withPrefix: false, withMaskBuffers: true });
    const file = readSafetensors(plain.safetensors);
    expect(file.metadata).toEqual({ format: 'pt' });
    const names = [...file.tensors.keys()];
    expect(names).toContain('wte.weight');
    expect(names).toContain('h.1.attn.masked_bias');
    expect(names).not.toContain('lm_head.weight');
    expect(names.some((n) => n.startsWith('transformer.'))).toBe(false);
    expect(file.tensors.get('h.0.attn.bias')!.shape).toEqual([1, 1, 6, 6]);
    const config = JSON.parse(plain.configJson);
    expect(config).toMatchObject({ model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], n_inner: null, activation_function: 'gelu_new', scale_attn_weights: true });
    // Different seeds give different weights; the same seed, the same file.
    expect(makeTinyGpt2Checkpoint({ ...TINY, withPrefix: false, withMaskBuffers: true }).safetensors).toEqual(plain.safetensors);
    expect(makeTinyGpt2Checkpoint({ ...TINY, seed: 4 }).safetensors).not.toEqual(makeTinyGpt2Checkpoint(TINY).safetensors);
  });

  it('saves canonical names, byte-identical to the save_pretrained-style file, and loads them back', async () => {
    const tiny = makeTinyGpt2Checkpoint(TINY);
    const saved = saveGpt2Checkpoint(tiny.config, tiny.weights);
    expect(saved.safetensors).toEqual(tiny.safetensors);
    expect(saved.configJson).toBe(tiny.configJson);
    const dir = await tempDir();
    await saveGpt2CheckpointDir(join(dir, 'nested'), tiny.config, tiny.weights);
    const loaded = await loadGpt2CheckpointDir(join(dir, 'nested'));
    for (const [name, values] of tiny.weights) expect(bits(loaded.tensors.get(name)!), name).toEqual(bits(values));
  });

  it('handles untied output projections', () => {
    const tiny = makeTinyGpt2Checkpoint({ ...TINY, tie_word_embeddings: false });
    const loaded = loadGpt2Checkpoint(tiny.configJson, tiny.safetensors);
    expect(bits(loaded.tensors.get('lm_head.weight')!)).toEqual(bits(tiny.weights.get('lm_head.weight')!));
    const withoutHead = storedTensors(tiny.safetensors).filter((t) => t.name !== 'lm_head.weight');
    expect(loadError(tiny.configJson, withoutHead)).toBe(
      'tiny/model.safetensors does not match tiny/config.json (GPT-2, n_layer=2, n_embd=8, vocab_size=11): tensor "lm_head.weight" is missing because config has tie_word_embeddings = false; expected shape [11, 8] [vocab_size, n_embd]',
    );
  });

  it('accepts a tied lm_head.weight copy and warns when it differs from the embedding', () => {
    const tiny = makeTinyGpt2Checkpoint(TINY);
    const wte = tiny.weights.get('transformer.wte.weight')!;
    const withHead = (data: Float32Array) => writeSafetensors([...storedTensors(tiny.safetensors), { name: 'lm_head.weight', shape: [11, 8], data }]);
    expect(loadGpt2Checkpoint(tiny.configJson, withHead(wte)).warnings).toEqual([]);
    const other = wte.map((v) => v + 1);
    expect(loadGpt2Checkpoint(tiny.configJson, withHead(other)).warnings).toEqual([
      'tensor "lm_head.weight" differs from the token embedding, but config has tie_word_embeddings = true: it is ignored and the embedding is used as the output projection',
    ]);
  });

  it('widens a BF16 checkpoint to F32', () => {
    const tiny = makeTinyGpt2Checkpoint(TINY);
    const bf16 = storedTensors(tiny.safetensors).map((t) => {
      const words = new Uint32Array(t.bytes.slice().buffer);
      const halves = Uint16Array.from(words, (w) => w >>> 16);
      return { name: t.name, shape: t.shape, dtype: 'BF16' as const, bytes: new Uint8Array(halves.buffer) };
    });
    const loaded = loadGpt2Checkpoint(tiny.configJson, writeSafetensors(bf16));
    const name = 'transformer.h.1.mlp.c_proj.weight';
    expect(loaded.sourceDtypes.get(name)).toBe('BF16');
    expect(bits(loaded.tensors.get(name)!)).toEqual(bits(tiny.weights.get(name)!).map((w) => w & 0xffff0000));
  });

  it('refuses a missing tensor, naming it and its expected shape', () => {
    const tiny = makeTinyGpt2Checkpoint({ ...TINY, withPrefix: false });
    const tensors = storedTensors(tiny.safetensors).filter((t) => t.name !== 'h.1.mlp.c_fc.bias');
    expect(loadError(tiny.configJson, tensors)).toBe(
      'tiny/model.safetensors does not match tiny/config.json (GPT-2, n_layer=2, n_embd=8, vocab_size=11): tensor "transformer.h.1.mlp.c_fc.bias" (or "h.1.mlp.c_fc.bias") is missing; expected shape [32] [n_inner]',
    );
  });

  it('refuses a wrong shape, and says when a Conv1D weight looks transposed', () => {
    const tiny = makeTinyGpt2Checkpoint(TINY);
    const transposed = storedTensors(tiny.safetensors).map((t) => (t.name === 'transformer.h.0.attn.c_attn.weight' ? { ...t, shape: [24, 8] } : t));
    expect(loadError(tiny.configJson, transposed)).toMatch(
      /: tensor "transformer\.h\.0\.attn\.c_attn\.weight" has shape \[24, 8\], expected \[8, 24\] \[n_embd, 3\*n_embd\], Conv1D \[in, out\] \(it looks transposed: GPT-2 Conv1D weights are stored \[in, out\], not nn\.Linear's \[out, in\]\)$/,
    );
    // A config that disagrees with the weights is caught the same way.
    const wider = gptConfigToJson({ ...tiny.config, vocab_size: 12 });
    expect(loadError(wider, storedTensors(tiny.safetensors))).toMatch(/tensor "transformer\.wte\.weight" has shape \[11, 8\], expected \[12, 8\] \[vocab_size, n_embd\]$/);
  });

  it('refuses a wrong dtype, naming the tensor', () => {
    const tiny = makeTinyGpt2Checkpoint(TINY);
    const ints = storedTensors(tiny.safetensors).map((t) => (t.name === 'transformer.ln_f.weight' ? { ...t, dtype: 'I32' as const } : t));
    expect(loadError(tiny.configJson, ints)).toMatch(/: tensor "transformer\.ln_f\.weight" has dtype I32, expected F32 \(or F16, BF16, F64\)$/);
  });

  it('lists every problem at once', () => {
    const tiny = makeTinyGpt2Checkpoint(TINY);
    const tensors = storedTensors(tiny.safetensors)
      .filter((t) => t.name !== 'transformer.wpe.weight')
      .map((t) => (t.name === 'transformer.ln_f.bias' ? { ...t, shape: [2, 4] } : t));
    const message = loadError(tiny.configJson, tensors);
    expect(message).toMatch(/: 2 problems:\n {2}- tensor "transformer\.wpe\.weight" \(or "wpe\.weight"\) is missing; expected shape \[6, 8\]/);
    expect(message).toMatch(/\n {2}- tensor "transformer\.ln_f\.bias" has shape \[2, 4\], expected \[8\] \[n_embd\]$/);
  });

  it('warns about unexpected tensors and refuses one parameter stored under both spellings', () => {
    const tiny = makeTinyGpt2Checkpoint(TINY);
    const extra = [...storedTensors(tiny.safetensors), { name: 'score.weight', shape: [2, 8], data: new Float32Array(16) }];
    expect(loadGpt2Checkpoint(tiny.configJson, writeSafetensors(extra)).warnings).toEqual(['ignored unexpected tensor "score.weight" (F32 [2, 8])']);
    const both = [...storedTensors(tiny.safetensors), { name: 'wpe.weight', shape: [6, 8], data: new Float32Array(48) }];
    expect(loadError(tiny.configJson, both)).toMatch(/tensors "transformer\.wpe\.weight" and "wpe\.weight" are the same parameter spelled with and without the "transformer\." prefix$/);
  });

  it('ignores mask buffers of any dtype', () => {
    const tiny = makeTinyGpt2Checkpoint(TINY);
    const tensors = [...storedTensors(tiny.safetensors), { name: 'transformer.h.0.attn.bias', shape: [1, 1, 6, 6], dtype: 'BOOL' as const, bytes: new Uint8Array(36) }];
    const loaded = loadGpt2Checkpoint(tiny.configJson, writeSafetensors(tensors));
    expect(loaded.warnings).toEqual([]);
    expect(loaded.tensors.size).toBe(expectedGpt2Tensors(tiny.config).length);
  });

  it('refuses bad config and bad header before looking at tensors', () => {
    const tiny = makeTinyGpt2Checkpoint(TINY);
    expect(() => loadGpt2Checkpoint('{', tiny.safetensors, { config: 'tiny/config.json' })).toThrow(/^tiny\/config\.json: not valid JSON/);
    expect(() => loadGpt2Checkpoint(tiny.configJson, tiny.safetensors.subarray(0, 100), { weights: 'tiny/model.safetensors' })).toThrow(
      /^tiny\/model\.safetensors: header length \d+ \(first 8 bytes\) is larger than the 92 bytes that follow/,
    );
  });

  it('explains a folder without model.safetensors', async () => {
    const dir = await tempDir();
    await expect(loadGpt2CheckpointDir(join(dir, 'absent'))).rejects.toThrow(/absent does not exist/);
    await mkdir(join(dir, 'pt'));
    await writeFile(join(dir, 'pt', 'config.json'), makeTinyGpt2Checkpoint(TINY).configJson);
    await writeFile(join(dir, 'pt', 'pytorch_model.bin'), 'x');
    await expect(loadGpt2CheckpointDir(join(dir, 'pt'))).rejects.toThrow(
      /model\.safetensors not found \(folder has: config\.json, pytorch_model\.bin\); the folder holds pytorch_model\.bin only/,
    );
  });

  it('refuses to save tensors that do not fit the config', () => {
    const tiny = makeTinyGpt2Checkpoint(TINY);
    const weights = new Map(tiny.weights);
    weights.delete('transformer.h.0.ln_2.bias');
    weights.set('transformer.wpe.weight', new Float32Array(3));
    weights.set('transformer.h.9.ln_1.weight', new Float32Array(8));
    expect(() => saveGpt2Checkpoint(tiny.config, weights)).toThrow(
      'saving GPT-2 checkpoint: tensor "transformer.wpe.weight" has 3 values, expected 48 for shape [6, 8] [n_positions, n_embd]; tensor "transformer.h.0.ln_2.bias" is missing; expected 8 values for shape [8] [n_embd]; tensor "transformer.h.9.ln_1.weight" is not a GPT-2 parameter for this config',
    );
  });

  it('reads tensor values that match what tensorToFloat32 gives for the stored entry', () => {
    const tiny = makeTinyGpt2Checkpoint({ ...TINY, withPrefix: false });
    const entry = readSafetensors(tiny.safetensors).tensors.get('h.1.attn.c_attn.weight')!;
    const loaded = loadGpt2Checkpoint(tiny.configJson, tiny.safetensors);
    expect(bits(loaded.tensors.get('transformer.h.1.attn.c_attn.weight')!)).toEqual(bits(tensorToFloat32(entry)));
  });
});

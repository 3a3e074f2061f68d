import { describe, expect, it } from 'vitest';
import { loadPeftAdapter, PEFT_PREFIX, savePeftAdapter } from '../../src/checkpoint/peftAdapter';
import { readSafetensors, writeSafetensors, type SafetensorsInput } from '../../src/checkpoint/safetensors';
import { makeGptConfig } from '../../src/model/config';
import { loraDims, loraProjections, type LoraSettings, type LoraValues } from '../../src/model/lora';
import { rng, uniform } from '../../src/util/random';

const config = makeGptConfig({ vocab_size: 50, n_positions: 16, n_embd: 12, n_layer: 2, n_head: 3, bos_token_id: 0, eos_token_id: 1 });
const SETTINGS: LoraSettings = { rank: 3, alpha: 6, dropout: 0.05, targets: ['attn.c_attn', 'mlp.c_proj'], seed: 0 };

function randomValues(settings: LoraSettings): Map<string, LoraValues> {
  const r = rng(3);
  const values = new Map<string, LoraValues>();
  for (const [name, t] of loraProjections(config, settings.targets)) {
    const [fanIn, fanOut] = loraDims(config, t);
    values.set(name, { A: uniform(settings.rank * fanIn, r), B: uniform(fanOut * settings.rank, r) });
  }
  return values;
}

/** PEFT's adapter_config.json as save_pretrained writes it for a GPT-2 LoRA (fields trimmed). */
function peftConfig(fields: Record<string, unknown> = {}): string {
  return JSON.stringify({
    base_model_name_or_path: 'gpt2',
    bias: 'none',
    fan_in_fan_out: true,
    inference_mode: true,
    layers_to_transform: null,
    lora_alpha: 6,
    lora_dropout: 0.1,
    modules_to_save: null,
    peft_type: 'LORA',
    r: 3,
    rank_pattern: {},
    alpha_pattern: {},
    target_modules: ['c_attn'],
    task_type: 'CAUSAL_LM',
    use_rslora: false,
    ...fields,
  });
}

function qkvTensors(name: (layer: number, which: 'A' | 'B') => string, shapeA = [3, 12], shapeB = [36, 3]): SafetensorsInput[] {
  const r = rng(8);
  const out: SafetensorsInput[] = [];
  for (let l = 0; l < config.n_layer; l++) {
    out.push({ name: name(l, 'A'), shape: shapeA, data: uniform(shapeA[0] * shapeA[1], r) });
    out.push({ name: name(l, 'B'), shape: shapeB, data: uniform(shapeB[0] * shapeB[1], r) });
  }
  return out;
}

describe('PEFT LoRA adapter files', () => {
  it('round-trips values bit for bit with the names and config fields PEFT uses', () => {
    const values = randomValues(SETTINGS);
    const saved = savePeftAdapter(config, SETTINGS, values, 'my-base');
    const names = [...readSafetensors(saved.safetensors).tensors.keys()];
    expect(names).toContain('base_model.model.transformer.h.1.mlp.c_proj.lora_B.weight');
    expect(names).toHaveLength(2 * 2 * 2);
    const cfg = JSON.parse(saved.configJson);
    expect(cfg).toMatchObject({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 3, lora_alpha: 6, lora_dropout: 0.05, fan_in_fan_out: true, bias: 'none', base_model_name_or_path: 'my-base' });
    expect(cfg.target_modules).toEqual(['attn.c_attn', 'mlp.c_proj']);

    const loaded = loadPeftAdapter(saved.configJson, saved.safetensors, config);
    expect(loaded.settings).toMatchObject({ rank: 3, alpha: 6, dropout: 0.05, targets: ['attn.c_attn', 'mlp.c_proj'] });
    expect(loaded.warnings).toEqual([]);
    expect(loaded.baseModel).toBe('my-base');
    for (const [name, v] of values) {
      const got = loaded.values.get(name)!;
      expect(Buffer.from(got.A.buffer).equals(Buffer.from(v.A.buffer)), `${name} A`).toBe(true);
      expect(Buffer.from(got.B.buffer).equals(Buffer.from(v.B.buffer)), `${name} B`).toBe(true);
    }
  });

  it('reads a file as PEFT writes it, and the variants PEFT produces (adapter name, no prefix, F16)', () => {
    for (const name of [
      (l: number, w: string) => `${PEFT_PREFIX}transformer.h.${l}.attn.c_attn.lora_${w}.weight`,
      (l: number, w: string) => `${PEFT_PREFIX}transformer.h.${l}.attn.c_attn.lora_${w}.default.weight`,
      (l: number, w: string) => `h.${l}.attn.c_attn.lora_${w}.weight`,
    ]) {
      const loaded = loadPeftAdapter(peftConfig(), writeSafetensors(qkvTensors(name)), config);
      expect(loaded.settings.targets).toEqual(['attn.c_attn']);
      expect(loaded.settings.dropout).toBe(0.1);
      expect(loaded.values.get('transformer.h.1.attn.c_attn')!.B).toHaveLength(36 * 3);
    }
    const half = writeSafetensors([
      { name: `${PEFT_PREFIX}transformer.h.0.attn.c_attn.lora_A.weight`, shape: [3, 12], dtype: 'F16', bytes: new Uint8Array(72).fill(0x3c) },
      { name: `${PEFT_PREFIX}transformer.h.0.attn.c_attn.lora_B.weight`, shape: [36, 3], dtype: 'F16', bytes: new Uint8Array(216) },
      { name: `${PEFT_PREFIX}transformer.h.1.attn.c_attn.lora_A.weight`, shape: [3, 12], dtype: 'F16', bytes: new Uint8Array(72) },
      { name: `${PEFT_PREFIX}transformer.h.1.attn.c_attn.lora_B.weight`, shape: [36, 3], dtype: 'F16', bytes: new Uint8Array(216) },
    ]);
    // 0x3c3c is 1.05859375 in half precision.
    expect(loadPeftAdapter(peftConfig(), half, config).values.get('transformer.h.0.attn.c_attn')!.A[0]).toBe(1.05859375);
  });

  it('refuses bad files naming the file, the tensor or field, and what was expected', () => {
    const good = (l: number, w: string) => `${PEFT_PREFIX}transformer.h.${l}.attn.c_attn.lora_${w}.weight`;
    const weights = writeSafetensors(qkvTensors(good));
    expect(() => loadPeftAdapter('{oops', weights, config)).toThrow(/adapter_config\.json: not valid JSON/);
    expect(() => loadPeftAdapter(peftConfig({ peft_type: 'IA3' }), weights, config)).toThrow(/peft_type is "IA3", expected "LORA"/);
    expect(() => loadPeftAdapter(peftConfig({ use_rslora: true }), weights, config)).toThrow(/use_rslora/);
    expect(() => loadPeftAdapter(peftConfig({ r: 4 }), weights, config)).toThrow(
      /tensor "base_model\.model\.transformer\.h\.0\.attn\.c_attn\.lora_A\.weight" has shape \[3, 12\], expected \[4, 12\] \[r, in\]/,
    );
    const missing = writeSafetensors(qkvTensors(good).filter((t) => !t.name.includes('h.1.attn.c_attn.lora_B')));
    expect(() => loadPeftAdapter(peftConfig(), missing, config, { weights: 'run7/adapter_model.safetensors' })).toThrow(
      /run7\/adapter_model\.safetensors: tensor "base_model\.model\.transformer\.h\.1\.attn\.c_attn\.lora_B\.weight" is missing; expected shape \[36, 3\] \[out, r\]/,
    );
    const transposed = writeSafetensors(qkvTensors(good, [12, 3], [36, 3]));
    expect(() => loadPeftAdapter(peftConfig(), transposed, config)).toThrow(/has shape \[12, 3\], expected \[3, 12\]/);
    const deep = writeSafetensors([...qkvTensors(good), { name: good(5, 'A'), shape: [3, 12], data: new Float32Array(36) }]);
    expect(() => loadPeftAdapter(peftConfig(), deep, config)).toThrow(/block 5, but the model has n_layer = 2/);
    const none = writeSafetensors([{ name: 'something.else', shape: [2], data: new Float32Array(2) }]);
    expect(() => loadPeftAdapter(peftConfig(), none, config)).toThrow(/no LoRA tensors/);
  });

  it('warns about what it ignores', () => {
    const good = (l: number, w: string) => `${PEFT_PREFIX}transformer.h.${l}.attn.c_attn.lora_${w}.weight`;
    const extra = writeSafetensors([...qkvTensors(good), { name: 'base_model.model.score.weight', shape: [2], data: new Float32Array(2) }]);
    const loaded = loadPeftAdapter(peftConfig({ target_modules: ['c_fc'] }), extra, config);
    expect(loaded.warnings.join('\n')).toMatch(/ignored tensor "base_model\.model\.score\.weight"/);
    expect(loaded.warnings.join('\n')).toMatch(/does not name attn\.c_attn/);
  });
});

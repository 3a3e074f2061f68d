// LoRA adapters in Hugging Face PEFT's format: adapter_config.json + adapter_model.safetensors,
// so an adapter trained in the lab loads with PeftModel.from_pretrained on the matching GPT-2
// base, and one trained with PEFT loads here.
//
// Tensor names are what PEFT's save_pretrained writes for GPT2LMHeadModel:
//   base_model.model.transformer.h.{i}.{attn.c_attn|attn.c_proj|mlp.c_fc|mlp.c_proj}.lora_{A|B}.weight
// with lora_A [r, in] and lora_B [out, r] (nn.Linear layouts even on GPT-2's Conv1D layers,
// whose delta PEFT merges transposed, hence fan_in_fan_out: true).
import type { GptConfig } from '../model/config';
import { LORA_TARGETS, loraDims, loraProjections, validateLoraSettings, type LoraSettings, type LoraTarget, type LoraValues } from '../model/lora';
import { CheckpointError, FLOAT_DTYPES, formatShape, readSafetensors, tensorToFloat32, writeSafetensors, type SafetensorsTensor } from './safetensors';

export const PEFT_PREFIX = 'base_model.model.';

export interface PeftFileNames {
  config?: string;
  weights?: string;
}

export interface LoadedPeftAdapter {
  settings: LoraSettings;
  values: Map<string, LoraValues>;
  /** Things that did not stop the load (unknown config fields, extra tensors). */
  warnings: string[];
  /** base_model_name_or_path from the config, when it names one. */
  baseModel: string | null;
}

export interface SavedPeftAdapter {
  configJson: string;
  safetensors: Uint8Array;
}

// The adapter name PEFT inserts when a model holds several ("...lora_A.default.weight") is accepted too.
const TENSOR_NAME = /^(?:base_model\.model\.)?(?:transformer\.)?h\.(\d+)\.(attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)\.lora_(A|B)(?:\.[A-Za-z0-9_-]+)?\.weight$/;

/** Writes PEFT's two files for an adapter on a GPT-2 model with this config. */
export function savePeftAdapter(
  config: GptConfig,
  settings: LoraSettings,
  values: ReadonlyMap<string, LoraValues>,
  baseModel = 'continual-lab/base',
): SavedPeftAdapter {
  validateLoraSettings(settings);
  const sliced = settings.targets.filter((t) => !(LORA_TARGETS as readonly string[]).includes(t));
  if (sliced.length) {
    // PEFT's GPT-2 modules are whole Conv1D layers; a q/k/v slice has no module of its own.
    throw new CheckpointError(`saving LoRA adapter: targets ${sliced.join(', ')} are column slices of attn.c_attn, which PEFT's format cannot name`);
  }
  const tensors = [];
  for (const [name, t] of loraProjections(config, settings.targets)) {
    const v = values.get(name);
    const [fanIn, fanOut] = loraDims(config, t);
    if (!v) throw new CheckpointError(`saving LoRA adapter: no values for ${name}`);
    tensors.push({ name: `${PEFT_PREFIX}${name}.lora_A.weight`, shape: [settings.rank, fanIn], data: v.A });
    tensors.push({ name: `${PEFT_PREFIX}${name}.lora_B.weight`, shape: [fanOut, settings.rank], data: v.B });
  }
  for (const t of tensors) {
    const n = t.shape[0] * t.shape[1];
    if (t.data.length !== n) throw new CheckpointError(`saving LoRA adapter: ${t.name} has ${t.data.length} values, expected ${formatShape(t.shape)}`);
  }
  const peftConfig = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: baseModel,
    r: settings.rank,
    lora_alpha: settings.alpha,
    lora_dropout: settings.dropout ?? 0,
    target_modules: [...settings.targets],
    fan_in_fan_out: true,
    bias: 'none',
    use_rslora: false,
    inference_mode: true,
    modules_to_save: null,
    layers_to_transform: null,
    rank_pattern: {},
    alpha_pattern: {},
    init_lora_weights: true,
  };
  return { configJson: `${JSON.stringify(peftConfig, null, 2)}\n`, safetensors: writeSafetensors(tensors, { format: 'pt' }) };
}

/**
 * Reads PEFT's two files for a GPT-2 model with `config`. The targets are the projections that
 * have tensors; every block must have the same ones. Every problem is reported at once, each
 * naming the file, the tensor or field, and what was expected.
 */
export function loadPeftAdapter(configText: string, weights: Uint8Array | ArrayBuffer, config: GptConfig, fileNames: PeftFileNames = {}): LoadedPeftAdapter {
  const configName = fileNames.config ?? 'adapter_config.json';
  const weightsName = fileNames.weights ?? 'adapter_model.safetensors';
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(configText) as Record<string, unknown>;
  } catch (e) {
    throw new CheckpointError(`${configName}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new CheckpointError(`${configName}: expected a JSON object`);
  const problems: string[] = [];
  const warnings: string[] = [];
  const field = (k: string) => raw[k];
  if (field('peft_type') !== 'LORA') problems.push(`${configName}: peft_type is ${JSON.stringify(field('peft_type'))}, expected "LORA"`);
  const rank = field('r');
  const alpha = field('lora_alpha');
  const dropout = field('lora_dropout') ?? 0;
  if (!Number.isInteger(rank) || (rank as number) < 1) problems.push(`${configName}: r is ${JSON.stringify(rank)}, expected a positive integer`);
  if (typeof alpha !== 'number' || !(alpha > 0)) problems.push(`${configName}: lora_alpha is ${JSON.stringify(alpha)}, expected a number > 0`);
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) problems.push(`${configName}: lora_dropout is ${JSON.stringify(dropout)}, expected a number in [0, 1)`);
  if (field('use_rslora') === true) problems.push(`${configName}: use_rslora (scale alpha / sqrt(r)) is not supported; expected false`);
  if (field('use_dora') === true) problems.push(`${configName}: use_dora is not supported; expected false`);
  for (const k of ['rank_pattern', 'alpha_pattern']) {
    const v = field(k);
    if (v && typeof v === 'object' && Object.keys(v).length > 0) problems.push(`${configName}: ${k} (per-module ranks or alphas) is not supported; expected {}`);
  }
  const layers = field('layers_to_transform');
  if (layers !== undefined && layers !== null) problems.push(`${configName}: layers_to_transform is not supported (the lab adapts every block); expected null`);
  if (field('bias') !== undefined && field('bias') !== 'none') problems.push(`${configName}: bias is ${JSON.stringify(field('bias'))}; only "none" is supported`);
  const saved = field('modules_to_save');
  if (Array.isArray(saved) && saved.length > 0) problems.push(`${configName}: modules_to_save is not supported; expected null`);

  const file = readSafetensors(weights, weightsName);
  const found = new Map<string, SafetensorsTensor>(); // "transformer.h.i.module.lora_X" -> entry
  const targets = new Set<LoraTarget>();
  for (const [name, entry] of file.tensors) {
    const m = TENSOR_NAME.exec(name);
    if (!m) {
      warnings.push(`${weightsName}: ignored tensor "${name}" (not a LoRA weight of a GPT-2 block)`);
      continue;
    }
    const layer = Number(m[1]);
    if (layer >= config.n_layer) {
      problems.push(`${weightsName}: tensor "${name}" is for block ${layer}, but the model has n_layer = ${config.n_layer}`);
      continue;
    }
    targets.add(m[2] as LoraTarget);
    found.set(`transformer.h.${layer}.${m[2]}.lora_${m[3]}`, entry);
  }
  if (targets.size === 0 && problems.length === 0) {
    problems.push(`${weightsName}: no LoRA tensors; expected names like "${PEFT_PREFIX}transformer.h.0.attn.c_attn.lora_A.weight"`);
  }
  const ordered = LORA_TARGETS.filter((t) => targets.has(t));
  const listed = field('target_modules');
  if (Array.isArray(listed)) {
    for (const t of ordered) {
      const leaf = t.split('.')[1];
      if (!listed.some((x) => x === t || x === leaf || (typeof x === 'string' && t.endsWith(`.${x}`)))) {
        warnings.push(`${configName}: target_modules ${JSON.stringify(listed)} does not name ${t}, which has tensors`);
      }
    }
  }

  const values = new Map<string, LoraValues>();
  if (Number.isInteger(rank) && (rank as number) >= 1) {
    const r = rank as number;
    for (const [name, t] of loraProjections(config, ordered)) {
      const [fanIn, fanOut] = loraDims(config, t);
      const read = (which: 'A' | 'B', shape: number[], dims: string) => {
        const entry = found.get(`${name}.lora_${which}`);
        const want = `${PEFT_PREFIX}${name}.lora_${which}.weight`;
        if (!entry) {
          problems.push(`${weightsName}: tensor "${want}" is missing; expected shape ${formatShape(shape)} ${dims}`);
          return null;
        }
        if (!FLOAT_DTYPES.includes(entry.dtype)) {
          problems.push(`${weightsName}: tensor "${entry.name}" has dtype ${entry.dtype}, expected F32 (or F16, BF16, F64)`);
          return null;
        }
        if (entry.shape.length !== 2 || entry.shape[0] !== shape[0] || entry.shape[1] !== shape[1]) {
          problems.push(`${weightsName}: tensor "${entry.name}" has shape ${formatShape(entry.shape)}, expected ${formatShape(shape)} ${dims}`);
          return null;
        }
        return tensorToFloat32(entry, weightsName);
      };
      const A = read('A', [r, fanIn], '[r, in]');
      const B = read('B', [fanOut, r], '[out, r]');
      if (A && B) values.set(name, { A, B });
    }
  }
  if (problems.length > 0) {
    const list = problems.length === 1 ? problems[0] : `${problems.length} problems:\n  - ${problems.join('\n  - ')}`;
    throw new CheckpointError(`LoRA adapter does not load: ${list}`);
  }
  const settings: LoraSettings = { rank: rank as number, alpha: alpha as number, dropout: dropout as number, targets: ordered, seed: 0 };
  validateLoraSettings(settings);
  const base = field('base_model_name_or_path');
  return { settings, values, warnings, baseModel: typeof base === 'string' && base ? base : null };
}

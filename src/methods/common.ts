import type { Example } from '../data/examples';
import type { Task } from '../data/task';
import { savePeftAdapter } from '../checkpoint/peftAdapter';
import { predictTask } from '../eval/evaluate';
import { AdapterPool } from '../model/adapterPool';
import { LORA_SLICE_TARGETS, LORA_TARGETS, LoraAdapter, type LoraSettings, type LoraTarget, type LoraValues } from '../model/lora';
import type { TrainerSettings } from '../train/trainer';
import { seedFor } from '../util/random';
import type { ExportedAdapter, MethodEnv, MethodState, ParameterCounts, TrainingExample } from './method';
import type { SettingSpecs } from './settings';

/** Settings every LoRA-based method shares, with defaults measured on the shipped base (README). */
export const LORA_SETTING_SPECS = {
  rank: { kind: 'number', default: 16, min: 1, max: 256, integer: true, doc: 'LoRA rank r of each pair.' },
  alpha: { kind: 'number', default: 128, min: 0.001, max: 4096, doc: 'LoRA alpha: the update is scaled by alpha / r.' },
  targets: {
    kind: 'list',
    default: ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'],
    choices: [...LORA_TARGETS, ...LORA_SLICE_TARGETS],
    doc: "Projections adapted in every block (attn.c_attn.q / .v are the query and value slices, TRACE's choice).",
  },
  lr: { kind: 'number', default: 3e-3, min: 1e-7, max: 1, doc: 'Peak learning rate (AdamW, warm-up then cosine to a tenth).' },
  weightDecay: {
    kind: 'number',
    default: 3,
    min: 0,
    max: 100,
    doc: 'Decoupled AdamW weight decay on the adapter matrices; keeps a continued adapter plastic for the next task (README, method defaults).',
  },
} as const satisfies SettingSpecs;

export function loraSettingsOf(s: { rank: number; alpha: number; targets: readonly string[] }, seed: number): LoraSettings {
  return { rank: s.rank, alpha: s.alpha, targets: s.targets as LoraTarget[], seed, dropout: 0 };
}

/** The trainer settings of one stage: `steps` optimizer steps over the examples, seeded per method and stage. */
export function stageTrainer(
  env: MethodEnv,
  methodId: string,
  t: number,
  examples: number,
  opt: { lr: number; weightDecay: number },
  steps = env.budget.steps,
): TrainerSettings {
  const batchSize = Math.min(env.budget.batchSize, examples);
  return {
    batchSize,
    epochs: Math.max(1, Math.ceil(steps / Math.ceil(examples / batchSize))),
    maxSteps: steps,
    peakLr: opt.lr,
    warmupSteps: Math.min(env.budget.warmupSteps, Math.floor(steps / 4)),
    seed: seedFor(env.seed, `${methodId}/stage${t}`),
    optimizer: { weightDecay: opt.weightDecay },
  };
}

export function asTrainingExamples(examples: readonly Example[]): TrainingExample[] {
  return examples.map((e) => ({ prompt: e.prompt, answer: e.answer }));
}

/** Greedy answers with the model as configured (every method that needs no routing). */
export function plainPredict(env: MethodEnv, examples: readonly Example[], task: Task): Promise<string[]> {
  return predictTask(env.model, env.tokenizer, examples, task, env.evalBatch);
}

/**
 * The adapter pool of a LoRA-based method: the base frozen, adapters added as the method
 * says, combined with weight 1 each (plain LoRA for one, O-LoRA's sum for several).
 */
export class LoraStack {
  readonly pool: AdapterPool;

  constructor(
    readonly env: MethodEnv,
    readonly lora: { rank: number; alpha: number; targets: readonly string[] },
  ) {
    for (const p of env.model.params.values()) p.trainable = false;
    this.pool = new AdapterPool(env.model.config);
    env.model.adapters = this.pool;
  }

  /** A new trainable adapter (PEFT's initialisation, seeded per method and index), appended to the pool. */
  addAdapter(methodId: string): LoraAdapter {
    const a = LoraAdapter.create(this.env.ctx, this.env.model.config, loraSettingsOf(this.lora, seedFor(this.env.seed, `${methodId}/adapter${this.pool.size}`)));
    this.pool.add(a);
    return a;
  }

  /** Adapter parameters, split into those training now and all of them. */
  counts(): ParameterCounts {
    let trainable = 0;
    let stored = 0;
    for (const p of this.pool.parameters()) {
      stored += p.value.size;
      if (p.trainable) trainable += p.value.size;
    }
    return { trainable, stored };
  }

  async save(into: Map<string, Float32Array> = new Map()): Promise<Map<string, Float32Array>> {
    for (const [i, a] of this.pool.adapters.entries()) {
      for (const [name, v] of await a.toTensors(this.env.ctx)) {
        into.set(`adapter${i}.${name}.lora_A`, v.A);
        into.set(`adapter${i}.${name}.lora_B`, v.B);
      }
    }
    return into;
  }

  /** Rebuilds the pool from saved tensors; every adapter but the last `trainableLast` is frozen. */
  load(state: MethodState, methodId: string, trainableLast: number): void {
    this.pool.dispose(this.env.ctx);
    const count = new Set([...state.tensors.keys()].filter((k) => k.startsWith('adapter')).map((k) => k.split('.')[0])).size;
    for (let i = 0; i < count; i++) {
      const values = new Map<string, LoraValues>();
      for (const [k, v] of state.tensors) {
        const m = new RegExp(`^adapter${i}\\.(.*)\\.lora_(A|B)$`).exec(k);
        if (!m) continue;
        const pair = values.get(m[1]) ?? { A: new Float32Array(), B: new Float32Array() };
        pair[m[2] as 'A' | 'B'] = v;
        values.set(m[1], pair);
      }
      const a = LoraAdapter.fromTensors(this.env.ctx, this.env.model.config, loraSettingsOf(this.lora, seedFor(this.env.seed, `${methodId}/adapter${i}`)), values);
      if (i < count - trainableLast) for (const p of a.parameters()) p.trainable = false;
      this.pool.add(a);
    }
  }

  /** Every adapter in PEFT's format, named by `names(i)`. */
  async exportPeft(names: (i: number) => string): Promise<ExportedAdapter[]> {
    const out: ExportedAdapter[] = [];
    for (const [i, a] of this.pool.adapters.entries()) {
      const saved = savePeftAdapter(this.env.model.config, a.settings, await a.toTensors(this.env.ctx));
      out.push({ name: names(i), files: new Map([['adapter_config.json', new TextEncoder().encode(saved.configJson)], ['adapter_model.safetensors', saved.safetensors]]) });
    }
    return out;
  }

  dispose(): void {
    this.pool.dispose(this.env.ctx);
    this.env.model.adapters = null;
  }
}

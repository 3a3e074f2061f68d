import { asTrainingExamples, plainPredict, stageTrainer } from './common';
import type { ContinualMethod, MethodDefinition, MethodEnv, MethodState, StagePlan } from './method';
import { resolveSettings, type Resolved, type SettingSpecs } from './settings';

const SPECS = {
  lr: { kind: 'number', default: 1e-3, min: 1e-7, max: 1, doc: 'Peak learning rate of the full fine-tune (AdamW, warm-up then cosine to a tenth).' },
  weightDecay: {
    kind: 'number',
    default: 0,
    min: 0,
    max: 100,
    doc: 'Decoupled AdamW weight decay on the weight matrices (towards zero, not towards the base: off by default).',
  },
} as const satisfies SettingSpecs;

/** SeqFT: every weight of the model fine-tuned on each task in turn, no adapter. */
class SeqFt implements ContinualMethod {
  readonly id = 'seqft';
  readonly stages = 'sequential' as const;

  constructor(
    readonly env: MethodEnv,
    readonly settings: Resolved<typeof SPECS>,
  ) {
    for (const p of env.model.params.values()) p.trainable = true;
  }

  beginStage(t: number): StagePlan {
    const examples = asTrainingExamples(this.env.tasks[t].train);
    return { examples, trainer: stageTrainer(this.env, this.id, t, examples.length, this.settings) };
  }

  endStage(): void {}

  predict(examples: Parameters<ContinualMethod['predict']>[0], task: Parameters<ContinualMethod['predict']>[1]) {
    return plainPredict(this.env, examples, task);
  }

  parameterCounts() {
    let n = 0;
    for (const p of this.env.model.params.values()) n += p.value.size;
    return { trainable: n, stored: n };
  }

  async saveState(): Promise<MethodState> {
    const tensors = new Map<string, Float32Array>();
    for (const [name, p] of this.env.model.params) tensors.set(name, await this.env.ctx.readF32(p.value));
    return { tensors, meta: null };
  }

  loadState(state: MethodState): void {
    for (const [name, p] of this.env.model.params) {
      const v = state.tensors.get(name);
      if (!v || v.length !== p.value.size) throw new Error(`seqft state: ${name} missing or of the wrong size`);
      this.env.ctx.write(p.value, v);
    }
  }

  dispose(): void {}
}

export const seqft: MethodDefinition = {
  id: 'seqft',
  summary: 'Every weight fine-tuned on each task in turn.',
  stages: 'sequential',
  settings: SPECS,
  create: (env, given) => new SeqFt(env, resolveSettings('seqft', SPECS, given)),
};

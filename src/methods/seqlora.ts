import { asTrainingExamples, LORA_SETTING_SPECS, LoraStack, plainPredict, stageTrainer } from './common';
import type { ContinualMethod, ExportedAdapter, MethodDefinition, MethodEnv, MethodState, StagePlan } from './method';
import { resolveSettings, type Resolved } from './settings';

const SPECS = { ...LORA_SETTING_SPECS } as const;

/** SeqLoRA: one LoRA adapter on the frozen base, trained through every task in turn (the classic forgetting baseline). */
export class SeqLora implements ContinualMethod {
  readonly stages: 'sequential' | 'joint' = 'sequential';
  protected readonly stack: LoraStack;

  constructor(
    readonly env: MethodEnv,
    readonly settings: Resolved<typeof SPECS>,
    readonly id: string = 'seqlora',
  ) {
    this.stack = new LoraStack(env, settings);
    this.stack.addAdapter(id);
  }

  beginStage(t: number): Promise<StagePlan> | StagePlan {
    const examples = asTrainingExamples(this.env.tasks[t].train);
    return { examples, trainer: stageTrainer(this.env, this.id, t, examples.length, this.settings) };
  }

  endStage(_t: number): Promise<void> | void {}

  predict(examples: Parameters<ContinualMethod['predict']>[0], task: Parameters<ContinualMethod['predict']>[1]) {
    return plainPredict(this.env, examples, task);
  }

  parameterCounts() {
    return this.stack.counts();
  }

  /** One adapter (`adapter`); O-LoRA's several are summed at inference, each exported by the task it learned. */
  exportAdapters(): Promise<ExportedAdapter[]> {
    const n = this.stack.pool.size;
    return this.stack.exportPeft((i) => (n === 1 ? 'adapter' : `adapter${i + 1}-${this.env.tasks[i]?.name ?? i}`));
  }

  async saveState(): Promise<MethodState> {
    return { tensors: await this.stack.save(), meta: null };
  }

  loadState(state: MethodState): void {
    this.stack.load(state, this.id, 1);
  }

  dispose(): void {
    this.stack.dispose();
  }
}

export const seqlora: MethodDefinition = {
  id: 'seqlora',
  summary: 'One LoRA adapter trained through every task in turn (the forgetting baseline).',
  stages: 'sequential',
  settings: SPECS,
  create: (env, given) => new SeqLora(env, resolveSettings('seqlora', SPECS, given)),
};

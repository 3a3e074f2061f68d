import { asTrainingExamples, LORA_SETTING_SPECS, stageTrainer } from './common';
import type { MethodDefinition, MethodEnv, StagePlan } from './method';
import { SeqLora } from './seqlora';
import { resolveSettings, type Resolved } from './settings';

const SPECS = { ...LORA_SETTING_SPECS } as const;

/**
 * MTL: one LoRA adapter trained once on every task of the stream, mixed, for as many steps
 * as the sequential methods take over all tasks: the reference that continual methods are
 * measured against. It has the last row of R only (OP; BWT and FWT are null).
 */
class Mtl extends SeqLora {
  override readonly stages = 'joint' as const;

  constructor(env: MethodEnv, settings: Resolved<typeof SPECS>) {
    super(env, settings, 'mtl');
  }

  override beginStage(t: number): StagePlan {
    const examples = asTrainingExamples(this.env.tasks.flatMap((task) => task.train));
    return { examples, trainer: stageTrainer(this.env, this.id, t, examples.length, this.settings, this.env.budget.steps * this.env.tasks.length) };
  }
}

export const mtl: MethodDefinition = {
  id: 'mtl',
  summary: 'One LoRA trained jointly on all tasks, mixed (the upper reference; final row of R only).',
  stages: 'joint',
  settings: SPECS,
  create: (env, given) => new Mtl(env, resolveSettings('mtl', SPECS, given)),
};

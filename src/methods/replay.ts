import type { Example } from '../data/examples';
import { rng, seedFor, shuffleInPlace } from '../util/random';
import { asTrainingExamples, LORA_SETTING_SPECS, stageTrainer } from './common';
import type { MethodDefinition, MethodEnv, MethodState, StagePlan } from './method';
import { SeqLora } from './seqlora';
import { resolveSettings, type Resolved, type SettingSpecs } from './settings';

const SPECS = {
  ...LORA_SETTING_SPECS,
  bufferFraction: { kind: 'number', default: 0.1, min: 0, max: 1, doc: "Share of each finished task's training examples kept in the rehearsal buffer (a seeded sample, at least one)." },
} as const satisfies SettingSpecs;

/**
 * Replay: SeqLoRA plus a rehearsal buffer. After each task a seeded sample of its training
 * examples joins the buffer; every later task trains on its own examples and the whole
 * buffer, shuffled together by the trainer, so each batch mixes old and new.
 */
class Replay extends SeqLora {
  private buffer: Example[] = [];

  constructor(env: MethodEnv, readonly replaySettings: Resolved<typeof SPECS>) {
    super(env, replaySettings, 'replay');
  }

  override beginStage(t: number): StagePlan {
    const examples = asTrainingExamples([...this.env.tasks[t].train, ...this.buffer]);
    return { examples, trainer: stageTrainer(this.env, this.id, t, examples.length, this.settings) };
  }

  override endStage(t: number): void {
    const train = this.env.tasks[t].train;
    const keep = Math.max(1, Math.round(train.length * this.replaySettings.bufferFraction));
    const sample = shuffleInPlace([...train], rng(seedFor(this.env.seed, `replay/buffer${t}`))).slice(0, keep);
    this.buffer.push(...sample);
  }

  override async saveState(): Promise<MethodState> {
    return { tensors: await this.stack.save(), meta: { buffer: this.buffer } };
  }

  override loadState(state: MethodState): void {
    super.loadState(state);
    this.buffer = (state.meta as { buffer: Example[] }).buffer.map((e) => ({ prompt: e.prompt, answer: e.answer }));
  }
}

export const replay: MethodDefinition = {
  id: 'replay',
  summary: 'SeqLoRA plus a rehearsal buffer (a share of every past task) mixed into the batches.',
  stages: 'sequential',
  settings: SPECS,
  create: (env, given) => new Replay(env, resolveSettings('replay', SPECS, given)),
};

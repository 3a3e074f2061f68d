import type { FinetuneJob } from './protocol';

/**
 * The small fine-tune the lab page runs to show the engine working on this machine: all
 * weights of the shipped base model (no `model` field) on six prompt -> answer pairs.
 * Full fine-tuning rather than LoRA because the base never saw the end token in
 * pretraining, and a frozen embedding cannot learn to emit it.
 */
export const DEMO_JOB: Omit<FinetuneJob, 'runId'> = {
  examples: Array.from({ length: 6 }, (_, i) => ({ prompt: `q${i}:`, answer: String((i * 3) % 6) })),
  steps: 60,
  peakLr: 3e-3,
  warmupSteps: 5,
  seed: 1,
};

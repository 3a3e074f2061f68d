import type { FinetuneJob } from './protocol';

/** The small fine-tune the lab page runs to show the engine working on this machine. */
export const DEMO_JOB: Omit<FinetuneJob, 'runId'> = {
  examples: Array.from({ length: 6 }, (_, i) => ({ prompt: `q${i}:`, answer: String((i * 3) % 6) })),
  model: { n_layer: 1, n_head: 2, n_embd: 32, n_positions: 16 },
  steps: 80,
  peakLr: 1e-2,
  warmupSteps: 5,
  seed: 1,
};

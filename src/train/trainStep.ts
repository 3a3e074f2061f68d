import { pcgHash } from '../util/random';
import { Tape, zeroGrad } from '../autograd/tape';
import { maskedCrossEntropy } from '../autograd/transformerOps';
import type { GpuTensor } from '../gpu/tensor';
import type { GptModel } from '../model/gpt';
import type { GpuBatch } from './batch';
import type { AdamW } from './optimizer';

export interface StepResult {
  /** Mean masked loss of each micro-batch, GPU tensors [1] the caller reads and releases. */
  losses: GpuTensor[];
  /** Pre-clip global gradient norm (GPU tensor [1]) or null without clipping. */
  gradNorm: GpuTensor | null;
}

/**
 * One optimizer step over `microBatches` (gradient accumulation: each contributes 1/n of
 * the gradient). Nothing here waits for the GPU; losses and the norm come back as tensors.
 * Random ops (LoRA dropout) draw from `seed`, the step number and the micro-batch index, so
 * a run is reproducible from its seed.
 */
export function trainStep(model: GptModel, optimizer: AdamW, microBatches: readonly GpuBatch[], lr: number, seed = 0): StepResult {
  const { ctx } = model;
  const losses: GpuTensor[] = [];
  for (const [i, b] of microBatches.entries()) {
    const tape = new Tape(ctx, { seed: stepSeed(seed, optimizer.stepCount, i) });
    const logits = model.forward(tape, b.ids, b.positions, b.B, b.T);
    const loss = maskedCrossEntropy(tape, logits, b.targets, b.mask, 1 / microBatches.length);
    losses.push(ctx.clone(loss, 'loss'));
    tape.backward();
    tape.dispose();
  }
  // Frozen parameters have no gradient: the optimizer and zeroGrad pass over them.
  const params = [...model.params.values(), ...(model.lora?.parameters() ?? [])];
  const gradNorm = optimizer.step(params, lr);
  zeroGrad(ctx, params);
  return { losses, gradNorm };
}

/** A distinct 32-bit seed per (run seed, step, micro-batch). */
export function stepSeed(seed: number, step: number, microBatch: number): number {
  return pcgHash((pcgHash((seed ^ Math.imul(step, 0x85ebca6b)) >>> 0) + microBatch) >>> 0);
}

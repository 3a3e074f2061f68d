import { Tape, zeroGrad, type Parameter } from '../autograd/tape';
import { maskedCrossEntropy } from '../autograd/transformerOps';
import type { GpuTensor } from '../gpu/tensor';
import type { GptModel } from '../model/gpt';
import { pcgHash } from '../util/random';
import type { GpuBatch } from './batch';
import type { AdamW } from './optimizer';

/**
 * An extra term of a method's loss (EWC's penalty, O-LoRA's orthogonality), recorded on the
 * step's last tape: it runs its forward ops and registers a backward that adds its
 * gradients into the parameters it reads (the tape seeds no gradient for it). It returns
 * its value as a GPU tensor [1] owned by the tape (read for display), or null.
 */
export type LossTerm = (tape: Tape) => GpuTensor | null;

export interface StepOptions {
  /** Parameter groups beyond the model's and its adapter pool's (routers, say). */
  parameters?: Iterable<Parameter>;
  lossTerms?: readonly LossTerm[];
}

export interface StepResult {
  /** Mean masked loss of each micro-batch, GPU tensors [1] the caller reads and releases. */
  losses: GpuTensor[];
  /** Each micro-batch's share of the step's loss tokens: the step's loss is sum(weights[i] * losses[i]). */
  weights: number[];
  /** Values of the extra loss terms (GPU tensors [1], caller releases); null where a term gave none. */
  termValues: (GpuTensor | null)[];
  /** Pre-clip global gradient norm (GPU tensor [1]) or null without clipping. */
  gradNorm: GpuTensor | null;
}

/**
 * One optimizer step over `microBatches` (gradient accumulation). Each micro-batch's
 * gradient is weighted by its share of the step's loss tokens, so the step's gradient is
 * that of the mean loss over all its answer tokens, exactly as one big batch would give.
 * Nothing here waits for the GPU; losses and the norm come back as tensors. Random ops
 * (LoRA dropout) draw from `seed`, the step number and the micro-batch index, so a run is
 * reproducible from its seed.
 */
export function trainStep(
  model: GptModel,
  optimizer: AdamW,
  microBatches: readonly GpuBatch[],
  lr: number,
  seed = 0,
  opts: StepOptions = {},
): StepResult {
  const { ctx } = model;
  if (microBatches.length === 0) throw new Error('trainStep: no micro-batches');
  const total = microBatches.reduce((n, b) => n + b.lossTokens, 0);
  const weights = microBatches.map((b) => (total > 0 ? b.lossTokens / total : 1 / microBatches.length));
  const losses: GpuTensor[] = [];
  const termValues: (GpuTensor | null)[] = [];
  const terms = opts.lossTerms ?? [];
  for (const [i, b] of microBatches.entries()) {
    const tape = new Tape(ctx, { seed: stepSeed(seed, optimizer.stepCount, i) });
    const logits = model.forward(tape, b.ids, b.positions, b.B, b.T, b.lossRows);
    const loss = maskedCrossEntropy(tape, logits, b.targets, b.mask, weights[i]);
    losses.push(ctx.clone(loss, 'loss'));
    // Penalties belong to the step, not to a micro-batch: once, on the last tape.
    if (i === microBatches.length - 1) {
      for (const term of terms) {
        const v = term(tape);
        termValues.push(v ? ctx.clone(v, 'lossTerm') : null);
      }
    }
    tape.backward();
    tape.dispose();
  }
  // Frozen parameters have no gradient: the optimizer and zeroGrad pass over them.
  const params = [...new Set([...model.params.values(), ...(model.adapters?.parameters() ?? []), ...(opts.parameters ?? [])])];
  const gradNorm = optimizer.step(params, lr);
  zeroGrad(ctx, params);
  return { losses, weights, termValues, gradNorm };
}

/** A distinct 32-bit seed per (run seed, step, micro-batch). */
export function stepSeed(seed: number, step: number, microBatch: number): number {
  return pcgHash((pcgHash((seed ^ Math.imul(step, 0x85ebca6b)) >>> 0) + microBatch) >>> 0);
}

// Float64 CPU loss of a training case's starting point: the value every library's first
// step must report before its timing counts.
import { gptLossRef } from '../../src/reference/gpt';
import { mergeLoraConv1dRef } from '../../src/reference/lora';
import type { TrainCase } from './trainer';

/** Base weights widened to float64, with the LoRA pairs merged in when the case trains LoRA
 *  (W[in, out] += scale * (B A)^T, since GPT-2 stores Conv1D weights [in, out]). */
export function mergedWeights64(c: TrainCase): Map<string, Float64Array> {
  const w = new Map<string, Float64Array>();
  for (const [name, data] of c.weights) w.set(name, Float64Array.from(data));
  if (c.mode !== 'lora') return w;
  const { rank: r, alpha } = c.lora;
  const scale = alpha / r;
  for (const [name, A] of c.lora.A) {
    const B = c.lora.B.get(name)!;
    const W = w.get(`${name}.weight`)!;
    const [fanIn, fanOut] = c.shapes.get(`${name}.weight`)!;
    mergeLoraConv1dRef(W, A, B, { rank: r, fanIn, fanOut }, scale);
  }
  return w;
}

export function referenceLoss(c: TrainCase): number {
  return gptLossRef(c.config, mergedWeights64(c), c.ids, c.targets, c.mask, c.B, c.T);
}

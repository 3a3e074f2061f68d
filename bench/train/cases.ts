// Builds the training benchmark's cases from a loaded checkpoint and a text, with no I/O,
// so the page and Node scripts make identical cases.
import { expectedGpt2Tensors, type LoadedGpt2Checkpoint } from '../../src/checkpoint/gpt2Checkpoint';
import { rng, uniform } from '../../src/util/random';
import type { LoraCaseSettings, OptimizerSettings, TrainCase, TrainMode } from './trainer';

/** Fine-tuning settings of the benchmark: AdamW as the lab trains, a constant rate. */
export const BENCH_OPTIMIZER: OptimizerSettings = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1 };

export interface CaseShape {
  B: number;
  T: number;
  rank: number;
  alpha: number;
}

/** The batch the lab's default fine-tune would see on the default model: 16 x 128 tokens. */
export const FULL_SHAPE: CaseShape = { B: 16, T: 128, rank: 8, alpha: 16 };

/**
 * B rows of T byte tokens cut from `text` at evenly spaced offsets; every position predicts
 * the next byte (mask 1 everywhere), as in language-model fine-tuning on raw text.
 */
export function textBatch(text: Uint8Array, B: number, T: number): { ids: Int32Array; targets: Int32Array; mask: Float32Array } {
  if (text.length < B * (T + 1)) throw new Error(`textBatch: need ${B * (T + 1)} bytes of text, got ${text.length}`);
  const stride = Math.floor((text.length - (T + 1)) / Math.max(B - 1, 1));
  const ids = new Int32Array(B * T);
  const targets = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    const start = b * stride;
    for (let t = 0; t < T; t++) {
      ids[b * T + t] = text[start + t];
      targets[b * T + t] = text[start + t + 1];
    }
  }
  return { ids, targets, mask: new Float32Array(B * T).fill(1) };
}

/** LoRA on every block's qkv projection, A as PEFT initialises it and B small but not zero. */
export function loraSettings(ckpt: LoadedGpt2Checkpoint, rank: number, alpha: number, seed = 7): LoraCaseSettings {
  const random = rng(seed);
  const d = ckpt.config.n_embd;
  const A = new Map<string, Float32Array>();
  const B = new Map<string, Float32Array>();
  for (let l = 0; l < ckpt.config.n_layer; l++) {
    const name = `transformer.h.${l}.attn.c_attn`;
    A.set(name, uniform(rank * d, random, -1 / Math.sqrt(d), 1 / Math.sqrt(d)));
    B.set(name, uniform(3 * d * rank, random, -0.02, 0.02));
  }
  return { rank, alpha, targets: ['attn.c_attn'], A, B };
}

export function makeTrainCase(ckpt: LoadedGpt2Checkpoint, text: Uint8Array, mode: TrainMode, shape: CaseShape): TrainCase {
  const weights = new Map<string, Float32Array>();
  const shapes = new Map<string, readonly number[]>();
  for (const spec of expectedGpt2Tensors(ckpt.config)) {
    weights.set(spec.name, ckpt.tensors.get(spec.name)!);
    shapes.set(spec.name, spec.shape);
  }
  const { B, T } = shape;
  if (T > ckpt.config.n_positions) throw new Error(`makeTrainCase: T=${T} exceeds n_positions=${ckpt.config.n_positions}`);
  return {
    id: `${mode}-${B}x${T}`,
    config: ckpt.config,
    weights,
    shapes,
    B,
    T,
    ...textBatch(text, B, T),
    mode,
    lora: loraSettings(ckpt, shape.rank, shape.alpha),
    optimizer: BENCH_OPTIMIZER,
  };
}

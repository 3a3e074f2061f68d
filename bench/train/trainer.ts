// What the training benchmark needs from each library it times: our engine, TensorFlow.js,
// jax-js. Every library gets the same GPT-2 weights, batch, LoRA initialisation and
// optimizer settings, so the first steps' losses must agree before any timing counts.
import type { GptConfig } from '../../src/model/config';

/** Which parameters a step trains. */
export type TrainMode = 'full' | 'lora';

export interface OptimizerSettings {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Decoupled decay, applied only to 2-D (and larger) tensors, as GPT-2 training does. */
  weightDecay: number;
  /** Global gradient-norm clip: g *= min(1, maxGradNorm / (norm + 1e-6)). */
  maxGradNorm: number;
}

export interface LoraCaseSettings {
  rank: number;
  alpha: number;
  /** Module names inside each block (here always ['attn.c_attn']). */
  targets: readonly string[];
  /** Initial A [r, in] and B [out, r] (PEFT layout) keyed by projection, e.g.
   *  "transformer.h.0.attn.c_attn". B is not zero, so that A's gradient is not zero either. */
  A: ReadonlyMap<string, Float32Array>;
  B: ReadonlyMap<string, Float32Array>;
}

/** One training benchmark case: the same for every library. */
export interface TrainCase {
  id: string;
  /** How to build it again elsewhere (bench/train/cases.ts makeCase). */
  kind: 'lora' | 'full' | 'small';
  quick: boolean;
  config: GptConfig;
  /** Hugging Face GPT-2 names with the "transformer." prefix and HF layouts (Conv1D weights
   *  stored [in, out]; wte [vocab, n_embd] tied to the LM head). */
  weights: ReadonlyMap<string, Float32Array>;
  shapes: ReadonlyMap<string, readonly number[]>;
  B: number;
  T: number;
  /** [B*T] row-major token ids, next-token targets, and loss weights (0 or 1). */
  ids: Int32Array;
  targets: Int32Array;
  mask: Float32Array;
  mode: TrainMode;
  lora: LoraCaseSettings;
  optimizer: OptimizerSettings;
}

/** A library's training loop on one case, with its own copy of the weights. */
export interface Trainer {
  /** One step (forward, backward, clip, AdamW update); resolves with the mean masked loss it
   *  computed before the update, read back to the host. */
  step(): Promise<number>;
  /** n steps back to back without waiting in between; resolves with the last step's loss once
   *  it is on the host (so every step's GPU work has finished). */
  steps(n: number): Promise<number>;
  /** GPU bytes the library holds now for this trainer (weights, optimizer state, pooled
   *  buffers), or null when the library offers no way to tell. */
  gpuBytes(): number | null;
  /** Compute dispatches per step in the last steps() call, where the library can count them. */
  dispatchesPerStep?(): number | null;
  /** Milliseconds per step of the last steps() call as the trainer timed it itself (one
   *  running in another process excludes the messaging this way), or undefined. */
  lastStepMs?(): number | undefined;
  dispose(): void;
}

export interface TrainContender {
  /** 'ours', 'tfjs' or 'jaxjs'. */
  readonly lib: string;
  /** What Trainer.gpuBytes() counts, in words for the result; null when it reports nothing,
   *  so the runner opens no memory page for this library. */
  readonly memorySource: string | null;
  /** Adapter as this library's own device reports it. */
  adapterInfo(): string;
  prepare(c: TrainCase): Promise<Trainer>;
}

// Builds the training benchmark's cases from a loaded checkpoint and a text, with no I/O,
// so the page and Node scripts make identical cases.
import { expectedGpt2Tensors, type LoadedGpt2Checkpoint } from '../../src/checkpoint/gpt2Checkpoint';
import { byteTokenizer } from '../../src/tokenizer/byteTokenizer';
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

/** LoRA on the given projections of every block, A as PEFT initialises it and B small but not zero. */
export function loraSettings(ckpt: LoadedGpt2Checkpoint, rank: number, alpha: number, targets: readonly string[] = ['attn.c_attn'], seed = 7): LoraCaseSettings {
  const random = rng(seed);
  const A = new Map<string, Float32Array>();
  const B = new Map<string, Float32Array>();
  for (let l = 0; l < ckpt.config.n_layer; l++) {
    for (const t of targets) {
      const name = `transformer.h.${l}.${t}`;
      const bias = ckpt.tensors.get(`${name}.bias`);
      const weight = ckpt.tensors.get(`${name}.weight`);
      if (!bias || !weight) throw new Error(`loraSettings: the checkpoint has no projection ${name}`);
      const fanOut = bias.length;
      const fanIn = weight.length / fanOut;
      A.set(name, uniform(rank * fanIn, random, -1 / Math.sqrt(fanIn), 1 / Math.sqrt(fanIn)));
      B.set(name, uniform(fanOut * rank, random, -0.02, 0.02));
    }
  }
  return { rank, alpha, targets, A, B };
}

/** The cases `npm run bench:train` can run: a LoRA step and a full step on 16 x 128 tokens, and the small step. */
export type CaseKind = 'lora' | 'full' | 'small';
export const CASE_KINDS: readonly CaseKind[] = ['lora', 'full', 'small'];

/** `--quick`'s stand-in for the 16 x 128 batch. */
export const QUICK_SHAPE: CaseShape = { B: 2, T: 24, rank: 4, alpha: 8 };

/**
 * The small step continual learning takes: 16 short (prompt, answer) examples of 30 to 40
 * bytes (about 35 tokens), loss on the answer only (the last quarter of each), rows padded
 * to the longest, LoRA rank 8 on all four projections. Its share of the big step's tokens is
 * about 0.27, so a step costing no more than ~0.35 of the big one has little fixed overhead.
 */
export function makeSmallCase(ckpt: LoadedGpt2Checkpoint, text: Uint8Array, quick = false): TrainCase {
  const count = quick ? 2 : 16;
  const random = rng(11);
  const lengths = Array.from({ length: count }, () => 30 + Math.floor(random() * 11));
  const longest = Math.max(...lengths);
  const T = longest - 1;
  const B = count;
  const pad = byteTokenizer.specials.pad;
  const ids = new Int32Array(B * T).fill(pad);
  const targets = new Int32Array(B * T).fill(pad);
  const mask = new Float32Array(B * T);
  const stride = Math.floor((text.length - longest) / B);
  lengths.forEach((len, b) => {
    const start = b * stride;
    const answerFrom = len - Math.ceil(len / 4);
    for (let t = 0; t < len - 1; t++) {
      ids[b * T + t] = text[start + t];
      targets[b * T + t] = text[start + t + 1];
      if (t + 1 >= answerFrom) mask[b * T + t] = 1;
    }
  });
  const base = makeTrainCase(ckpt, text, 'lora', { B: 1, T: 2, rank: 8, alpha: 16 });
  return {
    ...base,
    id: `small-${B}x${T}`,
    kind: 'small',
    quick,
    B,
    T,
    ids,
    targets,
    mask,
    lora: loraSettings(ckpt, 8, 16, ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj']),
  };
}

/** One benchmark case by kind, identical wherever it is built (the page, the Node engine). */
export function makeCase(ckpt: LoadedGpt2Checkpoint, text: Uint8Array, kind: CaseKind, quick: boolean): TrainCase {
  if (kind === 'small') return makeSmallCase(ckpt, text, quick);
  return { ...makeTrainCase(ckpt, text, kind, quick ? QUICK_SHAPE : FULL_SHAPE), quick };
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
    kind: mode,
    quick: false,
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

import type { Parameter } from '../autograd/tape';
import type { GpuTensor } from '../gpu/tensor';
import type { GptModel } from '../model/gpt';
import type { EncodedPair, Tokenizer } from '../tokenizer/tokenizer';
import { rng, shuffleInPlace } from '../util/random';
import { makeBatch, releaseBatch, type GpuBatch } from './batch';
import { AdamW, DEFAULT_ADAMW, type AdamWSettings } from './optimizer';
import { learningRate, type LrSchedule } from './schedule';
import { trainStep, type LossTerm } from './trainStep';

/**
 * The one training loop every method runs: seeded shuffled mini-batches over epochs, a
 * step budget, each batch padded to its own longest example, gradient accumulation,
 * warm-up + cosine learning rate, AdamW on the GPU. Methods change what it trains (the
 * model's parameters and adapter pool, extra parameter groups added between steps) and
 * what it minimises (extra loss terms), not the loop.
 *
 * Losses are read back without stalling the GPU: step k+1 is queued before step k's loss
 * is awaited, so the device always has the next step while the CPU reports the last.
 */

export interface TrainerSettings {
  /** Examples per optimizer step (the last batch of an epoch may be smaller). */
  batchSize: number;
  /** Examples per forward pass (gradient accumulation when below batchSize). Default: batchSize. */
  microBatchSize?: number;
  /** Passes over the examples. */
  epochs: number;
  /** Optimizer steps at most; training ends there even inside an epoch. Default: no limit. */
  maxSteps?: number;
  peakLr: number;
  /** Linear warm-up steps (default 0), then cosine decay to minLr (default peakLr / 10). */
  warmupSteps?: number;
  minLr?: number;
  optimizer?: Partial<AdamWSettings>;
  /** Shuffling and dropout draw from it: a run is a function of its seed. */
  seed: number;
}

export interface StepReport {
  step: number;
  totalSteps: number;
  /** 1-based epoch of this step. */
  epoch: number;
  /** Mean masked loss over the step's answer tokens (nats per token). */
  loss: number;
  /** Values of the extra loss terms, in order (NaN where a term gave none). */
  terms: number[];
  learningRate: number;
  /** Answer tokens of this step (those that carry loss). */
  lossTokens: number;
  /** Tokens of this step, padding excluded. */
  tokens: number;
  /** Training tokens per second so far (padding excluded). */
  tokensPerSecond: number;
  secondsElapsed: number;
  etaSeconds: number;
}

export interface TrainHooks {
  /**
   * Called before each step is queued: return 'stop' to end the run there (a pause can
   * await here). `settle()` waits until every queued step has been reported (onStep), for
   * a caller that pauses or stops and wants the report of the step still in flight first.
   */
  beforeStep?: (step: number, settle: () => Promise<void>) => 'continue' | 'stop' | Promise<'continue' | 'stop'>;
  /** Called after step k was queued (and before any later step is), with k. */
  onQueued?: (step: number) => void;
  /** Called once each step's loss is known, in order. */
  onStep?: (report: StepReport) => void;
}

export interface TrainSummary {
  steps: number;
  totalSteps: number;
  stopped: boolean;
  /** Loss of the last step (NaN if none ran). */
  lastLoss: number;
  seconds: number;
  tokens: number;
  tokensPerSecond: number;
}

export class TrainerSettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrainerSettingsError';
  }
}

/** Refuses settings that cannot describe a run, naming the setting and its valid range. */
export function validateTrainerSettings(s: TrainerSettings): void {
  const positiveInt = (name: string, v: unknown) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
      throw new TrainerSettingsError(`${name} must be a positive integer (1, 2, 3, ...), got ${JSON.stringify(v)}`);
    }
  };
  positiveInt('batchSize', s.batchSize);
  if (s.microBatchSize !== undefined) {
    positiveInt('microBatchSize', s.microBatchSize);
    if (s.microBatchSize > s.batchSize) {
      throw new TrainerSettingsError(`microBatchSize must be in 1..batchSize (${s.batchSize}), got ${s.microBatchSize}`);
    }
  }
  positiveInt('epochs', s.epochs);
  if (s.maxSteps !== undefined) positiveInt('maxSteps', s.maxSteps);
  if (!(typeof s.peakLr === 'number' && s.peakLr > 0 && Number.isFinite(s.peakLr))) {
    throw new TrainerSettingsError(`peakLr must be a finite number > 0, got ${JSON.stringify(s.peakLr)}`);
  }
  const warmup = s.warmupSteps ?? 0;
  if (!Number.isInteger(warmup) || warmup < 0) throw new TrainerSettingsError(`warmupSteps must be an integer >= 0, got ${JSON.stringify(s.warmupSteps)}`);
  const minLr = s.minLr ?? s.peakLr / 10;
  if (!(minLr >= 0 && minLr <= s.peakLr)) throw new TrainerSettingsError(`minLr must be in [0, peakLr = ${s.peakLr}], got ${JSON.stringify(s.minLr)}`);
  if (!Number.isInteger(s.seed)) throw new TrainerSettingsError(`seed must be an integer, got ${JSON.stringify(s.seed)}`);
}

/** Optimizer steps of a run: epochs x ceil(examples / batchSize), capped by maxSteps. */
export function plannedSteps(s: Pick<TrainerSettings, 'batchSize' | 'epochs' | 'maxSteps'>, examples: number): number {
  const all = s.epochs * Math.ceil(examples / s.batchSize);
  return s.maxSteps === undefined ? all : Math.min(all, s.maxSteps);
}

/** Batches of example indices for every step: a fresh seeded permutation each epoch. */
export function batchPlan(s: Pick<TrainerSettings, 'batchSize' | 'epochs' | 'maxSteps' | 'seed'>, examples: number): { epoch: number; indices: number[] }[] {
  const random = rng(s.seed);
  const total = plannedSteps(s, examples);
  const plan: { epoch: number; indices: number[] }[] = [];
  for (let epoch = 1; plan.length < total; epoch++) {
    const order = shuffleInPlace(Array.from({ length: examples }, (_, i) => i), random);
    for (let at = 0; at < examples && plan.length < total; at += s.batchSize) plan.push({ epoch, indices: order.slice(at, at + s.batchSize) });
  }
  return plan;
}

export class Trainer {
  readonly optimizer: AdamW;
  private readonly groups: Parameter[] = [];
  private readonly terms: LossTerm[] = [];

  constructor(
    readonly model: GptModel,
    readonly tokenizer: Tokenizer,
    readonly settings: TrainerSettings,
  ) {
    validateTrainerSettings(settings);
    if (tokenizer.vocabSize > model.config.vocab_size) {
      throw new TrainerSettingsError(`the ${tokenizer.name} tokenizer has ${tokenizer.vocabSize} tokens but the model's vocab_size is ${model.config.vocab_size}`);
    }
    this.optimizer = new AdamW(model.ctx, { ...DEFAULT_ADAMW, ...settings.optimizer });
  }

  /** Adds a parameter group (trained from the next step on; frozen ones are skipped). */
  addParameters(params: Iterable<Parameter>): void {
    for (const p of params) if (!this.groups.includes(p)) this.groups.push(p);
  }

  /** Adds an extra loss term, applied once per step from the next step on. */
  addLossTerm(term: LossTerm): void {
    this.terms.push(term);
  }

  /**
   * Trains on encoded (prompt, answer) pairs. Each call is one run with its own schedule;
   * the optimizer's moments carry over between calls (dispose() frees them).
   */
  async train(examples: readonly EncodedPair[], hooks: TrainHooks = {}): Promise<TrainSummary> {
    if (examples.length === 0) throw new TrainerSettingsError('no training examples');
    const s = this.settings;
    const { ctx } = this.model;
    const plan = batchPlan(s, examples.length);
    const totalSteps = plan.length;
    const schedule: LrSchedule = { peakLr: s.peakLr, warmupSteps: s.warmupSteps ?? 0, totalSteps, minLr: s.minLr ?? s.peakLr / 10 };
    const micro = s.microBatchSize ?? s.batchSize;
    const started = performance.now();
    let tokensSeen = 0;
    let lastLoss = NaN;
    let stepsDone = 0;
    let stopped = false;

    interface Pending {
      step: number;
      epoch: number;
      lr: number;
      tokens: number;
      lossTokens: number;
      weights: number[];
      values: Promise<Float32Array[]>;
      terms: Promise<(Float32Array | null)[]>;
    }
    const readAll = async (ts: GpuTensor[]) => {
      try {
        return await Promise.all(ts.map((t) => ctx.readF32(t)));
      } finally {
        ctx.release(...ts);
      }
    };
    const report = async (p: Pending) => {
      const losses = await p.values;
      const terms = await p.terms;
      const loss = losses.reduce((sum, l, i) => sum + p.weights[i] * l[0], 0);
      if (!Number.isFinite(loss)) throw new Error(`loss became ${loss} at step ${p.step}: lower the learning rate`);
      lastLoss = loss;
      stepsDone = p.step;
      tokensSeen += p.tokens;
      const seconds = (performance.now() - started) / 1000;
      hooks.onStep?.({
        step: p.step,
        totalSteps,
        epoch: p.epoch,
        loss,
        terms: terms.map((t) => (t ? t[0] : NaN)),
        learningRate: p.lr,
        lossTokens: p.lossTokens,
        tokens: p.tokens,
        tokensPerSecond: tokensSeen / Math.max(seconds, 1e-9),
        secondsElapsed: seconds,
        etaSeconds: (seconds / p.step) * (totalSteps - p.step),
      });
    };

    let pending: Pending | null = null;
    const settle = async () => {
      const p = pending;
      pending = null;
      if (p) await report(p);
    };
    try {
      for (let k = 0; k < totalSteps; k++) {
        const step = k + 1;
        if ((await hooks.beforeStep?.(step, settle)) === 'stop') {
          stopped = true;
          break;
        }
        const { epoch, indices } = plan[k];
        const batches: GpuBatch[] = [];
        let tokens = 0;
        for (let at = 0; at < indices.length; at += micro) {
          const pairs = indices.slice(at, at + micro).map((i) => examples[i]);
          tokens += pairs.reduce((n, p) => n + p.ids.length, 0);
          batches.push(makeBatch(ctx, pairs, this.tokenizer.specials.pad));
        }
        const lr = learningRate(schedule, step);
        let r;
        try {
          r = trainStep(this.model, this.optimizer, batches, lr, s.seed, { parameters: this.groups, lossTerms: this.terms });
        } finally {
          for (const b of batches) releaseBatch(ctx, b);
        }
        if (r.gradNorm) ctx.release(r.gradNorm);
        const termTensors = r.termValues;
        const next: Pending = {
          step,
          epoch,
          lr,
          tokens,
          lossTokens: batches.reduce((n, b) => n + b.lossTokens, 0),
          weights: r.weights,
          // Started now, so the readback rides behind this step's work in the queue.
          values: readAll(r.losses),
          terms: Promise.all(termTensors.map((t) => (t ? readAll([t]).then((v) => v[0]) : Promise.resolve(null)))),
        };
        hooks.onQueued?.(step);
        const previous = pending;
        pending = next;
        if (previous) await report(previous);
      }
      await settle();
    } finally {
      // A failure mid-run must not leave readbacks unobserved.
      if (pending) await Promise.allSettled([pending.values, pending.terms]);
    }
    const seconds = (performance.now() - started) / 1000;
    return { steps: stepsDone, totalSteps, stopped, lastLoss, seconds, tokens: tokensSeen, tokensPerSecond: tokensSeen / Math.max(seconds, 1e-9) };
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}

/**
 * Encodes (prompt, answer) examples for training, counting those the context cut (the
 * prompt loses its start first). An example may carry SEE's marker and end without the end token.
 */
export function encodeExamples(
  tokenizer: Tokenizer,
  examples: readonly { prompt: string; answer: string; marker?: 'accept' | 'reject'; appendEnd?: boolean }[],
  maxLength: number,
): { pairs: EncodedPair[]; truncated: number } {
  let truncated = 0;
  const pairs = examples.map((e) => {
    const p = tokenizer.encodePair(e.prompt, e.answer, maxLength, { marker: e.marker, appendEnd: e.appendEnd });
    if (p.truncation) truncated++;
    return p;
  });
  return { pairs, truncated };
}

import type { AdapterSummary } from '../gpu/adapterInfo';
import type { MatmulTuning } from '../kernels/matmulTuning';
import type { Catalog, LabFromWorker, LabToWorker } from './labProtocol';
import { isLoraTarget, LORA_SLICE_TARGETS, LORA_TARGETS, type LoraTarget } from '../model/lora';

/**
 * Messages between the page and the training worker. The same engine answers them in a
 * browser Web Worker and in Node, so the page, the command line and the tests drive one
 * implementation.
 */

/** LoRA settings a job may ask for (targets default to the fused qkv projection). */
export interface JobLora {
  rank: number;
  alpha: number;
  dropout?: number;
  targets?: LoraTarget[];
}

/**
 * A fine-tuning job on (prompt, answer) examples. It starts from the shipped base model
 * unless `model` asks for a fresh byte-level model of that size; with `lora` the starting
 * weights stay frozen and only the adapter trains.
 */
export interface FinetuneJob {
  runId: string;
  examples: Array<{ prompt: string; answer: string }>;
  model?: { n_layer: number; n_head: number; n_embd: number; n_positions: number };
  lora?: JobLora;
  /** Optimizer steps (the budget): epochs over the examples repeat until it is spent. */
  steps: number;
  /** Examples per step; default min(16, examples). */
  batchSize?: number;
  /** Examples per forward pass (gradient accumulation); default batchSize. */
  microBatchSize?: number;
  peakLr: number;
  warmupSteps: number;
  seed: number;
}

export type ToWorker =
  | LabToWorker
  /** Optional, first: a matmul tuning result an earlier session posted as `tuned`. */
  | { type: 'init'; matmulTuning?: unknown }
  | { type: 'start'; job: FinetuneJob }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'stop' };

export interface Progress {
  type: 'progress';
  runId: string;
  step: number;
  totalSteps: number;
  /** Mean masked loss of the step, nats per answer token. */
  loss: number;
  learningRate: number;
  tokensPerSecond: number;
  etaSeconds: number;
}

export interface RunResult {
  type: 'result';
  runId: string;
  steps: number;
  seconds: number;
  finalLoss: number;
  /** Exact-match score (0-100) of greedy answers on the training examples. */
  exactMatch: number;
  answers: string[];
}

export type FromWorker =
  | LabFromWorker
  | { type: 'ready'; adapter: AdapterSummary; catalog: Catalog }
  /** The matmul variant measured (or adopted) for this adapter, for the page to keep. */
  | { type: 'tuned'; tuning: MatmulTuning; fromCache: boolean }
  | Progress
  | { type: 'paused'; runId: string; step: number }
  | { type: 'resumed'; runId: string; step: number }
  | { type: 'stopped'; runId: string; step: number }
  | RunResult
  | { type: 'error'; runId: string | null; message: string }
  /** The worker's GPU device is gone (driver reset, say): the page starts a new worker. */
  | { type: 'deviceLost'; reason: string };

/** Checks a job from an untrusted sender; returns a list of problems (empty when fine). */
export function validateJob(job: FinetuneJob): string[] {
  const problems: string[] = [];
  if (!job || typeof job !== 'object') return ['job is missing'];
  if (typeof job.runId !== 'string' || job.runId === '') problems.push('runId must be a non-empty string');
  if (!Array.isArray(job.examples) || job.examples.length === 0) problems.push('examples must be a non-empty list');
  else
    job.examples.forEach((e, i) => {
      if (typeof e?.prompt !== 'string' || typeof e?.answer !== 'string') {
        problems.push(`examples[${i}] must have string "prompt" and "answer"`);
      }
    });
  const ints: Array<[string, unknown]> = [['steps', job.steps]];
  if (job.batchSize !== undefined) ints.push(['batchSize', job.batchSize]);
  if (job.microBatchSize !== undefined) ints.push(['microBatchSize', job.microBatchSize]);
  if (job.model !== undefined) {
    ints.push(
      ['model.n_layer', job.model?.n_layer],
      ['model.n_head', job.model?.n_head],
      ['model.n_embd', job.model?.n_embd],
      ['model.n_positions', job.model?.n_positions],
    );
  }
  if (job.lora !== undefined) {
    ints.push(['lora.rank', job.lora?.rank]);
    if (!(job.lora?.alpha > 0)) problems.push('lora.alpha must be > 0');
    const d = job.lora?.dropout ?? 0;
    if (!(d >= 0 && d < 1)) problems.push('lora.dropout must be in [0, 1)');
    for (const t of job.lora?.targets ?? []) {
      if (!isLoraTarget(t)) {
        problems.push(`lora.targets: unknown projection "${t}" (known: ${[...LORA_TARGETS, ...LORA_SLICE_TARGETS].join(', ')})`);
      }
    }
  }
  for (const [k, v] of ints) if (!Number.isInteger(v) || (v as number) < 1) problems.push(`${k} must be a positive integer`);
  if (Number.isInteger(job.batchSize) && Number.isInteger(job.microBatchSize) && job.microBatchSize! > job.batchSize!) {
    problems.push(`microBatchSize must be in 1..batchSize (${job.batchSize})`);
  }
  if (!(job.peakLr > 0)) problems.push('peakLr must be > 0');
  if (!Number.isInteger(job.warmupSteps) || job.warmupSteps < 0) problems.push('warmupSteps must be a non-negative integer');
  if (!Number.isInteger(job.seed)) problems.push('seed must be an integer');
  return problems;
}

import { PRESETS, type Preset } from '../cl/presets';
import type { RunProgress } from '../cl/runStream';
import { METHODS } from '../methods/registry';
import type { SettingSpecs } from '../methods/settings';
import type { RunResults } from '../cl/results';
import type { Stream, Task } from '../data/task';
import type { SelfCheckResult } from '../diagnostics/kernelSelfCheck';
import type { BaseModelRecord } from '../model/baseModel';
import type { Inspection, InspectRequest } from '../methods/inspect';
import type { MethodAtStage } from './labRuns';

/**
 * The lab's messages to and from the engine's worker, beside the fine-tuning jobs of
 * protocol.ts. Requests carry an id and get exactly one `reply` with it; an experiment
 * streams `runProgress` and `stageDone` events and ends with `runDone`, `stopped` or an
 * `error` naming its runId. The page never touches the GPU: all of this runs in the worker.
 */

/** What a person sets up in the lab: everything a run needs besides the stream's data. */
export interface Experiment {
  methods: { id: string; settings?: Record<string, unknown> }[];
  seed: number;
  /** A preset name of src/cl/presets.ts. */
  preset: string;
}

/** Which model a generation runs on: the base, or a method's as it stood after a stage. */
export type ModelRef = { kind: 'base' } | ({ kind: 'method' } & MethodAtStage);

/** What the engine offers, sent with `ready` so the page needs none of the engine's code. */
export interface Catalog {
  methods: { id: string; summary: string; stages: 'sequential' | 'joint'; settings: SettingSpecs }[];
  presets: Preset[];
}

export function engineCatalog(): Catalog {
  return {
    methods: METHODS.map((m) => ({ id: m.id, summary: m.summary, stages: m.stages, settings: m.settings })),
    presets: Object.values(PRESETS),
  };
}

/** The model every run starts from: the shipped base, or a GPT-2-family checkpoint the person gave. */
export interface ModelFacts {
  /** "shipped base", or the checkpoint's file names. */
  source: string;
  shipped: boolean;
  /** What pretraining recorded (the shipped base only). */
  record: BaseModelRecord | null;
  config: { n_layer: number; n_head: number; n_embd: number; n_positions: number; vocab_size: number };
  parameters: number;
  tokenizer: string;
  /** Size of the weights file in bytes. */
  bytes: number;
  /** What the loader accepted with a remark (an untied head copy, F16 widened, extra tensors). */
  warnings: string[];
}

/** A checkpoint given in the page: config.json's text and model.safetensors' bytes. */
export interface ModelFiles {
  configText: string;
  weights: Uint8Array;
  /** File names, for messages ("which file"). */
  configName: string;
  weightsName: string;
}

export type LabRequest =
  /** Every kernel against a float64 CPU reference on this adapter. */
  | { kind: 'selfCheck' }
  /** The facts of the model runs start from (loaded once and kept). */
  | { kind: 'model' }
  /** Runs start from this checkpoint from now on (null: the shipped base again); refused with the file, tensor and reason. */
  | { kind: 'setModel'; files: ModelFiles | null }
  /** Continues a prompt (text in, text out). */
  | { kind: 'generate'; from: ModelRef; prompt: string; maxNewTokens: number; temperature: number; seed: number }
  /** SEE's or MoSEs' gates for one prompt, from the state a run saved after a stage. */
  | { kind: 'inspect'; at: MethodAtStage; request: InspectRequest }
  /** A method's adapters after a stage in PEFT's format, one folder each. */
  | { kind: 'exportAdapters'; at: MethodAtStage };

export interface LabReplies {
  selfCheck: { results: SelfCheckResult[]; tolerance: number };
  model: ModelFacts;
  setModel: ModelFacts;
  generate: { text: string };
  inspect: Inspection;
  exportAdapters: { name: string; files: [string, Uint8Array][] }[];
}

export type LabToWorker =
  | { type: 'request'; id: number; request: LabRequest }
  /**
   * Runs an experiment's methods over the stream (the preset's limits already applied by the
   * worker). With `resumeFrom`, finished stages are kept and each unfinished method continues
   * from the state it saved after its last finished stage.
   */
  | { type: 'runExperiment'; runId: string; experiment: Experiment; stream: Stream; ood?: Task[]; resumeFrom?: RunResults };

export type LabFromWorker =
  | { type: 'reply'; id: number; ok: true; value: LabReplies[LabRequest['kind']] }
  | { type: 'reply'; id: number; ok: false; error: string }
  | { type: 'runProgress'; runId: string; progress: RunProgress; gpuBytes: number }
  /**
   * After every finished stage (method null: the base row): the results so far, and the
   * answers behind the stage's row (per task, one per test prompt).
   */
  | { type: 'stageDone'; runId: string; results: RunResults; method: string | null; stage: number; answers: string[][] }
  | { type: 'runDone'; runId: string; results: RunResults };

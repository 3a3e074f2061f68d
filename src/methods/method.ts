import type { Example } from '../data/examples';
import type { Task } from '../data/task';
import type { GpuContext } from '../gpu/context';
import type { GptModel } from '../model/gpt';
import type { Tokenizer } from '../tokenizer/tokenizer';
import type { Trainer, TrainerSettings } from '../train/trainer';
import type { SettingSpecs, SettingValue } from './settings';

/**
 * One interface for every continual-learning method. A method is hooks around the one
 * trainer and the one evaluator, never its own loop: the stream runner (src/cl/) asks it
 * for a stage's examples and training settings, lets it add parameters and loss terms to
 * the stage's trainer, trains, tells it the stage ended, and scores every task with its
 * `predict`. Adapter-based methods are configurations of the model's adapter pool.
 */

/** A training example; SEE puts a marker before the answer, and its reject targets end there. */
export interface TrainingExample extends Example {
  marker?: 'accept' | 'reject';
  appendEnd?: boolean;
}

/** Run-level training settings (the preset's), shared by every method of a run. */
export interface StageBudget {
  /** Optimizer steps per task (MTL trains tasks x steps on the mixture). */
  steps: number;
  batchSize: number;
  warmupSteps: number;
}

/** What a method is given when it is created (a fresh copy of the base, per method). */
export interface MethodEnv {
  ctx: GpuContext;
  model: GptModel;
  tokenizer: Tokenizer;
  tasks: readonly Task[];
  budget: StageBudget;
  /** The run's seed; a method derives its own seeds from it (seedFor). */
  seed: number;
  /** Prompts per generation batch while scoring (default: the evaluator's). */
  evalBatch?: number;
  /** Tasks never trained (--ood), for the methods that decide who answers (SEE's rejection rate). */
  ood?: readonly Task[];
}

export interface StagePlan {
  examples: TrainingExample[];
  trainer: TrainerSettings;
  /** Training the method ran itself while preparing the stage (MoSEs' router probe), counted in the stage's time and tokens. */
  pretrained?: { seconds: number; tokens: number };
}

/** The state after a stage, enough to continue the run from there bit for bit. */
export interface MethodState {
  tensors: Map<string, Float32Array>;
  /** JSON-serialisable extra state (a replay buffer, say). */
  meta: unknown;
}

export interface ExportedAdapter {
  /** Folder name, e.g. `adapter` or `expert2-capitals`. */
  name: string;
  /** File name -> bytes: adapter_config.json and adapter_model.safetensors at least. */
  files: Map<string, Uint8Array>;
}

export interface ParameterCounts {
  /** Parameters that trained in the last stage. */
  trainable: number;
  /** Parameters the method keeps besides the shipped base (the whole model for SeqFT). */
  stored: number;
}

export interface ContinualMethod {
  readonly id: string;
  /** Resolved settings, written to results.json. */
  readonly settings: Readonly<Record<string, SettingValue>>;
  /**
   * `sequential`: one stage per task, a full transfer matrix. `joint`: one stage on every
   * task at once (MTL), scored as the last row only.
   */
  readonly stages: 'sequential' | 'joint';
  /** Prepares stage t (0-based task index; the joint stage is n - 1) and says what to train on. */
  beginStage(t: number): Promise<StagePlan> | StagePlan;
  /** Adds parameter groups and loss terms to the stage's trainer. */
  configureTrainer?(trainer: Trainer, t: number): void;
  /** After stage t trained (freeze, compute a Fisher, fill a buffer). */
  endStage(t: number): Promise<void> | void;
  /** Answers to a task's examples as the method stands now (t is the task's index, for task-aware methods). */
  predict(examples: readonly Example[], task: Task, t: number): Promise<string[]>;
  parameterCounts(): ParameterCounts;
  /**
   * Method-specific records after a stage's scoring, merged into the method's entry of
   * results.json: SEE's `routing`; MoSEs' `R_til`, `taskId`, `usage`, `capacity` and the rest
   * (README, results.json). They may not reuse the runner's keys (R, OP, params, ...).
   */
  records?(): Promise<Record<string, unknown>>;
  /**
   * The method's adapters in Hugging Face PEFT's LoRA format, one folder each (named), with
   * any extra file a folder needs beside PEFT's two. Absent where the method keeps no plain
   * LoRA adapter (SeqFT changes the whole model; MoSEs' routed sub-experts have no PEFT form).
   */
  exportAdapters?(): Promise<ExportedAdapter[]>;
  saveState(): Promise<MethodState>;
  /** Restores the state saved after stage `t`. */
  loadState(state: MethodState, t: number): Promise<void> | void;
  dispose(): void;
}

export interface MethodDefinition {
  id: string;
  /** One line for listings. */
  summary: string;
  /** As the method's `stages`: known before one is created (the runner plans its work with it). */
  stages: 'sequential' | 'joint';
  settings: SettingSpecs;
  create(env: MethodEnv, settings: Readonly<Record<string, unknown>>): ContinualMethod;
}

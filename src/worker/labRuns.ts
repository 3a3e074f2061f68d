import { decodeMethodState, encodeMethodState } from '../cl/methodState';
import { applyPreset, PRESETS, type Preset } from '../cl/presets';
import type { RunResults } from '../cl/results';
import { runStream, type RunCallbacks } from '../cl/runStream';
import { stateKey, type StateStore } from '../cl/stateStore';
import type { Stream, Task } from '../data/task';
import type { GpuContext } from '../gpu/context';
import type { MatmulTuning } from '../kernels/matmulTuning';
import type { ContinualMethod, MethodEnv } from '../methods/method';
import { inspectState, type Inspection, type InspectRequest } from '../methods/inspect';
import { methodDefinition } from '../methods/registry';
import { loadGpt2Checkpoint } from '../checkpoint/gpt2Checkpoint';
import { gptParameterCount, type GptConfig } from '../model/config';
import { tokenizerForConfig } from '../model/modelTokenizer';
import { GptModel } from '../model/gpt';
import type { Tokenizer } from '../tokenizer/tokenizer';
import type { Experiment, ModelFacts, ModelFiles } from './labProtocol';

/**
 * The lab's experiments as the worker runs them: the same stream runner the command line
 * uses (src/cl/runStream.ts), with each method's state after every stage kept in a
 * StateStore, so that a run resumes after a reload and any stage can be inspected, played
 * with or exported later.
 */

/** The shipped base on the CPU: each method starts from a fresh GPU copy of it. */
export interface BaseWeights {
  config: GptConfig;
  tensors: ReadonlyMap<string, Float32Array>;
  tokenizer: Tokenizer;
  source: string;
}

export function modelFacts(base: BaseWeights, rest: Omit<ModelFacts, 'config' | 'parameters' | 'tokenizer'>): ModelFacts {
  const c = base.config;
  return {
    ...rest,
    config: { n_layer: c.n_layer, n_head: c.n_head, n_embd: c.n_embd, n_positions: c.n_positions, vocab_size: c.vocab_size },
    parameters: gptParameterCount(c).total,
    tokenizer: base.tokenizer.name,
  };
}

/** A GPT-2-family checkpoint given in the page, checked (errors name the file, the tensor and what was expected). */
export async function customModel(files: ModelFiles): Promise<BaseWeights & { facts: ModelFacts }> {
  const loaded = loadGpt2Checkpoint(files.configText, files.weights, { config: files.configName, weights: files.weightsName });
  const tokenizer = await tokenizerForConfig(loaded.config, files.configName);
  const source = `${files.configName} + ${files.weightsName}`;
  const base = { config: loaded.config, tensors: loaded.tensors, tokenizer, source };
  return { ...base, facts: modelFacts(base, { source, shipped: false, record: null, bytes: files.weights.byteLength, warnings: loaded.warnings }) };
}

export class ExperimentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExperimentError';
  }
}

export function presetOf(experiment: Experiment): Preset {
  const preset = PRESETS[experiment.preset];
  if (!preset) throw new ExperimentError(`unknown preset "${experiment.preset}" (known: ${Object.keys(PRESETS).join(', ')})`);
  return preset;
}

/** The stream as the run sees it: the preset's limits applied (seeded, so every call gives the same). */
export function runStreamOf(experiment: Experiment, stream: Stream): Stream {
  if (!stream?.tasks?.length) throw new ExperimentError('the stream has no tasks');
  return applyPreset(stream, presetOf(experiment), experiment.seed);
}

function runOod(experiment: Experiment, ood: readonly Task[] | undefined): Task[] | undefined {
  if (!ood?.length) return undefined;
  const preset = presetOf(experiment);
  return applyPreset({ name: 'ood', tasks: [...ood] }, { ...preset, maxTasks: ood.length }, experiment.seed).tasks;
}

export interface ExperimentHooks {
  beforeStep: NonNullable<RunCallbacks['beforeStep']>;
  onProgress: NonNullable<RunCallbacks['onProgress']>;
  onStageDone(results: RunResults, method: string | null, stage: number, answers: string[][]): void;
}

export async function runExperiment(
  ctx: GpuContext,
  base: BaseWeights,
  states: StateStore,
  run: { runId: string; experiment: Experiment; stream: Stream; ood?: Task[]; resumeFrom?: RunResults; matmulTuning?: MatmulTuning },
  hooks: ExperimentHooks,
): Promise<RunResults> {
  const { experiment, runId } = run;
  if (!Array.isArray(experiment?.methods) || experiment.methods.length === 0) throw new ExperimentError('pick at least one method');
  if (!Number.isInteger(experiment.seed)) throw new ExperimentError(`the seed must be a whole number, got ${experiment.seed}`);
  for (const m of experiment.methods) methodDefinition(m.id);
  const stream = runStreamOf(experiment, run.stream);
  if (!run.resumeFrom) await states.removePrefix(`${runId}/`);
  return runStream(
    {
      ctx,
      base: { config: base.config, tensors: base.tensors, source: base.source },
      tokenizer: base.tokenizer,
      stream,
      preset: presetOf(experiment),
      seed: experiment.seed,
      methods: experiment.methods,
      matmulTuning: run.matmulTuning,
      ood: runOod(experiment, run.ood),
    },
    {
      beforeStep: hooks.beforeStep,
      onProgress: hooks.onProgress,
      onStageDone: async (results, method, stage, state, answers) => {
        // The state first: results that name a finished stage always have its state beside them.
        if (method && state) await states.put(stateKey(runId, method, stage), encodeMethodState(state, { method, stage: String(stage) }));
        hooks.onStageDone(results, method, stage, answers);
      },
      loadState: async (method, stage) => {
        const bytes = await states.get(stateKey(runId, method, stage));
        return bytes ? decodeMethodState(bytes, `${method} after stage ${stage}`) : null;
      },
    },
    run.resumeFrom,
  );
}

/** Where a request finds a method after a stage: the run's definition and the stage. */
export interface MethodAtStage {
  runId: string;
  experiment: Experiment;
  stream: Stream;
  method: string;
  /** Stages finished (1-based). */
  stage: number;
}

async function withMethodEnv<T>(ctx: GpuContext, base: BaseWeights, at: MethodAtStage, use: (env: MethodEnv, settings: Record<string, unknown>) => Promise<T>): Promise<T> {
  const entry = at.experiment.methods.find((m) => m.id === at.method);
  if (!entry) throw new ExperimentError(`${at.method} is not a method of this run`);
  const stream = runStreamOf(at.experiment, at.stream);
  const model = GptModel.fromTensors(ctx, base.config, base.tensors);
  try {
    const env: MethodEnv = { ctx, model, tokenizer: base.tokenizer, tasks: stream.tasks, budget: presetOf(at.experiment).budget, seed: at.experiment.seed };
    return await use(env, entry.settings ?? {});
  } finally {
    model.dispose();
  }
}

async function loadStageState(states: StateStore, at: MethodAtStage) {
  const bytes = await states.get(stateKey(at.runId, at.method, at.stage));
  if (!bytes) throw new ExperimentError(`no saved state of ${at.method} after stage ${at.stage} (not trained yet, or the run was cleared)`);
  return decodeMethodState(bytes, `${at.method} after stage ${at.stage}`);
}

/** SEE's or MoSEs' gates for one prompt, as the method stood after the stage. */
export async function inspectAt(ctx: GpuContext, base: BaseWeights, states: StateStore, at: MethodAtStage, req: InspectRequest): Promise<Inspection> {
  if (at.method !== 'see' && at.method !== 'moses') throw new ExperimentError(`${at.method} has no gates to inspect (SEE and MoSEs do)`);
  const state = await loadStageState(states, at);
  return withMethodEnv(ctx, base, at, (env, settings) => inspectState(env, at.method, settings, state, at.stage, req));
}

/**
 * One prompt answered greedily as the method stood after the stage (its own predict: SEE
 * routes, MoSEs infers the task, the others run their adapters).
 */
export async function answerAt(ctx: GpuContext, base: BaseWeights, states: StateStore, at: MethodAtStage, prompt: string, maxNewTokens: number): Promise<string> {
  const state = await loadStageState(states, at);
  return withMethodEnv(ctx, base, at, async (env, settings) => {
    let method: ContinualMethod | null = null;
    try {
      method = methodDefinition(at.method).create(env, settings);
      await method.loadState(state, at.stage - 1);
      // A task of its own, outside the stream: no method keeps records of it.
      const task: Task = { name: 'playground', metric: 'exact_match', maxAnswerTokens: maxNewTokens, testKind: 'heldout', description: '', train: [], test: [] };
      const [answer] = await method.predict([{ prompt, answer: '' }], task, env.tasks.length);
      return answer;
    } finally {
      method?.dispose();
    }
  });
}

/** Why a method has no adapters to export, in words for the page. */
const NO_ADAPTERS: Record<string, string> = {
  seqft: 'SeqFT fine-tunes every weight of the model: it has no adapter to export',
  moses: "MoSEs' routed sub-experts and routers have no form in PEFT's LoRA format",
};

/** The method's adapters after the stage, as PEFT folders (name, then file name and bytes). */
export async function exportAt(ctx: GpuContext, base: BaseWeights, states: StateStore, at: MethodAtStage): Promise<{ name: string; files: [string, Uint8Array][] }[]> {
  if (NO_ADAPTERS[at.method]) throw new ExperimentError(NO_ADAPTERS[at.method]);
  const state = await loadStageState(states, at);
  return withMethodEnv(ctx, base, at, async (env, settings) => {
    let method: ContinualMethod | null = null;
    try {
      method = methodDefinition(at.method).create(env, settings);
      if (!method.exportAdapters) throw new ExperimentError(`${at.method} keeps no plain LoRA adapter to export`);
      await method.loadState(state, at.stage - 1);
      return (await method.exportAdapters()).map((a) => ({ name: a.name, files: [...a.files] }));
    } finally {
      method?.dispose();
    }
  });
}

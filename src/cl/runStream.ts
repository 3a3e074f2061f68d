import type { Stream, Task } from '../data/task';
import { predictTask } from '../eval/evaluate';
import { scoreAll } from '../eval/metrics';
import { summariseTransfer } from '../eval/transfer';
import type { GpuContext } from '../gpu/context';
import type { MatmulTuning } from '../kernels/matmulTuning';
import { gptParameterCount, type GptConfig } from '../model/config';
import { GptModel } from '../model/gpt';
import type { ContinualMethod, MethodState } from '../methods/method';
import { methodDefinition } from '../methods/registry';
import { resolveSettings } from '../methods/settings';
import type { Tokenizer } from '../tokenizer/tokenizer';
import { encodeExamples, Trainer } from '../train/trainer';
import type { Preset } from './presets';
import { RESULTS_VERSION, RUNNER_KEYS, type MethodResult, type RunResults } from './results';

/**
 * Runs methods over a task stream: for each method, a fresh copy of the base; for each
 * stage, the method's examples through the one trainer, then every task's test split
 * (past, current and future) through the method's predict, giving the transfer matrix row.
 * After every finished stage the caller gets the results so far and the method's state, so
 * an interrupted run loses at most one stage and resumes from there with the same results.
 */

export interface RunPlan {
  ctx: GpuContext;
  base: { config: GptConfig; tensors: ReadonlyMap<string, Float32Array>; source: string };
  tokenizer: Tokenizer;
  /** The stream with the preset's limits applied. */
  stream: Stream;
  preset: Preset;
  seed: number;
  methods: { id: string; settings?: Record<string, unknown> }[];
  /** Prompts per generation batch while scoring. */
  evalBatch?: number;
  /** The matmul variant measurement in use, recorded in results.json so a resumed run can use it again. */
  matmulTuning?: MatmulTuning;
  /**
   * Continual evaluation: also score the tasks seen so far every N steps inside each stage
   * (shows the stability gap, the dip right after a task switch). Off (0) by default.
   */
  evalEvery?: number;
  /** Tasks never trained, scored by the methods that route (SEE's out-of-distribution rejection). */
  ood?: readonly Task[];
}

export interface RunProgress {
  method: string;
  methodIndex: number;
  methods: number;
  /** 1-based stage and the stage count of this method. */
  stage: number;
  stages: number;
  task: string;
  phase: 'train' | 'eval';
  step: number;
  steps: number;
  loss: number;
  /** Training tokens per second of the stage so far (NaN while scoring). */
  tokensPerSecond: number;
  /** Seconds left for the whole run, from the step and scoring rates measured so far (NaN until known). */
  etaSeconds: number;
}

export interface RunCallbacks {
  onProgress?(p: RunProgress): void;
  /**
   * After each finished stage (and after the base row, with method and state null): persist
   * the results and the method's state after the stage (the last stage's too: the lab
   * inspects and exports it). `answers` are the method's answers to each task's test
   * prompts behind the stage's row of R (the lab lists them under a clicked cell).
   */
  onStageDone?(results: RunResults, method: string | null, stage: number, state: MethodState | null, answers: string[][]): Promise<void> | void;
  /**
   * Before each training step is queued: 'stop' ends the run there (RunStopped), leaving
   * the results of the finished stages; a pause is this promise not resolving yet. `settle`
   * waits for the steps already queued, so their progress is reported first.
   */
  beforeStep?(settle: () => Promise<void>): Promise<'continue' | 'stop'>;
  /** The state a method saved after `stage` (1-based), for a resumed run. */
  loadState?(method: string, stage: number): Promise<MethodState | null> | MethodState | null;
}

/** A run stopped on request between two steps; the finished stages' results stand. */
export class RunStopped extends Error {
  constructor(readonly method: string, readonly stage: number) {
    super(`stopped during ${method}'s stage ${stage}`);
    this.name = 'RunStopped';
  }
}

export class ResumeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ResumeError';
  }
}

function emptyResult(method: ContinualMethod, n: number): MethodResult {
  return {
    settings: { ...method.settings } as MethodResult['settings'],
    stages: method.stages,
    stagesDone: 0,
    done: false,
    R: Array.from({ length: n + 1 }, () => null),
    OP: null,
    BWT: null,
    FWT: null,
    forgetting: Array.from({ length: n }, () => null),
    params: { trainable: Array.from({ length: n }, () => null), stored: Array.from({ length: n }, () => null) },
    finalLoss: Array.from({ length: n }, () => null),
    tokensPerSecond: 0,
    tokens: 0,
    seconds: { train: 0, eval: 0 },
  };
}

function freshResults(plan: RunPlan, adapter: string): RunResults {
  const c = plan.base.config;
  return {
    version: RESULTS_VERSION,
    streamName: plan.stream.name,
    stream: plan.stream.tasks.map((t) => ({ name: t.name, metric: t.metric, test_kind: t.testKind, train: t.train.length, test: t.test.length, truncated: 0 })),
    seed: plan.seed,
    preset: plan.preset.name,
    model: {
      source: plan.base.source,
      n_layer: c.n_layer,
      n_embd: c.n_embd,
      n_head: c.n_head,
      n_positions: c.n_positions,
      vocab_size: c.vocab_size,
      parameters: gptParameterCount(c).total,
      tokenizer: plan.tokenizer.name,
    },
    base: null,
    methods: {},
    environment: { adapter, startedAt: new Date().toISOString(), ...(plan.matmulTuning ? { matmulTuning: plan.matmulTuning } : {}) },
  };
}

/** Refuses to resume results made with another stream, seed, preset or method settings. */
function checkResumable(prev: RunResults, next: RunResults): void {
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  if (prev.version !== RESULTS_VERSION) throw new ResumeError(`results version ${prev.version}, this runner writes ${RESULTS_VERSION}`);
  if (prev.seed !== next.seed) throw new ResumeError(`the results were made with --seed ${prev.seed}, not ${next.seed}`);
  if (prev.preset !== next.preset) throw new ResumeError(`the results were made with --preset ${prev.preset}, not ${next.preset}`);
  if (!same(prev.stream, next.stream)) throw new ResumeError('the results were made on another stream (task names or sizes differ)');
  if (!same(prev.model, next.model)) throw new ResumeError('the results were made with another model');
}

export async function runStream(plan: RunPlan, callbacks: RunCallbacks = {}, resumeFrom?: RunResults): Promise<RunResults> {
  const { ctx, tokenizer } = plan;
  const tasks = plan.stream.tasks;
  const n = tasks.length;
  if (n === 0) throw new Error('the stream has no tasks');
  const adapter = `${ctx.adapter.vendor}/${ctx.adapter.architecture} ${ctx.adapter.description}`.trim();
  const results = freshResults(plan, adapter);
  const defs = plan.methods.map((m) => ({ ...m, def: methodDefinition(m.id) }));
  // Bad settings are refused before any GPU work, not after the base row has been scored.
  for (const d of defs) resolveSettings(d.id, d.def.settings, d.settings ?? {});
  if (resumeFrom) {
    // The caller's copy stays as it was: the run fills in its own.
    resumeFrom = structuredClone(resumeFrom);
    checkResumable(resumeFrom, results);
    results.base = resumeFrom.base;
    results.environment = resumeFrom.environment;
    for (const [id, r] of Object.entries(resumeFrom.methods)) if (defs.some((d) => d.id === id)) results.methods[id] = r;
  }

  // Encoded once per task; methods that train on something else encode their own mix.
  const maxLen = plan.base.config.n_positions;
  results.stream.forEach((s, i) => (s.truncated = encodeExamples(tokenizer, tasks[i].train, maxLen).truncated));

  // Work left, for the ETA: training steps and test examples to score.
  const testExamples = tasks.reduce((a, t) => a + t.test.length, 0);
  const steps = plan.preset.budget.steps;
  let stepsLeft = 0;
  let scoringLeft = results.base ? 0 : testExamples;
  for (const d of defs) {
    const done = results.methods[d.id]?.stagesDone ?? 0;
    const joint = d.def.stages === 'joint';
    stepsLeft += joint ? (done ? 0 : n * steps) : (n - done) * steps;
    scoringLeft += joint ? (done ? 0 : testExamples) : (n - done) * testExamples;
  }
  let secPerStep = NaN;
  let secPerScored = NaN;
  const eta = () => stepsLeft * (Number.isNaN(secPerStep) ? 0 : secPerStep) + scoringLeft * (Number.isNaN(secPerScored) ? 0 : secPerScored) || NaN;

  const evalEvery = plan.evalEvery ?? 0;
  if (!Number.isInteger(evalEvery) || evalEvery < 0) throw new Error(`evalEvery must be a whole number of steps (0 = off), got ${evalEvery}`);
  const freshModel = () => GptModel.fromTensors(ctx, plan.base.config, plan.base.tensors);
  let answers: string[][] = [];
  const scoreRow = async (predict: (task: Task, t: number) => Promise<string[]>, report: (task: Task) => void): Promise<number[]> => {
    const row: number[] = [];
    answers = [];
    for (const [j, task] of tasks.entries()) {
      report(task);
      const started = performance.now();
      const predictions = await predict(task, j);
      answers.push(predictions);
      row.push(scoreAll(task.metric, predictions, task.test.map((e) => e.answer)));
      const seconds = (performance.now() - started) / 1000;
      secPerScored = Number.isNaN(secPerScored) ? seconds / task.test.length : 0.7 * secPerScored + (0.3 * seconds) / task.test.length;
      scoringLeft -= task.test.length;
    }
    return row;
  };

  if (!results.base) {
    const model = freshModel();
    try {
      results.base = await scoreRow(
        (task) => predictTask(model, tokenizer, task.test, task, plan.evalBatch),
        (task) =>
          callbacks.onProgress?.({ method: 'base', methodIndex: 0, methods: defs.length, stage: 0, stages: n, task: task.name, phase: 'eval', step: 0, steps: 0, loss: NaN, tokensPerSecond: NaN, etaSeconds: eta() }),
      );
    } finally {
      model.dispose();
    }
    await callbacks.onStageDone?.(results, null, 0, null, answers);
  }

  for (const [mi, d] of defs.entries()) {
    const prior = results.methods[d.id];
    if (prior?.done) continue;
    const model = freshModel();
    const method = d.def.create({ ctx, model, tokenizer, tasks, budget: plan.preset.budget, seed: plan.seed, evalBatch: plan.evalBatch, ood: plan.ood }, d.settings ?? {});
    try {
      const r = prior ?? emptyResult(method, n);
      if (prior && JSON.stringify(prior.settings) !== JSON.stringify(method.settings)) {
        throw new ResumeError(`${d.id} was run with settings ${JSON.stringify(prior.settings)}, not ${JSON.stringify(method.settings)}`);
      }
      r.R[0] = [...results.base!];
      if (evalEvery) r.continual ??= [];
      results.methods[d.id] = r;
      const stageList = method.stages === 'joint' ? [n - 1] : tasks.map((_, t) => t);
      if (r.stagesDone > 0) {
        const state = await callbacks.loadState?.(d.id, r.stagesDone);
        if (!state) throw new ResumeError(`no saved state of ${d.id} after stage ${r.stagesDone}: cannot resume it`);
        await method.loadState(state, r.stagesDone - 1);
      }
      for (const [si, t] of stageList.entries()) {
        if (si < r.stagesDone) continue;
        const stageNo = si + 1;
        const report = (p: Pick<RunProgress, 'task' | 'phase' | 'step' | 'steps' | 'loss' | 'tokensPerSecond'>) =>
          callbacks.onProgress?.({ method: d.id, methodIndex: mi, methods: defs.length, stage: stageNo, stages: stageList.length, ...p, etaSeconds: eta() });
        const plan1 = await method.beginStage(t);
        const { pairs } = encodeExamples(tokenizer, plan1.examples, maxLen);
        const trainer = new Trainer(model, tokenizer, plan1.trainer);
        method.configureTrainer?.(trainer, t);
        const trainTask = method.stages === 'joint' ? 'all tasks' : tasks[t].name;
        let summary;
        try {
          summary = await trainer.train(pairs, {
            beforeStep: async (step, settle): Promise<'continue' | 'stop'> => {
              if ((await callbacks.beforeStep?.(settle)) === 'stop') return 'stop';
              if (!evalEvery || step === 1 || (step - 1) % evalEvery !== 0 || method.stages === 'joint') return 'continue';
              // The steps queued so far finish first, so the scores are those of step - 1.
              await settle();
              const started = performance.now();
              const scores: (number | null)[] = [];
              for (const [j, task] of tasks.entries()) {
                scores.push(j <= t ? scoreAll(task.metric, await method.predict(task.test, task, j), task.test.map((e) => e.answer)) : null);
              }
              r.continual!.push({ stage: stageNo, step: step - 1, scores });
              r.seconds.eval += (performance.now() - started) / 1000;
              return 'continue';
            },
            onStep: (s) => {
              secPerStep = s.secondsElapsed / s.step;
              stepsLeft--;
              report({ task: trainTask, phase: 'train', step: s.step, steps: s.totalSteps, loss: s.loss, tokensPerSecond: s.tokensPerSecond });
            },
          });
        } finally {
          trainer.dispose();
        }
        if (summary.stopped) throw new RunStopped(d.id, stageNo);
        // Steps the plan counted but the data did not need (a small task's last epoch).
        stepsLeft -= Math.max(0, (method.stages === 'joint' ? n * steps : steps) - summary.steps);
        await method.endStage(t);
        r.seconds.train += summary.seconds + (plan1.pretrained?.seconds ?? 0);
        r.tokens += summary.tokens + (plan1.pretrained?.tokens ?? 0);
        r.tokensPerSecond = r.tokens / Math.max(r.seconds.train, 1e-9);
        r.finalLoss[t] = summary.lastLoss;
        const counts = method.parameterCounts();
        r.params.trainable[t] = counts.trainable;
        r.params.stored[t] = counts.stored;

        const evalStart = performance.now();
        r.R[t + 1] = await scoreRow(
          (task, j) => method.predict(task.test, task, j),
          (task) => report({ task: task.name, phase: 'eval', step: 0, steps: 0, loss: summary.lastLoss, tokensPerSecond: NaN }),
        );
        if (method.records) {
          const records = await method.records();
          const taken = Object.keys(records).filter((k) => (RUNNER_KEYS as readonly string[]).includes(k));
          if (taken.length) throw new Error(`${d.id}'s records use the runner's keys ${taken.join(', ')}`);
          Object.assign(r, records);
        }
        r.seconds.eval += (performance.now() - evalStart) / 1000;
        r.stagesDone = stageNo;
        r.done = stageNo === stageList.length;
        if (r.done) Object.assign(r, summariseTransfer(r.R));
        await callbacks.onStageDone?.(results, d.id, stageNo, await method.saveState(), answers);
      }
    } finally {
      method.dispose();
      model.dispose();
    }
  }
  return results;
}

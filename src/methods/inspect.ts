import type { MethodEnv, MethodState } from './method';
import { Moses, type ProjectionGates } from './moses';
import { methodDefinition } from './registry';
import { See } from './see';

/**
 * Gate inspection for the lab (called from its worker): a method's state after a stage and
 * one prompt in; what decided the answer out. SEE: every expert's acceptance in asking
 * order (newest first), who answered, and the answer. MoSEs: the inferred task (or the one
 * given), per layer and projection the top-k sub-experts and gates of every prompt token,
 * and the answer.
 */

export interface SeeInspection {
  method: 'see';
  prompt: string;
  /** The prompt's tokens as the model reads them (begin marker first). */
  tokens: string[];
  /** Newest expert first, as SEE asks them. */
  experts: { expert: number; task: string; acceptance: number; accepts: boolean }[];
  tau: number;
  /** The expert that answered, or null: the base model. */
  handler: number | null;
  handlerName: string;
  answer: string;
}

export interface MosesInspection {
  method: 'moses';
  prompt: string;
  tokens: string[];
  /** The task inferred from the prompt (the nearest task key). */
  inferredTask: number;
  inferredTaskName: string;
  /** The router used: the given task id, else the inferred task. */
  task: number;
  taskName: string;
  /** One entry per adapted projection, in model order: per token, top-k sub-expert indices and gates. */
  gates: ProjectionGates[];
  answer: string;
}

export type Inspection = SeeInspection | MosesInspection;

export class InspectionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InspectionError';
  }
}

export interface InspectRequest {
  prompt: string;
  /** MoSEs: the task whose router to use (0-based); default: the inferred task. */
  task?: number;
  /** Answer budget in tokens (default 32). */
  maxAnswerTokens?: number;
}

/**
 * Restores `methodId` from the state it saved after `stagesDone` stages and inspects one
 * prompt. The env's model must be a fresh copy of the base; it is left as it was given
 * (the method is disposed).
 */
export async function inspectState(
  env: MethodEnv,
  methodId: string,
  settings: Readonly<Record<string, unknown>>,
  state: MethodState | null,
  stagesDone: number,
  req: InspectRequest,
): Promise<Inspection> {
  if (methodId !== 'see' && methodId !== 'moses') throw new InspectionError(`${methodId} has no gates to inspect (SEE and MoSEs do)`);
  if (!state || stagesDone < 1) throw new InspectionError(`${methodId} has not trained a task yet: nothing to inspect`);
  const method = methodDefinition(methodId).create(env, settings);
  try {
    await method.loadState(state, stagesDone - 1);
    return method instanceof See ? await inspectSee(method, req) : await inspectMoses(method as Moses, req);
  } finally {
    method.dispose();
  }
}

function checkPrompt(env: MethodEnv, req: InspectRequest): { ids: number[]; maxAnswerTokens: number } {
  if (typeof req.prompt !== 'string' || req.prompt.trim() === '') throw new InspectionError('the prompt is empty');
  const maxAnswerTokens = req.maxAnswerTokens ?? 32;
  if (!Number.isInteger(maxAnswerTokens) || maxAnswerTokens < 1) throw new InspectionError(`maxAnswerTokens must be a whole number >= 1, got ${maxAnswerTokens}`);
  const ids = [env.tokenizer.specials.begin, ...env.tokenizer.encode(req.prompt)];
  const context = env.model.config.n_positions;
  // The begin token, the prompt, SEE's accept marker and at least one answer token must fit.
  if (ids.length + 2 > context) {
    throw new InspectionError(`the prompt is ${ids.length - 1} tokens; the model's context of ${context} leaves room for at most ${context - 3} with the answer`);
  }
  return { ids, maxAnswerTokens: Math.min(maxAnswerTokens, context - ids.length - 1) };
}

function tokenLabels(env: MethodEnv, ids: number[]): string[] {
  return ids.map((id) => env.tokenizer.decode([id], { specials: 'label' }));
}

function taskName(env: MethodEnv, t: number): string {
  return env.tasks[t]?.name ?? `task ${t}`;
}

export async function inspectSee(see: See, req: InspectRequest): Promise<SeeInspection> {
  const { env } = see;
  if (see.experts === 0) throw new InspectionError('see has not trained a task yet: nothing to inspect');
  if (req.task !== undefined) throw new InspectionError('SEE takes no task id: its experts decide themselves who answers');
  const { ids, maxAnswerTokens } = checkPrompt(env, req);
  const d = await see.route([req.prompt], maxAnswerTokens);
  const [answer] = await see.answer([req.prompt], d.handler, maxAnswerTokens);
  const acceptance = d.acceptance[0];
  const handler = d.handler[0];
  return {
    method: 'see',
    prompt: req.prompt,
    tokens: tokenLabels(env, ids),
    experts: acceptance.map((p, e) => ({ expert: e, task: taskName(env, e), acceptance: p, accepts: p > see.settings.tau })).reverse(),
    tau: see.settings.tau,
    handler,
    handlerName: handler === null ? 'base model' : taskName(env, handler),
    answer,
  };
}

export async function inspectMoses(moses: Moses, req: InspectRequest): Promise<MosesInspection> {
  const { env } = moses;
  const trained = moses.tasksTrained;
  if (trained === 0) throw new InspectionError('moses has not trained a task yet: nothing to inspect');
  if (req.task !== undefined) {
    if (!Number.isInteger(req.task) || req.task < 0 || req.task >= env.tasks.length) {
      throw new InspectionError(`task ${req.task} is outside the stream (tasks 0..${env.tasks.length - 1})`);
    }
    if (req.task >= trained) throw new InspectionError(`task ${req.task} (${taskName(env, req.task)}) is not trained yet (trained: 0..${trained - 1})`);
  }
  const { ids, maxAnswerTokens } = checkPrompt(env, req);
  const [inferred] = await moses.inferTasks([req.prompt]);
  const task = req.task ?? inferred;
  const { projections } = await moses.gates(task, [req.prompt]);
  const [answer] = await moses.answerWith(task, [req.prompt], maxAnswerTokens);
  return {
    method: 'moses',
    prompt: req.prompt,
    tokens: tokenLabels(env, ids),
    inferredTask: inferred,
    inferredTaskName: taskName(env, inferred),
    task,
    taskName: taskName(env, task),
    gates: projections[0],
    answer,
  };
}

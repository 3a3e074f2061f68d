import type { Example } from '../data/examples';
import type { Task } from '../data/task';
import type { GptModel } from '../model/gpt';
import { generateGreedy } from '../model/generate';
import type { Tokenizer } from '../tokenizer/tokenizer';

/**
 * Scoring a model on tasks: batched greedy generation (rows stop at their end token, a
 * batch when all its rows have), then the task's metric over the decoded answers.
 */

export interface PredictOptions {
  /** Prompts per generation batch. */
  batchSize?: number;
  /** Token ids fed after each prompt before generation starts (SEE's accept marker); they count against the context. */
  afterPrompt?: readonly number[];
}

export const DEFAULT_EVAL_BATCH = 64;

/** `begin prompt` ids, cut from the left so that the prompt and the answer budget fit the context. */
export function promptIds(tokenizer: Tokenizer, prompt: string, room: number): { ids: number[]; truncated: boolean } {
  const body = tokenizer.encode(prompt);
  const keep = Math.max(0, room - 1);
  const truncated = body.length > keep;
  return { ids: [tokenizer.specials.begin, ...(truncated ? body.slice(body.length - keep) : body)], truncated };
}

/** The answer text of generated ids: up to (not including) the end token, specials dropped. */
export function answerText(tokenizer: Tokenizer, ids: readonly number[]): string {
  const end = ids.indexOf(tokenizer.specials.end);
  return tokenizer.decode(end < 0 ? ids : ids.slice(0, end), { specials: 'skip' });
}

/**
 * Greedy answers to prompts with the model as it is configured now (its adapter pool and
 * gating). Prompts are batched in order of length, so a batch's rows pad little.
 */
export async function predictAnswers(
  model: GptModel,
  tokenizer: Tokenizer,
  prompts: readonly string[],
  maxAnswerTokens: number,
  opts: PredictOptions = {},
): Promise<{ answers: string[]; truncatedPrompts: number }> {
  const after = opts.afterPrompt ?? [];
  const budget = Math.min(maxAnswerTokens, model.config.n_positions - 1 - after.length);
  const encoded = prompts.map((p) => {
    const e = promptIds(tokenizer, p, model.config.n_positions - budget - after.length);
    return { ids: [...e.ids, ...after], truncated: e.truncated };
  });
  const order = encoded.map((_, i) => i).sort((a, b) => encoded[a].ids.length - encoded[b].ids.length || a - b);
  const answers: string[] = new Array(prompts.length);
  const batch = opts.batchSize ?? DEFAULT_EVAL_BATCH;
  for (let at = 0; at < order.length; at += batch) {
    const rows = order.slice(at, at + batch);
    const outs = await generateGreedy(
      model,
      rows.map((i) => encoded[i].ids),
      { maxNewTokens: budget, endId: tokenizer.specials.end, padId: tokenizer.specials.pad },
    );
    rows.forEach((i, r) => (answers[i] = answerText(tokenizer, outs[r])));
  }
  return { answers, truncatedPrompts: encoded.filter((e) => e.truncated).length };
}

/** Greedy answers to a task's examples within the task's answer budget. */
export async function predictTask(model: GptModel, tokenizer: Tokenizer, examples: readonly Example[], task: Task, batchSize?: number): Promise<string[]> {
  const { answers } = await predictAnswers(
    model,
    tokenizer,
    examples.map((e) => e.prompt),
    task.maxAnswerTokens,
    { batchSize },
  );
  return answers;
}

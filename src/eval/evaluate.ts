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

/**
 * Token sequences as one right-padded batch for a prefill: ids and positions (u32 [B, T],
 * host side) and the index b*T + t of each row's last real token. Causal attention keeps a
 * row's real tokens blind to the padding after them.
 */
export function rightPadded(rows: readonly (readonly number[])[], padId: number): { ids: Uint32Array; positions: Uint32Array; last: Uint32Array; B: number; T: number } {
  const B = rows.length;
  const T = Math.max(...rows.map((r) => r.length));
  const ids = new Uint32Array(B * T).fill(padId);
  const positions = new Uint32Array(B * T);
  const last = new Uint32Array(B);
  rows.forEach((r, b) => {
    ids.set(r, b * T);
    for (let t = 0; t < T; t++) positions[b * T + t] = t;
    last[b] = b * T + r.length - 1;
  });
  return { ids, positions, last, B, T };
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

import { DataError, type Example } from './examples';

/** How a task's answers are scored (0-100), see src/eval/metrics.ts. */
export const METRICS = ['exact_match', 'accuracy', 'rouge_l', 'edit_similarity'] as const;
export type MetricName = (typeof METRICS)[number];

/**
 * `heldout`: test items were never trained (generalisation). `retention`: the test is a
 * seeded sample of the trained items (does the model keep what it learned), the right
 * test for fact recall that a small model cannot do for unseen items.
 */
export const TEST_KINDS = ['heldout', 'retention'] as const;
export type TestKind = (typeof TEST_KINDS)[number];

export interface Task {
  name: string;
  metric: MetricName;
  /** Generation budget when scoring (answer tokens, the end token included). */
  maxAnswerTokens: number;
  testKind: TestKind;
  description: string;
  train: Example[];
  test: Example[];
}

export interface Stream {
  name: string;
  tasks: Task[];
}

/** task.json: every key optional; unknown keys are refused so a typo is not silently ignored. */
export interface TaskManifest {
  name?: string;
  metric?: MetricName;
  max_answer_tokens?: number;
  test_kind?: TestKind;
  description?: string;
  /** Fraction of a single-file task held out (heldout) or sampled (retention) as its test. */
  test_fraction?: number;
}

export const TASK_MANIFEST_KEYS = ['name', 'metric', 'max_answer_tokens', 'test_kind', 'description', 'test_fraction'] as const;

export const DEFAULT_MAX_ANSWER_TOKENS = 32;
export const DEFAULT_TEST_FRACTION = 0.2;
/** Longest answer budget a manifest may ask for (the generator's work grows with it). */
export const MAX_ANSWER_TOKENS_LIMIT = 1024;

/** A manifest's JSON object, refusing other JSON and keys outside `keys` (a typo is never ignored). */
export function parseManifestObject(file: string, text: string, keys: readonly string[], example: string): Record<string, unknown> {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new DataError(file, `not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new DataError(file, `expected a JSON object such as ${example}`);
  const m = data as Record<string, unknown>;
  for (const key of Object.keys(m)) {
    if (!keys.includes(key)) throw new DataError(file, `unknown key "${key}" (valid keys: ${keys.join(', ')})`);
  }
  return m;
}

/** Parses and checks a task.json. */
export function parseTaskManifest(file: string, text: string): TaskManifest {
  const m = parseManifestObject(file, text, TASK_MANIFEST_KEYS, '{"metric": "exact_match", "test_kind": "heldout"}');
  const stringKey = (key: string) => {
    if (m[key] !== undefined && typeof m[key] !== 'string') throw new DataError(file, `"${key}" must be a string`);
  };
  stringKey('name');
  stringKey('description');
  if (m.name !== undefined && (m.name as string).trim() === '') throw new DataError(file, '"name" is empty');
  if (m.metric !== undefined && !(METRICS as readonly unknown[]).includes(m.metric)) {
    throw new DataError(file, `"metric" must be one of ${METRICS.join(', ')}, got ${JSON.stringify(m.metric)}`);
  }
  if (m.test_kind !== undefined && !(TEST_KINDS as readonly unknown[]).includes(m.test_kind)) {
    throw new DataError(file, `"test_kind" must be one of ${TEST_KINDS.join(', ')}, got ${JSON.stringify(m.test_kind)}`);
  }
  const mat = m.max_answer_tokens;
  if (mat !== undefined && !(typeof mat === 'number' && Number.isInteger(mat) && mat >= 1 && mat <= MAX_ANSWER_TOKENS_LIMIT)) {
    throw new DataError(file, `"max_answer_tokens" must be an integer in 1..${MAX_ANSWER_TOKENS_LIMIT}, got ${JSON.stringify(mat)}`);
  }
  const tf = m.test_fraction;
  if (tf !== undefined && !(typeof tf === 'number' && tf > 0 && tf < 1)) {
    throw new DataError(file, `"test_fraction" must be a number between 0 and 1 (exclusive), got ${JSON.stringify(tf)}`);
  }
  return m as TaskManifest;
}

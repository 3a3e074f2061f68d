import type { MetricName, TestKind } from '../data/task';
import type { TransferMatrix } from '../eval/transfer';
import type { SettingValue } from '../methods/settings';
import type { MatmulTuning } from '../kernels/matmulTuning';

/**
 * results.json, as the runner writes it after every finished stage and the lab exports and
 * imports it (schema in the README). Scores are on 0-100; R has row 0 for the base.
 */
export const RESULTS_VERSION = 1;

export interface StreamTaskRecord {
  name: string;
  metric: MetricName;
  test_kind: TestKind;
  /** Examples used (after the preset's limits). */
  train: number;
  test: number;
  /** Training examples the model's context cut (prompts shortened from the left). */
  truncated: number;
}

export interface MethodResult {
  settings: Record<string, SettingValue>;
  /** 'sequential' or 'joint' (MTL: rows 1..n-1 are null). */
  stages: 'sequential' | 'joint';
  /** Stages finished: rows 1..stagesDone of R are final. A resumed run continues after them. */
  stagesDone: number;
  done: boolean;
  R: TransferMatrix;
  OP: number | null;
  BWT: number | null;
  FWT: number | null;
  forgetting: (number | null)[];
  /** Per stage (null where a joint method has none). */
  params: { trainable: (number | null)[]; stored: (number | null)[] };
  /** Mean loss of each stage's last step (nats per answer token). */
  finalLoss: (number | null)[];
  /** Training tokens per second over the finished stages (padding excluded). */
  tokensPerSecond: number;
  tokens: number;
  seconds: { train: number; eval: number };
  /**
   * With evalEvery: scores of the tasks seen so far (null for later ones) every N steps
   * inside each stage, the score after `step` steps of stage `stage`.
   */
  continual?: { stage: number; step: number; scores: (number | null)[] }[];
  /** SEE: who answered each query, the confusion matrix, acceptance, OOD rejection (README). */
  routing?: Record<string, unknown>;
  /** MoSEs, with the task id given: rows after each stage (null for tasks not trained yet). R is task-agnostic. */
  R_til?: (number | null)[][];
  OP_til?: number | null;
  BWT_til?: number | null;
  /** MoSEs: percent of each task's test prompts inferred as that task (null before it has a key). */
  taskId?: (number | null)[];
  /** MoSEs: per trained task, the share of gate mass each sub-expert gets on its test prompts. */
  usage?: number[][];
  /** MoSEs: sub-experts in the pool after each task (the capacity curve), and the growth decisions. */
  capacity?: number[];
  grew?: boolean[];
  probeLoss?: (number | null)[];
  /** MoSEs: which task each out-of-distribution task's test prompts are inferred as. */
  oodInferred?: Record<string, number[]>;
}

/** Keys the runner owns in a method's entry: a method's records may not overwrite them. */
export const RUNNER_KEYS = [
  'settings', 'stages', 'stagesDone', 'done', 'R', 'OP', 'BWT', 'FWT', 'forgetting', 'params', 'finalLoss', 'tokensPerSecond', 'tokens', 'seconds', 'continual',
] as const;

export interface RunResults {
  version: number;
  stream: StreamTaskRecord[];
  streamName: string;
  seed: number;
  preset: string;
  model: { source: string; n_layer: number; n_embd: number; n_head: number; n_positions: number; vocab_size: number; parameters: number; tokenizer: string };
  /** Scores of the untrained base on every task (row 0 of every method's R). */
  base: number[] | null;
  methods: Record<string, MethodResult>;
  /**
   * Where the run was made, for reading figures later; the matmul variant measurement, which
   * decides the order of float sums, so that a resumed run uses the same kernels.
   */
  environment: { adapter: string; startedAt: string; matmulTuning?: MatmulTuning };
}

/**
 * A results.json read back (the lab's import): checks the schema's shape, so a file of
 * another kind is refused with what is wrong rather than drawn as nonsense.
 */
export function parseResults(text: string, file = 'results.json'): RunResults {
  let r: unknown;
  try {
    r = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  const fail = (why: string): never => {
    throw new Error(`${file}: not a Continual Lab results file: ${why}`);
  };
  if (!r || typeof r !== 'object' || Array.isArray(r)) return fail('expected a JSON object');
  const o = r as Partial<RunResults>;
  if (o.version !== RESULTS_VERSION) fail(`"version" is ${JSON.stringify(o.version)}, this lab reads ${RESULTS_VERSION}`);
  if (!Array.isArray(o.stream) || o.stream.length === 0 || !o.stream.every((t) => t && typeof t.name === 'string')) fail('"stream" must list the tasks by name');
  const n = o.stream!.length;
  if (!o.methods || typeof o.methods !== 'object') fail('"methods" is missing');
  const row = (v: unknown) => v === null || (Array.isArray(v) && v.length === n && v.every((x) => typeof x === 'number'));
  for (const [id, m] of Object.entries(o.methods!)) {
    if (!m || !Array.isArray(m.R) || m.R.length !== n + 1 || !m.R.every(row)) fail(`methods.${id}.R must have ${n + 1} rows of ${n} scores (or null)`);
    if (!Number.isInteger(m.stagesDone)) fail(`methods.${id}.stagesDone must be a whole number`);
    if (!m.params || !Array.isArray(m.params.stored) || !Array.isArray(m.forgetting)) fail(`methods.${id} lacks params.stored or forgetting`);
  }
  if (o.base !== null && !row(o.base)) fail(`"base" must be ${n} scores or null`);
  return o as RunResults;
}

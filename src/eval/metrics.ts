import type { MetricName } from '../data/task';

/**
 * Per-item scores on a 0-100 scale. Prediction and reference are trimmed first (answers
 * start with a space; generation stops at the end token), as TRACE strips both.
 */

/** 100 when the trimmed prediction equals the trimmed reference. */
export function exactMatch(prediction: string, reference: string): number {
  return prediction.trim() === reference.trim() ? 100 : 0;
}

function normaliseLabel(s: string): string {
  return s.trim().toLowerCase().replace(/[.!?,;:]+$/, '');
}

/** Label match: case and trailing punctuation do not count ("Positive." is "positive"). */
export function labelAccuracy(prediction: string, reference: string): number {
  return normaliseLabel(prediction) === normaliseLabel(reference) ? 100 : 0;
}

/** Length of a longest common subsequence of two sequences (O(n m) time, O(m) memory). */
export function lcsLength<T>(a: readonly T[], b: readonly T[]): number {
  if (a.length === 0 || b.length === 0) return 0;
  let prev = new Uint32Array(b.length + 1);
  let row = new Uint32Array(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      row[j] = a[i - 1] === b[j - 1] ? prev[j - 1] + 1 : Math.max(prev[j], row[j - 1]);
    }
    [prev, row] = [row, prev];
  }
  return prev[b.length];
}

function rougeTokens(s: string): string[] {
  return s
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((t) => t !== '');
}

/**
 * ROUGE-L F1 over words (lower-cased, split at anything not a letter or digit):
 * P = LCS / |prediction|, R = LCS / |reference|, F1 = 2PR / (P + R), times 100.
 */
export function rougeL(prediction: string, reference: string): number {
  const p = rougeTokens(prediction);
  const r = rougeTokens(reference);
  if (p.length === 0 && r.length === 0) return 100;
  const lcs = lcsLength(p, r);
  if (lcs === 0) return 0;
  const precision = lcs / p.length;
  const recall = lcs / r.length;
  return (100 * 2 * precision * recall) / (precision + recall);
}

/** Python's round(): halves go to the even neighbour (fuzzywuzzy rounds with it). */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (Math.abs(d - 0.5) < 1e-9) return f % 2 === 0 ? f : f + 1;
  return Math.round(x);
}

/**
 * TRACE's edit similarity, fuzzywuzzy's `fuzz.ratio` over characters: identical strings
 * score 100, an empty one against a non-empty one 0, otherwise
 * round(100 * 2 * LCS / (|a| + |b|)) (python-Levenshtein's ratio: insertions and
 * deletions cost 1, a substitution 2), an integer in 0..100.
 */
export function editSimilarity(prediction: string, reference: string): number {
  const a = [...prediction.trim()];
  const b = [...reference.trim()];
  if (a.join('') === b.join('')) return 100;
  if (a.length === 0 || b.length === 0) return 0;
  return roundHalfEven((100 * 2 * lcsLength(a, b)) / (a.length + b.length));
}

export const METRIC_FUNCTIONS: Record<MetricName, (prediction: string, reference: string) => number> = {
  exact_match: exactMatch,
  accuracy: labelAccuracy,
  rouge_l: rougeL,
  edit_similarity: editSimilarity,
};

/** Mean item score (0-100) of predictions against references. */
export function scoreAll(metric: MetricName, predictions: readonly string[], references: readonly string[]): number {
  if (predictions.length !== references.length) throw new Error(`${predictions.length} predictions for ${references.length} references`);
  if (predictions.length === 0) throw new Error('no test examples to score');
  const f = METRIC_FUNCTIONS[metric];
  let sum = 0;
  for (let i = 0; i < predictions.length; i++) sum += f(predictions[i], references[i]);
  return sum / predictions.length;
}

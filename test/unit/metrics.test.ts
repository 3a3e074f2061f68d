import { describe, expect, it } from 'vitest';
import { editSimilarity, exactMatch, labelAccuracy, lcsLength, rougeL, scoreAll } from '../../src/eval/metrics';
import { summariseTransfer } from '../../src/eval/transfer';

describe('metrics (hand-worked values)', () => {
  it('exact match compares trimmed strings, case and all', () => {
    expect(exactMatch(' Paris', ' Paris')).toBe(100);
    expect(exactMatch('Paris\n', ' Paris')).toBe(100);
    expect(exactMatch(' paris', ' Paris')).toBe(0);
    expect(exactMatch(' Paris.', ' Paris')).toBe(0);
  });

  it('accuracy matches labels regardless of case and trailing punctuation', () => {
    expect(labelAccuracy(' Positive.', ' positive')).toBe(100);
    expect(labelAccuracy(' negative', ' positive')).toBe(0);
    expect(labelAccuracy(' positive words', ' positive')).toBe(0);
  });

  it('LCS lengths', () => {
    expect(lcsLength([...'kitten'], [...'sitting'])).toBe(4); // i t t n
    expect(lcsLength([...'ABCBDAB'], [...'BDCABA'])).toBe(4); // the textbook pair
    expect(lcsLength([], [...'abc'])).toBe(0);
  });

  it('ROUGE-L F1 over words', () => {
    // Reference 6 words, prediction 6 words, LCS "the cat on the mat" = 5: P = R = 5/6.
    expect(rougeL('the cat sat on the mat', 'the cat was on the mat')).toBeCloseTo((100 * 5) / 6, 10);
    // P = 2/2, R = 2/4 -> F1 = 2 * 1 * 0.5 / 1.5 = 2/3.
    expect(rougeL('red dog', 'big red fast dog')).toBeCloseTo(200 / 3, 10);
    // Case and punctuation do not split or count.
    expect(rougeL('F R IH0', 'f, r, ih0')).toBe(100);
    expect(rougeL('abc', 'xyz')).toBe(0);
  });

  it("edit similarity is fuzzywuzzy's fuzz.ratio (integer, python-Levenshtein ratio)", () => {
    // 2 * 4 / 13 = 0.6154 -> 62
    expect(editSimilarity('kitten', 'sitting')).toBe(62);
    // "Grönland" (8 characters) vs "Groenland" (9): LCS G r n l a n d = 7 -> 2 * 7 / 17 = 0.8235 -> 82
    expect(editSimilarity('Grönland', 'Groenland')).toBe(82);
    expect(editSimilarity(' B AE1 SH', ' B AE1 SH')).toBe(100);
    expect(editSimilarity('', 'abc')).toBe(0);
    expect(editSimilarity('', '')).toBe(100);
    // Halves round to even, as Python's round does (12.5 -> 12).
    expect(editSimilarity('abcdefgh', 'a')).toBe(22); // 2/9 = 22.2
    expect(editSimilarity('a', 'abcdefghijklmno')).toBe(12); // 2/16 = 12.5 -> 12
    expect(editSimilarity('a', 'abcdefghijklmnopqrstuvwxyz12345')).toBe(6); // 2/32 = 6.25
  });

  it('scores the mean over items', () => {
    expect(scoreAll('exact_match', [' a', ' b', ' c', ' d'], [' a', ' x', ' c', ' y'])).toBe(50);
    expect(scoreAll('edit_similarity', ['kitten', 'x'], ['sitting', 'x'])).toBe(81);
    expect(() => scoreAll('exact_match', [' a'], [])).toThrow(/1 predictions for 0 references/);
  });
});

describe('transfer summary (a fixed matrix worked by hand)', () => {
  // Three tasks. Row 0 is the base.
  const R = [
    [10, 20, 30],
    [80, 25, 35],
    [60, 90, 40],
    [50, 70, 95],
  ];

  it('OP, BWT, FWT and forgetting', () => {
    const s = summariseTransfer(R);
    expect(s.OP).toBeCloseTo((50 + 70 + 95) / 3, 12); // 71.67
    // BWT = ((50 - 80) + (70 - 90)) / 2 = -25
    expect(s.BWT).toBeCloseTo(-25, 12);
    // FWT = ((R[1][2] - R[0][2]) + (R[2][3] - R[0][3])) / 2 = ((25 - 20) + (40 - 30)) / 2 = 7.5
    expect(s.FWT).toBeCloseTo(7.5, 12);
    // Task 1: best of R[1][1], R[2][1] = 80, final 50 -> 30. Task 2: best R[2][2] = 90, final 70 -> 20.
    expect(s.forgetting).toEqual([30, 20, null]);
  });

  it("MTL's single final row gives OP only", () => {
    const s = summariseTransfer([R[0], null, null, R[3]]);
    expect(s.OP).toBeCloseTo(215 / 3, 12);
    expect(s.BWT).toBeNull();
    expect(s.FWT).toBeNull();
    expect(s.forgetting).toEqual([null, null, null]);
  });

  it('one task: OP only; a ragged matrix is refused', () => {
    expect(summariseTransfer([[5], [60]])).toEqual({ OP: 60, BWT: null, FWT: null, forgetting: [null] });
    expect(() => summariseTransfer([[1, 2], [3, 4], [5]])).toThrow(/row 2 of the transfer matrix has 1 scores for 2 tasks/);
  });
});

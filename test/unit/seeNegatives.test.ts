import { describe, expect, it } from 'vitest';
import { foreignInstructions, nearMisses, templateWords } from '../../src/methods/seeNegatives';
import { rng } from '../../src/util/random';

const capitals = ['Capital of Libya:', 'Capital of Belize:', 'Capital of Bosnia and Herzegovina:', 'Capital of Greenland:', 'Capital of Zambia:'];

describe("SEE's near-miss negatives", () => {
  it('finds the instruction as the words at least half the prompts share', () => {
    expect([...templateWords(capitals)].sort()).toEqual(['Capital', 'of']);
    expect([...templateWords(['45+46=', '0+30=', '35+16='])]).toEqual([]);
    expect([...templateWords(['Capital of Libya:'])]).toEqual([]);
  });

  it('swaps one instruction word for a word of the prompts, never giving back an own prompt', () => {
    const made = nearMisses(capitals, 40, rng(3));
    expect(made).toHaveLength(40);
    for (const p of made) {
      expect(capitals).not.toContain(p);
      const [w0, w1] = p.split(' ');
      // Exactly one of the two instruction words is replaced; the capital letter follows the replaced word.
      expect(Number(w0 !== 'Capital') + Number(w1 !== 'of')).toBe(1);
      if (w0 !== 'Capital') expect(w0).toMatch(/^\p{Lu}\p{L}+$/u);
      if (w1 !== 'of') expect(w1).toMatch(/^\p{Ll}+$/u);
      expect(p.endsWith(':')).toBe(true);
    }
    expect(nearMisses(capitals, 40, rng(3))).toEqual(made);
    expect(nearMisses(capitals, 40, rng(4))).not.toEqual(made);
  });

  it('gives none when the prompts share no instruction word', () => {
    expect(nearMisses(['45+46=', '0+30=', '35+16='], 10, rng(1))).toEqual([]);
    expect(nearMisses(capitals, 0, rng(1))).toEqual([]);
  });
});

describe("SEE's foreign-instruction negatives", () => {
  const pronounce = ['Pronounce bassham:', 'Pronounce goggins:', 'Pronounce frisella:', 'Pronounce kuhns:'];
  const sentiment = ['Sentiment of "screams":', 'Sentiment of "enslaves":', 'Sentiment of "calm":'];

  it("puts the own task's subjects under each earlier task's instruction, punctuation kept", () => {
    const made = foreignInstructions(pronounce, [capitals, sentiment, ['45+46=', '0+30=']], 12, rng(2));
    expect(made).toHaveLength(12);
    const subjects = new Set(['bassham', 'goggins', 'frisella', 'kuhns']);
    for (const p of made) {
      // A subject of several words ("Bosnia and Herzegovina") is replaced word for word.
      const m = /^Capital of (.+):$/.exec(p) ?? /^Sentiment of "(\S+)":$/.exec(p);
      expect(m, p).not.toBeNull();
      for (const w of m![1].split(' ')) expect(subjects.has(w), p).toBe(true);
    }
    // Round-robin over the tasks that have an instruction (not the sums).
    expect(made.filter((p) => p.startsWith('Capital'))).toHaveLength(6);
    expect(foreignInstructions(pronounce, [capitals, sentiment, ['45+46=', '0+30=']], 12, rng(2))).toEqual(made);
  });

  it('gives none without an earlier instruction or own subjects', () => {
    expect(foreignInstructions(pronounce, [], 5, rng(1))).toEqual([]);
    expect(foreignInstructions(pronounce, [['45+46=', '0+30=']], 5, rng(1))).toEqual([]);
    expect(foreignInstructions(['Go:', 'Go:'], [capitals], 5, rng(1))).toEqual([]);
  });
});

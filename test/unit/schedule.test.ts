import { describe, expect, it } from 'vitest';
import { learningRate } from '../../src/train/schedule';

describe('learning-rate schedule', () => {
  const s = { peakLr: 1e-3, warmupSteps: 10, totalSteps: 110, minLr: 1e-4 };
  it('warms up linearly, peaks, then follows a cosine down to minLr', () => {
    expect(learningRate(s, 1)).toBeCloseTo(1e-4, 12);
    expect(learningRate(s, 5)).toBeCloseTo(5e-4, 12);
    expect(learningRate(s, 10)).toBeCloseTo(1e-3, 12);
    expect(learningRate(s, 60)).toBeCloseTo(1e-4 + 0.5 * 9e-4, 12); // half way: cos = 0
    expect(learningRate(s, 110)).toBeCloseTo(1e-4, 12);
    expect(learningRate(s, 500)).toBeCloseTo(1e-4, 12);
    for (let t = 11; t < 110; t++) expect(learningRate(s, t + 1)).toBeLessThanOrEqual(learningRate(s, t));
  });
  it('refuses step 0', () => {
    expect(() => learningRate(s, 0)).toThrow(/step must be >= 1/);
  });
});

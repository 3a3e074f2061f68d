import { describe, expect, it } from 'vitest';
import { batchPlan, plannedSteps, validateTrainerSettings, type TrainerSettings } from '../../src/train/trainer';

const BASE: TrainerSettings = { batchSize: 4, epochs: 3, peakLr: 1e-3, seed: 7 };

describe('trainer batch plan', () => {
  it('visits every example once per epoch in a seeded shuffled order, the last batch smaller', () => {
    const plan = batchPlan(BASE, 10);
    expect(plan.map((b) => b.indices.length)).toEqual([4, 4, 2, 4, 4, 2, 4, 4, 2]);
    for (let e = 1; e <= 3; e++) {
      const seen = plan.filter((b) => b.epoch === e).flatMap((b) => b.indices);
      expect([...seen].sort((a, b) => a - b)).toEqual([...Array(10).keys()]);
    }
    const epoch1 = plan.filter((b) => b.epoch === 1).flatMap((b) => b.indices);
    const epoch2 = plan.filter((b) => b.epoch === 2).flatMap((b) => b.indices);
    expect(epoch1).not.toEqual(epoch2);
    expect(epoch1).not.toEqual([...Array(10).keys()]);
    expect(batchPlan(BASE, 10)).toEqual(plan);
    expect(batchPlan({ ...BASE, seed: 8 }, 10)).not.toEqual(plan);
  });

  it('stops at the step budget, even inside an epoch', () => {
    expect(plannedSteps({ ...BASE, maxSteps: 5 }, 10)).toBe(5);
    expect(plannedSteps({ ...BASE, maxSteps: 50 }, 10)).toBe(9);
    const plan = batchPlan({ ...BASE, maxSteps: 5 }, 10);
    expect(plan.map((b) => b.epoch)).toEqual([1, 1, 1, 2, 2]);
  });
});

describe('trainer settings', () => {
  it.each([
    [{ batchSize: 0 }, 'batchSize must be a positive integer (1, 2, 3, ...), got 0'],
    [{ batchSize: 2.5 }, 'batchSize must be a positive integer (1, 2, 3, ...), got 2.5'],
    [{ maxSteps: 0 }, 'maxSteps must be a positive integer (1, 2, 3, ...), got 0'],
    [{ maxSteps: 1.5 }, 'maxSteps must be a positive integer (1, 2, 3, ...), got 1.5'],
    [{ epochs: -1 }, 'epochs must be a positive integer (1, 2, 3, ...), got -1'],
    [{ microBatchSize: 5 }, 'microBatchSize must be in 1..batchSize (4), got 5'],
    [{ peakLr: 0 }, 'peakLr must be a finite number > 0, got 0'],
    [{ warmupSteps: -2 }, 'warmupSteps must be an integer >= 0, got -2'],
    [{ minLr: 1 }, 'minLr must be in [0, peakLr = 0.001], got 1'],
  ] as [Partial<TrainerSettings>, string][])('refuses %o', (bad, message) => {
    expect(() => validateTrainerSettings({ ...BASE, ...bad })).toThrow(message);
  });

  it('accepts sensible settings', () => {
    expect(() => validateTrainerSettings({ ...BASE, microBatchSize: 2, maxSteps: 10, warmupSteps: 2, minLr: 0 })).not.toThrow();
  });
});

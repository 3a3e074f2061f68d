import { describe, expect, it } from 'vitest';
import type { MethodResult, RunResults } from '../../src/cl/results';
import { methodNotes } from '../../src/ui/runNotes';

function method(R: MethodResult['R'], stagesDone: number, extra: Partial<MethodResult> = {}): MethodResult {
  return { settings: {}, stages: 'sequential', stagesDone, done: true, R, OP: null, BWT: null, FWT: null, forgetting: [], params: { trainable: [], stored: [] }, finalLoss: [], tokensPerSecond: 0, tokens: 0, seconds: { train: 0, eval: 0 }, ...extra };
}

function results(methods: Record<string, MethodResult>): RunResults {
  return { version: 1, stream: [], streamName: 's', seed: 0, preset: 'tiny', model: {} as RunResults['model'], base: [10, 20], methods, environment: { adapter: '', startedAt: '' } };
}

describe('warnings about what a run learned', () => {
  it('says when SEE sent every query to the base', () => {
    const see = method([[10, 20], [10, 20], [10, 20]], 2, { routing: { confusion: { a: [0, 0, 4], b: [0, 0, 4] } } });
    const notes = methodNotes(results({ see }));
    expect(notes).toHaveLength(1);
    expect(notes[0].method).toBe('see');
    expect(notes[0].text).toMatch(/no expert accepted/);
  });

  it('is silent when an expert answered something', () => {
    const see = method([[10, 20], [40, 20], [40, 20]], 2, { routing: { confusion: { a: [3, 0, 1], b: [0, 0, 4] } } });
    expect(methodNotes(results({ see }))).toEqual([]);
  });

  it('says when no task scored above the base just after it was learned, and not when one was later forgotten', () => {
    const flat = method([[10, 20], [10, 20], null], 1);
    const moved = method([[10, 20], [30, 20], null], 1);
    const forgot = method([[10, 20], [30, 20], [10, 20]], 2);
    const notes = methodNotes(results({ flat, moved, forgot }));
    expect(notes.map((n) => n.method)).toEqual(['flat']);
    expect(notes[0].text).toMatch(/learned nothing measurable/);
  });
});

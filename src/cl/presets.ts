import type { Example } from '../data/examples';
import type { Stream, Task } from '../data/task';
import type { StageBudget } from '../methods/method';
import { rng, seedFor, shuffleInPlace } from '../util/random';

/**
 * Run sizes. `tiny` is for CI and quick checks; `default` is the benchmark (README gives
 * the time each takes on the 2-core development machine); `large` trains each task longer on
 * more data, for a real GPU (the lab offers it only there).
 */
export interface Preset {
  name: string;
  /** Training examples per task at most (a prefix of the task's train split). */
  maxTrain: number;
  /**
   * Training examples of a retention task at most. Recall is memorisation, whose cost grows
   * with the items: on the shipped base, SeqLoRA at the default budget recalls about half of
   * 48 capitals and nearly all of 32, but 0 of 64 (README, method defaults).
   */
  maxTrainRetention: number;
  /** Test examples per task at most. */
  maxTest: number;
  /** Tasks of the stream used at most (from the start). */
  maxTasks: number;
  budget: StageBudget;
}

export const PRESETS: Readonly<Record<string, Preset>> = {
  tiny: { name: 'tiny', maxTrain: 64, maxTrainRetention: 32, maxTest: 32, maxTasks: Infinity, budget: { steps: 12, batchSize: 8, warmupSteps: 2 } },
  default: { name: 'default', maxTrain: 128, maxTrainRetention: 48, maxTest: 48, maxTasks: Infinity, budget: { steps: 150, batchSize: 8, warmupSteps: 10 } },
  large: { name: 'large', maxTrain: 400, maxTrainRetention: 48, maxTest: 100, maxTasks: Infinity, budget: { steps: 600, batchSize: 16, warmupSteps: 30 } },
};

/** Presets that take hours or more on a software adapter: the lab offers them on a GPU only. */
export const GPU_ONLY_PRESETS: readonly string[] = ['large'];

const key = (e: Example) => `${e.prompt}\u0000${e.answer}`;

/**
 * A task cut to the preset's sizes. Train is a prefix of the train split. A heldout test
 * is a prefix of the test split; a retention test keeps only items the cut train still
 * holds (topped up with a seeded sample of it), so it never scores untrained items.
 */
export function limitTask(task: Task, preset: Pick<Preset, 'maxTrain' | 'maxTrainRetention' | 'maxTest'>, seed: number): Task {
  if (task.testKind === 'heldout') return { ...task, train: task.train.slice(0, preset.maxTrain), test: task.test.slice(0, preset.maxTest) };
  const train = task.train.slice(0, preset.maxTrainRetention);
  const kept = new Set(train.map(key));
  const test = task.test.filter((e) => kept.has(key(e))).slice(0, preset.maxTest);
  if (test.length < Math.min(preset.maxTest, task.test.length)) {
    const inTest = new Set(test.map(key));
    const rest = shuffleInPlace(
      train.filter((e) => !inTest.has(key(e))),
      rng(seedFor(seed, `${task.name}/retention`)),
    );
    test.push(...rest.slice(0, Math.min(preset.maxTest, task.test.length) - test.length));
  }
  return { ...task, train, test };
}

export function applyPreset(stream: Stream, preset: Preset, seed: number): Stream {
  return { ...stream, tasks: stream.tasks.slice(0, preset.maxTasks).map((t) => limitTask(t, preset, seed)) };
}

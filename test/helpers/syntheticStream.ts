import type { Preset } from '../../src/cl/presets';
import type { RunPlan } from '../../src/cl/runStream';
import type { Task } from '../../src/data/task';
import type { GpuContext } from '../../src/gpu/context';
import { GptModel } from '../../src/model/gpt';
import { byteTokenizer } from '../../src/tokenizer/byteTokenizer';
import { byteGptConfig } from './byteConfig';

/** A stream of three small synthetic tasks on a tiny random byte-level model: the runner's and the methods' tests. */
export const config = byteGptConfig({ n_positions: 32, n_embd: 16, n_layer: 2, n_head: 2 });

/** Three small synthetic tasks of different kinds, answers a few bytes long. */
export function tasks(): Task[] {
  const make = (name: string, metric: Task['metric'], f: (i: number) => [string, string], testKind: Task['testKind'] = 'heldout'): Task => {
    const all = Array.from({ length: 14 }, (_, i) => f(i)).map(([prompt, answer]) => ({ prompt, answer }));
    return { name, metric, testKind, maxAnswerTokens: 6, description: '', train: all.slice(0, 10), test: testKind === 'retention' ? all.slice(0, 4) : all.slice(10) };
  };
  return [
    make('double', 'exact_match', (i) => [`${i}x2=`, ` ${2 * i}`]),
    make('letter', 'edit_similarity', (i) => [`L${i}:`, ` ${'abcdefghijklmnop'[i]}${'abcdefghijklmnop'[i]}`], 'retention'),
    make('parity', 'accuracy', (i) => [`p${i}?`, i % 2 ? ' odd' : ' even']),
  ];
}

export const preset: Preset = { name: 'test', maxTrain: 10, maxTrainRetention: 10, maxTest: 4, maxTasks: 3, budget: { steps: 4, batchSize: 4, warmupSteps: 1 } };

export function plan(ctx: GpuContext, weights: Map<string, Float32Array>, methods: RunPlan['methods'], seed = 5, steps = preset.budget.steps): RunPlan {
  return {
    ctx,
    base: { config, tensors: weights, source: 'test model' },
    tokenizer: byteTokenizer,
    stream: { name: 'synthetic', tasks: tasks() },
    preset: { ...preset, budget: { ...preset.budget, steps } },
    seed,
    methods,
  };
}

export async function baseWeights(ctx: GpuContext): Promise<Map<string, Float32Array>> {
  const model = GptModel.init(ctx, config, 11);
  const w = new Map<string, Float32Array>();
  for (const [n, p] of model.params) w.set(n, await ctx.readF32(p.value));
  model.dispose();
  return w;
}


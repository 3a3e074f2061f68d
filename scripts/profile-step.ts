// npm run profile:step -- [--method ID] [--stage T] [--steps N] [--set method.setting=value ...] [--no-eval]
//
// Where a continual-learning stage's time goes, on this machine's adapter: the method is
// brought to stage T of the built-in stream (default preset) without training the earlier
// stages (their adapters stay as created, which costs the same per step as trained ones),
// then N training steps of stage T are timed, first as a whole (wall ms per step,
// dispatches per step), then with GPU timestamps per kernel (where the adapter has
// 'timestamp-query'); the rest of the wall time is the host's share (JavaScript, encoding,
// submission). Then one scoring of task T's test split through the method's predict.
import { loadGpt2CheckpointDir } from '../src/checkpoint/gpt2CheckpointNode';
import { applyPreset, PRESETS } from '../src/cl/presets';
import { loadStreamDir } from '../src/cli/run';
import { fileStore } from '../src/cli/tuningStore';
import { ensureMatmulTuned } from '../src/diagnostics/matmulTuningCache';
import { createNodeContext, releaseNodeGpu } from '../src/gpu/node';
import { BASE_MODEL_PATH } from '../src/model/baseModelNode';
import { GptModel } from '../src/model/gpt';
import { tokenizerForConfig } from '../src/model/modelTokenizer';
import { methodDefinition } from '../src/methods/registry';
import { parseSettingText } from '../src/methods/settings';
import { encodeExamples, Trainer } from '../src/train/trainer';

const argv = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : fallback;
};
const methodId = flag('method', 'seqlora');
const stage = Number(flag('stage', '0'));
const steps = Number(flag('steps', '12'));
const settings: Record<string, unknown> = {};
argv.forEach((a, i) => {
  if (a !== '--set') return;
  const [key, value] = argv[i + 1].split('=');
  const [m, s] = key.split('.');
  if (m === methodId) settings[s] = parseSettingText(methodDefinition(methodId).settings[s], value);
});

const ctx = await createNodeContext();
try {
  const tuning = (await ensureMatmulTuned(ctx, fileStore())).tuning;
  const loaded = await loadGpt2CheckpointDir(BASE_MODEL_PATH);
  const tokenizer = await tokenizerForConfig(loaded.config);
  const preset = PRESETS.default;
  const stream = applyPreset(loadStreamDir('builtin', 0).stream, preset, 0);
  const model = GptModel.fromTensors(ctx, loaded.config, loaded.tensors);
  const method = methodDefinition(methodId).create({ ctx, model, tokenizer, tasks: stream.tasks, budget: { ...preset.budget, steps }, seed: 0 }, settings);
  for (let t = 0; t < stage; t++) {
    await method.beginStage(t);
    await method.endStage(t);
  }
  const plan = await method.beginStage(stage);
  const { pairs } = encodeExamples(tokenizer, plan.examples, loaded.config.n_positions);
  const timed = async (profile: boolean) => {
    const trainer = new Trainer(model, tokenizer, { ...plan.trainer, maxSteps: steps, warmupSteps: 1 });
    method.configureTrainer?.(trainer, stage);
    const times: number[] = [];
    let last = performance.now();
    const d0 = ctx.dispatchCount;
    if (profile) ctx.startProfiling();
    const s = await trainer.train(pairs, {
      onStep: () => {
        const now = performance.now();
        times.push(now - last);
        last = now;
      },
    });
    trainer.dispose();
    return { times, dispatches: (ctx.dispatchCount - d0) / s.steps, tokens: s.tokens / s.steps, report: profile ? await ctx.profileReport() : [] };
  };
  await timed(false); // compiles every pipeline once
  const plain = await timed(false);
  // The first steps of a run wait for nothing ahead of them: the median of the rest.
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const stepMs = median(plain.times.slice(2));
  const prof = await timed(true);
  const gpuMs = prof.report.reduce((a, r) => a + r.ms, 0) / steps;
  console.log(`${methodId} stage ${stage} (${stream.tasks[stage].name}), ${ctx.adapter.vendor}/${ctx.adapter.architecture}, matmul ${tuning.winner}`);
  console.log(`step: ${stepMs.toFixed(1)} ms wall (median), ${plain.dispatches.toFixed(0)} dispatches, ${plain.tokens.toFixed(0)} tokens; GPU ${gpuMs.toFixed(1)} ms, host and gaps ${(stepMs - gpuMs).toFixed(1)} ms`);
  console.log('| kernel | ms per step | dispatches per step | ms per dispatch |');
  console.log('| --- | --- | --- | --- |');
  for (const r of prof.report.slice(0, 20)) console.log(`| ${r.kernel} | ${(r.ms / steps).toFixed(2)} | ${(r.count / steps).toFixed(1)} | ${(r.ms / r.count).toFixed(3)} |`);
  if (!argv.includes('--no-eval')) {
    await method.endStage(stage);
    const task = stream.tasks[stage];
    const started = performance.now();
    const d0 = ctx.dispatchCount;
    await method.predict(task.test, task, stage);
    console.log(`scoring ${task.name} (${task.test.length} prompts): ${((performance.now() - started) / 1000).toFixed(2)} s, ${ctx.dispatchCount - d0} dispatches`);
  }
  method.dispose();
  model.dispose();
} finally {
  releaseNodeGpu(ctx);
}

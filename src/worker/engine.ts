import type { GpuContext } from '../gpu/context';
import { makeGptConfig } from '../model/config';
import { generateGreedy } from '../model/generate';
import { GptModel } from '../model/gpt';
import { AdapterPool } from '../model/adapterPool';
import { DEFAULT_LORA, LoraAdapter } from '../model/lora';
import { makeBatch, releaseBatch } from '../train/batch';
import { AdamW, DEFAULT_ADAMW } from '../train/optimizer';
import { learningRate } from '../train/schedule';
import { trainStep } from '../train/trainStep';
import { byteTokenizer } from '../tokenizer/byteTokenizer';
import { validateJob, type FinetuneJob, type FromWorker, type ToWorker } from './protocol';

/**
 * Runs jobs for one GPU context and answers protocol messages. Control messages (pause,
 * stop) take effect between optimizer steps; progress is posted after each step's loss has
 * been read back (asynchronously: the next step is already queued).
 */
export class TrainingEngine {
  private state: 'idle' | 'running' | 'paused' | 'stopping' = 'idle';
  private resumeWaiters: Array<() => void> = [];
  private current: string | null = null;

  private stateNow() {
    return this.state;
  }

  /**
   * `loadBase` gives the shipped base model (fetched in the browser, read from disk in Node);
   * jobs without a `model` of their own start from it.
   */
  constructor(
    private readonly ctx: GpuContext,
    private readonly post: (m: FromWorker) => void,
    private readonly loadBase: (ctx: GpuContext) => Promise<GptModel>,
  ) {}

  /** Handles one message; a start resolves when its run ends. */
  async handle(msg: ToWorker): Promise<void> {
    switch (msg.type) {
      case 'start':
        return this.start(msg.job);
      case 'pause':
        if (this.state === 'running') this.state = 'paused';
        return;
      case 'resume':
        if (this.state === 'paused') {
          this.state = 'running';
          this.resumeWaiters.splice(0).forEach((f) => f());
        }
        return;
      case 'stop':
        if (this.state === 'running' || this.state === 'paused') {
          this.state = 'stopping';
          this.resumeWaiters.splice(0).forEach((f) => f());
        }
        return;
      default:
        this.post({ type: 'error', runId: this.current, message: `unknown message ${JSON.stringify(msg)}` });
    }
  }

  private async start(job: FinetuneJob): Promise<void> {
    const runId = typeof job?.runId === 'string' ? job.runId : null;
    if (this.state !== 'idle') {
      this.post({ type: 'error', runId, message: `a run (${this.current}) is already in progress` });
      return;
    }
    const problems = validateJob(job);
    if (problems.length) {
      this.post({ type: 'error', runId, message: `invalid job: ${problems.join('; ')}` });
      return;
    }
    this.state = 'running';
    this.current = job.runId;
    try {
      await this.run(job);
    } catch (e) {
      this.post({ type: 'error', runId: job.runId, message: e instanceof Error ? e.message : String(e) });
    } finally {
      this.state = 'idle';
      this.current = null;
    }
  }

  private async run(job: FinetuneJob): Promise<void> {
    const { ctx } = this;
    const tok = byteTokenizer;
    const model = job.model
      ? GptModel.init(
          ctx,
          makeGptConfig({
            ...job.model,
            vocab_size: tok.vocabSize,
            bos_token_id: tok.specials.begin,
            eos_token_id: tok.specials.end,
            continual_lab: { tokenizer: 'bytes' },
          }),
          job.seed,
        )
      : await this.loadBase(ctx);
    const { config } = model;
    if (config.continual_lab?.tokenizer !== 'bytes') {
      model.dispose();
      throw new Error('the engine trains byte-level models only; this base uses another tokenizer');
    }
    if (job.lora) {
      for (const p of model.params.values()) p.trainable = false;
      const { rank, alpha, dropout = 0, targets = DEFAULT_LORA.targets } = job.lora;
      model.adapters = new AdapterPool(config, [LoraAdapter.create(ctx, config, { rank, alpha, dropout, targets, seed: job.seed })]);
    }
    const pairs = job.examples.map((e) => tok.encodePair(e.prompt, e.answer, config.n_positions));
    const batch = makeBatch(ctx, pairs, tok.specials.pad);
    const optimizer = new AdamW(ctx, { ...DEFAULT_ADAMW, weightDecay: 0 });
    const schedule = { peakLr: job.peakLr, warmupSteps: job.warmupSteps, totalSteps: job.steps, minLr: job.peakLr / 10 };
    const started = performance.now();
    let lastLoss = NaN;
    let step = 0;
    try {
      for (step = 1; step <= job.steps; step++) {
        if (this.state === 'paused') {
          this.post({ type: 'paused', runId: job.runId, step: step - 1 });
          // A resume may arrive before we start waiting (even from inside post), so wait only
          // while still paused.
          while (this.stateNow() === 'paused') await new Promise<void>((r) => this.resumeWaiters.push(r));
          // Changed by a message handled while we waited (narrowing cannot see that).
          if (this.stateNow() === 'running') this.post({ type: 'resumed', runId: job.runId, step: step - 1 });
        }
        if (this.state === 'stopping') {
          this.post({ type: 'stopped', runId: job.runId, step: step - 1 });
          return;
        }
        const lr = learningRate(schedule, step);
        const r = trainStep(model, optimizer, [batch], lr, job.seed);
        lastLoss = (await ctx.readF32(r.losses[0]))[0];
        ctx.release(...r.losses, ...(r.gradNorm ? [r.gradNorm] : []));
        if (!Number.isFinite(lastLoss)) throw new Error(`loss became ${lastLoss} at step ${step}: lower the learning rate`);
        const seconds = (performance.now() - started) / 1000;
        this.post({
          type: 'progress',
          runId: job.runId,
          step,
          totalSteps: job.steps,
          loss: lastLoss,
          learningRate: lr,
          tokensPerSecond: (batch.lossTokens * step) / seconds,
          etaSeconds: (seconds / step) * (job.steps - step),
        });
      }
      const prompts = job.examples.map((e) => [tok.specials.begin, ...tok.encode(e.prompt)]);
      const maxAnswer = Math.max(...pairs.map((p) => p.ids.length - p.promptLength));
      const outs = await generateGreedy(model, prompts, {
        maxNewTokens: Math.min(maxAnswer, config.n_positions - Math.max(...prompts.map((p) => p.length))),
        endId: tok.specials.end,
        padId: tok.specials.pad,
      });
      const answers = outs.map((o) => tok.decode(o.filter((id) => id !== tok.specials.end), { specials: 'skip' }));
      const exact = answers.filter((a, i) => a === job.examples[i].answer).length;
      this.post({
        type: 'result',
        runId: job.runId,
        steps: job.steps,
        seconds: (performance.now() - started) / 1000,
        finalLoss: lastLoss,
        exactMatch: (100 * exact) / job.examples.length,
        answers,
      });
    } finally {
      releaseBatch(ctx, batch);
      optimizer.dispose();
      model.adapters?.dispose(ctx);
      model.dispose();
    }
  }
}

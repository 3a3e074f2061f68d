import type { GpuContext } from '../gpu/context';
import { makeGptConfig } from '../model/config';
import { generateGreedy } from '../model/generate';
import { GptModel } from '../model/gpt';
import { AdapterPool } from '../model/adapterPool';
import { DEFAULT_LORA, LoraAdapter } from '../model/lora';
import { ensureMatmulTuned } from '../diagnostics/matmulTuningCache';
import { matmulTuningKey } from '../kernels/matmulTuning';
import { tokenizerForConfig } from '../model/modelTokenizer';
import { encodeExamples, Trainer } from '../train/trainer';
import { byteTokenizer } from '../tokenizer/byteTokenizer';
import type { Tokenizer } from '../tokenizer/tokenizer';
import { validateJob, type FinetuneJob, type FromWorker, type ToWorker } from './protocol';

/**
 * Runs jobs for one GPU context and answers protocol messages. Jobs train through the
 * engine's one trainer (src/train/trainer.ts), so one step is always queued ahead of the
 * step being reported. Control messages (pause, stop) take effect before the next step is
 * queued, after the step in flight has been reported. The first job measures the matmul
 * variants for this adapter (or adopts the result `options.matmulTuning` carries from an
 * earlier visit) and posts it as `tuned`.
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
    options: { matmulTuning?: unknown } = {},
  ) {
    this.storedTuning = options.matmulTuning;
  }

  private storedTuning: unknown;

  /** Handles one message; a start resolves when its run ends. */
  async handle(msg: ToWorker): Promise<void> {
    switch (msg.type) {
      case 'init':
        // Only before the first measurement: a result in use is never swapped mid-session.
        if (!this.tuned) this.storedTuning = msg.matmulTuning;
        return;
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

  /**
   * The matmul variant for this adapter, measured once per context (about a second on a
   * software adapter) or taken from a result the page stored after an earlier visit.
   * A new measurement is posted so the page can keep it.
   */
  private tuned: Promise<void> | null = null;

  private ensureTuned(): Promise<void> {
    this.tuned ??= (async () => {
      const store = new Map<string, string>();
      if (this.storedTuning !== undefined) store.set(matmulTuningKey(this.ctx.adapter), JSON.stringify(this.storedTuning));
      const { tuning, fromCache } = await ensureMatmulTuned(this.ctx, { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v) });
      this.post({ type: 'tuned', tuning, fromCache });
    })();
    // A failed measurement (device lost, say) is tried again by the next job.
    this.tuned.catch(() => (this.tuned = null));
    return this.tuned;
  }

  private async run(job: FinetuneJob): Promise<void> {
    const { ctx } = this;
    await this.ensureTuned();
    let model: GptModel;
    let tok: Tokenizer;
    if (job.model) {
      tok = byteTokenizer;
      model = GptModel.init(
        ctx,
        makeGptConfig({
          ...job.model,
          vocab_size: tok.vocabSize,
          bos_token_id: tok.specials.begin,
          eos_token_id: tok.specials.end,
          continual_lab: { tokenizer: 'bytes' },
        }),
        job.seed,
      );
    } else {
      model = await this.loadBase(ctx);
      try {
        tok = await tokenizerForConfig(model.config, 'the base model');
      } catch (e) {
        model.dispose();
        throw e;
      }
    }
    const { config } = model;
    if (job.lora) {
      for (const p of model.params.values()) p.trainable = false;
      const { rank, alpha, dropout = 0, targets = DEFAULT_LORA.targets } = job.lora;
      model.adapters = new AdapterPool(config, [LoraAdapter.create(ctx, config, { rank, alpha, dropout, targets, seed: job.seed })]);
    }
    const { pairs } = encodeExamples(tok, job.examples, config.n_positions);
    const batchSize = job.batchSize ?? Math.min(16, pairs.length);
    const trainer = new Trainer(model, tok, {
      batchSize,
      microBatchSize: job.microBatchSize,
      epochs: Math.ceil(job.steps / Math.ceil(pairs.length / batchSize)),
      maxSteps: job.steps,
      peakLr: job.peakLr,
      warmupSteps: job.warmupSteps,
      seed: job.seed,
      optimizer: { weightDecay: 0 },
    });
    try {
      const summary = await trainer.train(pairs, {
        beforeStep: async (step, settle) => {
          if (this.state === 'paused') {
            // Report the step still in flight before saying where the run paused.
            await settle();
            this.post({ type: 'paused', runId: job.runId, step: step - 1 });
            // A resume may arrive before we start waiting (even from inside post), so wait only
            // while still paused.
            while (this.stateNow() === 'paused') await new Promise<void>((r) => this.resumeWaiters.push(r));
            // Changed by a message handled while we waited (narrowing cannot see that).
            if (this.stateNow() === 'running') this.post({ type: 'resumed', runId: job.runId, step: step - 1 });
          }
          if (this.stateNow() === 'stopping') {
            await settle();
            return 'stop';
          }
          return 'continue';
        },
        onStep: (r) =>
          this.post({
            type: 'progress',
            runId: job.runId,
            step: r.step,
            totalSteps: r.totalSteps,
            loss: r.loss,
            learningRate: r.learningRate,
            tokensPerSecond: r.tokensPerSecond,
            etaSeconds: r.etaSeconds,
          }),
      });
      if (summary.stopped) {
        this.post({ type: 'stopped', runId: job.runId, step: summary.steps });
        return;
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
        steps: summary.steps,
        seconds: summary.seconds,
        finalLoss: summary.lastLoss,
        exactMatch: (100 * exact) / job.examples.length,
        answers,
      });
    } finally {
      trainer.dispose();
      model.adapters?.dispose(ctx);
      model.dispose();
    }
  }
}

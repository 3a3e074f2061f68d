import { RunStopped } from '../cl/runStream';
import { MemoryStateStore, type StateStore } from '../cl/stateStore';
import { runKernelSelfCheck, SELF_CHECK_TOLERANCE } from '../diagnostics/kernelSelfCheck';
import type { SelfCheckExpected } from '../diagnostics/selfCheckExpected';
import type { GpuContext } from '../gpu/context';
import { baseCheckpointFromFiles, type BaseModelFiles, type BaseModelRecord } from '../model/baseModel';
import { makeGptConfig } from '../model/config';
import { generate, generateGreedy } from '../model/generate';
import { GptModel } from '../model/gpt';
import { AdapterPool } from '../model/adapterPool';
import { DEFAULT_LORA, LoraAdapter } from '../model/lora';
import { ensureMatmulTuned } from '../diagnostics/matmulTuningCache';
import { matmulTuningKey, type MatmulTuning } from '../kernels/matmulTuning';
import { tokenizerForConfig } from '../model/modelTokenizer';
import { encodeExamples, Trainer } from '../train/trainer';
import { byteTokenizer } from '../tokenizer/byteTokenizer';
import type { Tokenizer } from '../tokenizer/tokenizer';
import type { LabReplies, LabRequest, LabToWorker, ModelFacts } from './labProtocol';
import { answerAt, customModel, exportAt, inspectAt, modelFacts, runExperiment, type BaseWeights } from './labRuns';
import { validateJob, type FinetuneJob, type FromWorker, type ToWorker } from './protocol';
import { RunControl } from './runControl';

/**
 * Runs jobs for one GPU context and answers protocol messages: fine-tuning jobs
 * (protocol.ts), and the lab's experiments and requests (labProtocol.ts). One run (a job
 * or an experiment) at a time; requests (generation, inspection, the kernel self-check)
 * are answered beside it. Jobs train through the engine's one trainer
 * (src/train/trainer.ts), so one step is always queued ahead of the step being reported.
 * Control messages (pause, stop) take effect before the next step is queued, after the step
 * in flight has been reported. The first run measures the matmul variants for this adapter
 * (or adopts the result `options.matmulTuning` carries from an earlier visit) and posts it
 * as `tuned`.
 */
export class TrainingEngine {
  private readonly control = new RunControl();
  private storedTuning: unknown;
  private readonly states: StateStore;
  private readonly selfCheckExpected: () => Promise<SelfCheckExpected>;

  /**
   * `loadBase` gives the shipped base model's files (fetched in the browser, read from disk
   * in Node); jobs without a `model` of their own and every experiment start from it.
   * `states` keeps the experiments' method states (IndexedDB in the browser);
   * `selfCheckExpected` gives the kernel self-check's expected outputs (a served file).
   */
  constructor(
    private readonly ctx: GpuContext,
    private readonly post: (m: FromWorker) => void,
    private readonly loadBase: () => Promise<BaseModelFiles>,
    options: { matmulTuning?: unknown; states?: StateStore; selfCheckExpected?: () => Promise<SelfCheckExpected> } = {},
  ) {
    this.storedTuning = options.matmulTuning;
    this.states = options.states ?? new MemoryStateStore();
    this.selfCheckExpected = options.selfCheckExpected ?? (() => Promise.reject(new Error('this engine was given no self-check expectations')));
  }

  /**
   * Measures (or adopts) the matmul variant now rather than with the first job, so the page
   * can show it from the start. A failure is posted and tried again by the next job.
   */
  async prepare(): Promise<void> {
    try {
      await this.ensureTuned();
    } catch (e) {
      this.post({ type: 'error', runId: null, message: `matmul tuning failed: ${e instanceof Error ? e.message : String(e)}` });
    }
  }

  /** Handles one message; a start resolves when its run ends, a request when it is answered. */
  async handle(msg: ToWorker): Promise<void> {
    switch (msg.type) {
      case 'init':
        // Only before the first measurement: a result in use is never swapped mid-session.
        if (!this.tuned) this.storedTuning = msg.matmulTuning;
        return;
      case 'start':
        return this.exclusive(typeof msg.job?.runId === 'string' ? msg.job.runId : null, () => this.start(msg.job));
      case 'runExperiment':
        return this.exclusive(typeof msg.runId === 'string' ? msg.runId : null, () => this.experiment(msg));
      case 'request':
        return this.answer(msg.id, msg.request);
      case 'pause':
        return this.control.pause();
      case 'resume':
        return this.control.resume();
      case 'stop':
        return this.control.stop();
      default:
        this.post({ type: 'error', runId: this.control.current, message: `unknown message ${JSON.stringify(msg)}` });
    }
  }

  /** Runs `body` as the worker's one run; refuses a second while one is in progress. */
  private async exclusive(runId: string | null, body: () => Promise<void>): Promise<void> {
    if (runId === null || runId === '') {
      this.post({ type: 'error', runId: null, message: 'a run needs a non-empty runId' });
      return;
    }
    if (this.control.busy) {
      this.post({ type: 'error', runId, message: `a run (${this.control.current}) is already in progress` });
      return;
    }
    this.control.begin(runId);
    try {
      await body();
    } catch (e) {
      if (e instanceof RunStopped) this.post({ type: 'stopped', runId, step: 0 });
      else this.post({ type: 'error', runId, message: e instanceof Error ? e.message : String(e) });
    } finally {
      this.control.end();
    }
  }

  private gate(runId: string, step: () => number) {
    return (settle: () => Promise<void>) =>
      this.control.gate(
        settle,
        () => this.post({ type: 'paused', runId, step: step() }),
        () => this.post({ type: 'resumed', runId, step: step() }),
      );
  }

  /**
   * The matmul variant for this adapter, measured once per context (about a second on a
   * software adapter) or taken from a result the page stored after an earlier visit.
   * A new measurement is posted so the page can keep it.
   */
  private tuned: Promise<MatmulTuning> | null = null;

  private ensureTuned(): Promise<MatmulTuning> {
    this.tuned ??= (async () => {
      const store = new Map<string, string>();
      if (this.storedTuning !== undefined) store.set(matmulTuningKey(this.ctx.adapter), JSON.stringify(this.storedTuning));
      const { tuning, fromCache } = await ensureMatmulTuned(this.ctx, { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v) });
      this.post({ type: 'tuned', tuning, fromCache });
      return tuning;
    })();
    // A failed measurement (device lost, say) is tried again by the next run.
    this.tuned.catch(() => (this.tuned = null));
    return this.tuned;
  }

  /** The base's files, read once; a failed read is tried again next time. */
  private baseFiles: Promise<BaseModelFiles> | null = null;
  private baseWeights: Promise<BaseWeights> | null = null;

  private files(): Promise<BaseModelFiles> {
    this.baseFiles ??= this.loadBase();
    this.baseFiles.catch(() => (this.baseFiles = null));
    return this.baseFiles;
  }

  /** A checkpoint the person gave, used instead of the shipped base while set. */
  private custom: (BaseWeights & { facts: ModelFacts }) | null = null;

  private async modelFacts(): Promise<ModelFacts> {
    if (this.custom) return this.custom.facts;
    const [files, base] = await Promise.all([this.files(), this.weights()]);
    return modelFacts(base, { source: 'shipped base', shipped: true, record: JSON.parse(files.recordText) as BaseModelRecord, bytes: files.weights.byteLength, warnings: [] });
  }

  private weights(): Promise<BaseWeights> {
    if (this.custom) return Promise.resolve(this.custom);
    this.baseWeights ??= this.files().then(async (files) => {
      const { config, tensors } = baseCheckpointFromFiles(files);
      return { config, tensors, tokenizer: await tokenizerForConfig(config, 'the base model'), source: 'shipped base' };
    });
    this.baseWeights.catch(() => (this.baseWeights = null));
    return this.baseWeights;
  }

  private async answer(id: number, request: LabRequest): Promise<void> {
    try {
      const value = await this.reply(request);
      this.post({ type: 'reply', id, ok: true, value });
    } catch (e) {
      this.post({ type: 'reply', id, ok: false, error: e instanceof Error ? e.message : String(e) });
    }
  }

  private async reply(request: LabRequest): Promise<LabReplies[LabRequest['kind']]> {
    switch (request?.kind) {
      case 'selfCheck':
        await this.ensureTuned();
        return { results: await runKernelSelfCheck(this.ctx, await this.selfCheckExpected()), tolerance: SELF_CHECK_TOLERANCE };
      case 'model':
        return this.modelFacts();
      case 'setModel':
        if (this.control.busy) throw new Error('the model cannot change while a run is in progress');
        if (request.files === null) {
          this.custom = null;
          return this.modelFacts();
        }
        this.custom = await customModel(request.files);
        return this.modelFacts();
      case 'generate':
        return { text: await this.generate(request) };
      case 'inspect': {
        await this.ensureTuned();
        const { at, request: req } = request;
        return inspectAt(this.ctx, await this.weights(), this.states, at, req);
      }
      case 'exportAdapters':
        return exportAt(this.ctx, await this.weights(), this.states, request.at);
      default:
        throw new Error(`unknown request ${JSON.stringify(request)}`);
    }
  }

  private async generate(request: Extract<LabRequest, { kind: 'generate' }>): Promise<string> {
    const { prompt, maxNewTokens } = request;
    if (typeof prompt !== 'string' || prompt === '') throw new Error('the prompt is empty');
    if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) throw new Error(`maxNewTokens must be a whole number >= 1, got ${maxNewTokens}`);
    await this.ensureTuned();
    const base = await this.weights();
    const tok = base.tokenizer;
    const ids = [tok.specials.begin, ...tok.encode(prompt)];
    const room = base.config.n_positions - ids.length;
    if (room < 1) throw new Error(`the prompt is ${ids.length - 1} tokens; the model reads at most ${base.config.n_positions - 1}`);
    if (request.from.kind === 'method') return answerAt(this.ctx, base, this.states, request.from, prompt, Math.min(maxNewTokens, room));
    const model = GptModel.fromTensors(this.ctx, base.config, base.tensors);
    try {
      const [out] = await generate(model, [ids], {
        maxNewTokens: Math.min(maxNewTokens, room),
        endId: tok.specials.end,
        padId: tok.specials.pad,
        temperature: request.temperature,
        seed: request.seed,
      });
      return tok.decode(out, { specials: 'skip' });
    } finally {
      model.dispose();
    }
  }

  private async experiment(msg: Extract<LabToWorker, { type: 'runExperiment' }>): Promise<void> {
    const matmulTuning = await this.ensureTuned();
    const runId = msg.runId;
    let step = 0;
    const results = await runExperiment(
      this.ctx,
      await this.weights(),
      this.states,
      { runId, experiment: msg.experiment, stream: msg.stream, ood: msg.ood, resumeFrom: msg.resumeFrom, matmulTuning },
      {
        beforeStep: this.gate(runId, () => step),
        onProgress: (progress) => {
          step = progress.step;
          const pool = this.ctx.poolStats();
          this.post({ type: 'runProgress', runId, progress, gpuBytes: pool.liveBytes + pool.pooledBytes });
        },
        onStageDone: (r, method, stage, answers) => this.post({ type: 'stageDone', runId, results: r, method, stage, answers }),
      },
    );
    this.post({ type: 'runDone', runId, results });
  }

  private async start(job: FinetuneJob): Promise<void> {
    const problems = validateJob(job);
    if (problems.length) {
      this.post({ type: 'error', runId: job?.runId ?? null, message: `invalid job: ${problems.join('; ')}` });
      return;
    }
    await this.run(job);
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
      const base = await this.weights();
      model = GptModel.fromTensors(ctx, base.config, base.tensors);
      tok = base.tokenizer;
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
    let reported = 0;
    try {
      const summary = await trainer.train(pairs, {
        beforeStep: (_step, settle) => this.gate(job.runId, () => reported)(settle),
        onStep: (r) => {
          reported = r.step;
          this.post({
            type: 'progress',
            runId: job.runId,
            step: r.step,
            totalSteps: r.totalSteps,
            loss: r.loss,
            learningRate: r.learningRate,
            tokensPerSecond: r.tokensPerSecond,
            etaSeconds: r.etaSeconds,
          });
        },
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

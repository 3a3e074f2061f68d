import { quadraticPenalty, type PenaltyTarget } from '../autograd/penaltyOps';
import { Tape, zeroGrad } from '../autograd/tape';
import { maskedCrossEntropy } from '../autograd/transformerOps';
import type { GpuTensor } from '../gpu/tensor';
import { accumulate } from '../kernels/accumulate';
import { makeBatch, releaseBatch } from '../train/batch';
import { encodeExamples, type Trainer } from '../train/trainer';
import { rng, seedFor, shuffleInPlace } from '../util/random';
import { LORA_SETTING_SPECS } from './common';
import type { MethodDefinition, MethodEnv, MethodState } from './method';
import { SeqLora } from './seqlora';
import { resolveSettings, type Resolved, type SettingSpecs } from './settings';

const SPECS = {
  ...LORA_SETTING_SPECS,
  lambda: { kind: 'number', default: 100, min: 0, max: 1e9, doc: 'Penalty weight: lambda * sum F (theta - theta*)^2, with F normalised to mean 1 over the adapter.' },
  fisherBatches: { kind: 'number', default: 8, min: 1, max: 1024, integer: true, doc: 'Mini-batches of the finished task whose squared gradients estimate the diagonal Fisher.' },
  fisherBatchSize: { kind: 'number', default: 4, min: 1, max: 256, integer: true, doc: 'Examples per Fisher mini-batch.' },
} as const satisfies SettingSpecs;

/**
 * EWC (online form): SeqLoRA plus a quadratic penalty that holds the adapter near its
 * values after the previous task, weighted per weight by the diagonal Fisher summed over
 * the finished tasks. The Fisher is the mean squared gradient of the task's loss over a
 * few seeded mini-batches, normalised to mean 1 so that lambda means the same for any
 * model size.
 */
class Ewc extends SeqLora {
  private fisher: Float32Array[] | null = null;
  private anchor: Float32Array[] | null = null;
  private gpu: { fisher: GpuTensor[]; anchor: GpuTensor[] } | null = null;

  constructor(env: MethodEnv, readonly ewc: Resolved<typeof SPECS>) {
    super(env, ewc, 'ewc');
  }

  private params() {
    return this.stack.pool.parameters();
  }

  configureTrainer(trainer: Trainer): void {
    const gpu = this.gpu;
    if (!gpu || this.ewc.lambda === 0) return;
    const targets: PenaltyTarget[] = this.params().map((p, i) => ({ param: p, anchor: gpu.anchor[i], weight: gpu.fisher[i] }));
    trainer.addLossTerm((tape) => quadraticPenalty(tape, targets, this.ewc.lambda));
  }

  override async endStage(t: number): Promise<void> {
    const { ctx, model, tokenizer } = this.env;
    const params = this.params();
    const taskFisher = params.map((p) => ctx.zeros(p.value.shape, 'f32', 'ewc.fisher'));
    const examples = shuffleInPlace([...this.env.tasks[t].train], rng(seedFor(this.env.seed, `ewc/fisher${t}`)));
    const { pairs } = encodeExamples(tokenizer, examples, model.config.n_positions);
    const size = Math.min(this.ewc.fisherBatchSize, pairs.length);
    const batches = Math.min(this.ewc.fisherBatches, Math.ceil(pairs.length / size));
    try {
      for (let k = 0; k < batches; k++) {
        const b = makeBatch(ctx, pairs.slice(k * size, (k + 1) * size), tokenizer.specials.pad);
        const tape = new Tape(ctx);
        try {
          const logits = model.forward(tape, b.ids, b.positions, b.B, b.T, b.lossRows);
          maskedCrossEntropy(tape, logits, b.targets, b.mask);
          tape.backward();
        } finally {
          tape.dispose();
          releaseBatch(ctx, b);
        }
        params.forEach((p, i) => p.grad && accumulate(ctx, taskFisher[i], p.grad, 1 / batches, { square: true }));
        zeroGrad(ctx, params);
      }
      const values = await Promise.all(taskFisher.map((f) => ctx.readF32(f)));
      this.fisher = this.fisher ? this.fisher.map((f, i) => f.map((v, j) => v + values[i][j])) : values;
      this.anchor = await Promise.all(params.map((p) => ctx.readF32(p.value)));
    } finally {
      ctx.release(...taskFisher);
    }
    this.upload();
  }

  /** Puts the normalised Fisher and the anchor on the GPU for the penalty. */
  private upload(): void {
    const { ctx } = this.env;
    this.releaseGpu();
    if (!this.fisher || !this.anchor) return;
    let sum = 0;
    let count = 0;
    for (const f of this.fisher) for (const v of f) (sum += v), count++;
    const mean = sum / Math.max(count, 1);
    const scale = mean > 0 ? 1 / mean : 0;
    const params = this.params();
    this.gpu = {
      fisher: this.fisher.map((f, i) => ctx.upload(f.map((v) => v * scale), params[i].value.shape, 'f32', 'ewc.fisher')),
      anchor: this.anchor.map((a, i) => ctx.upload(a, params[i].value.shape, 'f32', 'ewc.anchor')),
    };
  }

  private releaseGpu(): void {
    if (this.gpu) this.env.ctx.release(...this.gpu.fisher, ...this.gpu.anchor);
    this.gpu = null;
  }

  override parameterCounts() {
    const c = this.stack.counts();
    // The Fisher and the anchor are kept too.
    return { trainable: c.trainable, stored: c.stored * (this.fisher ? 3 : 1) };
  }

  override async saveState(): Promise<MethodState> {
    const tensors = await this.stack.save();
    this.fisher?.forEach((f, i) => tensors.set(`ewc.fisher.${i}`, f));
    this.anchor?.forEach((a, i) => tensors.set(`ewc.anchor.${i}`, a));
    return { tensors, meta: null };
  }

  override loadState(state: MethodState): void {
    super.loadState(state);
    const n = this.params().length;
    const get = (kind: string) => (state.tensors.has(`ewc.${kind}.0`) ? Array.from({ length: n }, (_, i) => state.tensors.get(`ewc.${kind}.${i}`)!) : null);
    this.fisher = get('fisher');
    this.anchor = get('anchor');
    this.upload();
  }

  override dispose(): void {
    this.releaseGpu();
    super.dispose();
  }
}

export const ewc: MethodDefinition = {
  id: 'ewc',
  summary: 'SeqLoRA plus a diagonal-Fisher penalty holding the adapter near its values after each task (online EWC).',
  stages: 'sequential',
  settings: SPECS,
  create: (env, given) => new Ewc(env, resolveSettings('ewc', SPECS, given)),
};

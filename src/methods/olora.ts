import { orthogonalityPenalty, type OrthogonalityPair } from '../autograd/penaltyOps';
import type { GpuTensor } from '../gpu/tensor';
import type { Trainer } from '../train/trainer';
import { asTrainingExamples, LORA_SETTING_SPECS, stageTrainer } from './common';
import type { MethodDefinition, MethodEnv, StagePlan } from './method';
import { SeqLora } from './seqlora';
import { resolveSettings, type Resolved, type SettingSpecs } from './settings';

const SPECS = {
  ...LORA_SETTING_SPECS,
  lambda: { kind: 'number', default: 0.5, min: 0, max: 1e6, doc: "Weight of the orthogonality term lambda * sum |A_old A_new^T| (O-LoRA's lambda_1)." },
} as const satisfies SettingSpecs;

/**
 * O-LoRA: a new LoRA adapter per task, trained with a penalty that keeps its A (the
 * subspace it reads) orthogonal to the frozen earlier adapters'. The pool sums every
 * adapter (all gates 1), so inference needs no task id: SeqLoRA's predict, counts and state.
 */
class OLora extends SeqLora {
  /** Per pair of the new adapter, the earlier adapters' A stacked [K r, in]. */
  private frozen: OrthogonalityPair[] = [];

  constructor(env: MethodEnv, readonly olora: Resolved<typeof SPECS>) {
    super(env, olora, 'olora');
  }

  override async beginStage(t: number): Promise<StagePlan> {
    const pool = this.stack.pool;
    if (t > 0 && pool.size === t) {
      for (const p of pool.parameters()) p.trainable = false;
      this.stack.addAdapter(this.id);
    }
    await this.stackFrozen();
    const examples = asTrainingExamples(this.env.tasks[t].train);
    return { examples, trainer: stageTrainer(this.env, this.id, t, examples.length, this.settings) };
  }

  /** Uploads, per pair, the A's of every adapter but the newest, stacked. */
  private async stackFrozen(): Promise<void> {
    const { ctx } = this.env;
    this.releaseFrozen();
    const adapters = this.stack.pool.adapters;
    const fresh = adapters[adapters.length - 1];
    const old = adapters.slice(0, -1);
    if (old.length === 0) return;
    for (const [name, pair] of fresh.pairs) {
      const [r, nIn] = pair.A.value.shape;
      const stacked = new Float32Array(old.length * r * nIn);
      for (const [k, a] of old.entries()) stacked.set(await ctx.readF32(a.pairs.get(name)!.A.value), k * r * nIn);
      this.frozen.push({ frozen: ctx.upload(stacked, [old.length * r, nIn], 'f32', 'olora.frozenA'), fresh: pair.A });
    }
  }

  private releaseFrozen(): void {
    const tensors: GpuTensor[] = this.frozen.map((f) => f.frozen);
    if (tensors.length) this.env.ctx.release(...tensors);
    this.frozen = [];
  }

  configureTrainer(trainer: Trainer): void {
    if (this.frozen.length === 0 || this.olora.lambda === 0) return;
    const pairs = this.frozen;
    trainer.addLossTerm((tape) => orthogonalityPenalty(tape, pairs, this.olora.lambda));
  }

  override dispose(): void {
    this.releaseFrozen();
    super.dispose();
  }
}

export const olora: MethodDefinition = {
  id: 'olora',
  summary: "A new LoRA per task kept orthogonal to the frozen earlier ones; inference sums them all (no task id).",
  stages: 'sequential',
  settings: SPECS,
  create: (env, given) => new OLora(env, resolveSettings('olora', SPECS, given)),
};

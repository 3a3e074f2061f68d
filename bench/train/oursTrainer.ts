// Our engine in the training benchmark: GptModel + trainStep + AdamW, the same code path
// the lab's fine-tunes run (src/train/trainStep.ts), on a browser GpuContext.
import type { GpuContext } from '../../src/gpu/context';
import { GptModel } from '../../src/model/gpt';
import { AdapterPool } from '../../src/model/adapterPool';
import { LoraAdapter, type LoraTarget } from '../../src/model/lora';
import { releaseBatch, uploadBatch } from '../../src/train/batch';
import { AdamW } from '../../src/train/optimizer';
import { trainStep } from '../../src/train/trainStep';
import type { TrainCase, TrainContender, Trainer } from './trainer';
import { describeDevice } from '../contender';

export function createOursTrainer(ctx: GpuContext): TrainContender {
  return {
    lib: 'ours',
    memorySource: "our buffer pool's live plus pooled bytes (GpuContext.poolStats)",
    adapterInfo: () => describeDevice(ctx.device),
    prepare: async (c) => prepareOurs(ctx, c),
  };
}


/** Our trainer on any GpuContext: the page's (browser) or Node's (bench/train/nodeEngine.ts). */
export async function prepareOurs(ctx: GpuContext, c: TrainCase): Promise<Trainer> {
  const model = GptModel.fromTensors(ctx, c.config, c.weights);
  if (c.mode === 'lora') {
    for (const p of model.params.values()) p.trainable = false;
    const { rank, alpha, targets } = c.lora;
    const adapter = LoraAdapter.create(ctx, c.config, { rank, alpha, targets: targets as readonly LoraTarget[], seed: 0 });
    for (const [name, pair] of adapter.pairs) {
      ctx.write(pair.A.value, c.lora.A.get(name)!);
      ctx.write(pair.B.value, c.lora.B.get(name)!);
    }
    model.adapters = new AdapterPool(c.config, [adapter]);
  }
  const { lr, ...settings } = c.optimizer;
  const optimizer = new AdamW(ctx, settings);
  // The lab's own batch layout (its loss rows listed when few positions carry loss).
  const batch = uploadBatch(ctx, c);

  let dispatches: number | null = null;
  const run = async (n: number): Promise<number> => {
    let last = null;
    const d0 = ctx.dispatchCount;
    for (let i = 0; i < n; i++) {
      const { losses, gradNorm } = trainStep(model, optimizer, [batch], lr);
      if (gradNorm) ctx.release(gradNorm);
      if (last) ctx.release(last);
      last = losses[0];
    }
    dispatches = (ctx.dispatchCount - d0) / n;
    const [loss] = await ctx.readF32(last!);
    ctx.release(last!);
    return loss;
  };
  return {
    step: () => run(1),
    steps: run,
    gpuBytes: () => {
      const s = ctx.poolStats();
      return s.liveBytes + s.pooledBytes;
    },
    dispatchesPerStep: () => dispatches,
    dispose() {
      optimizer.dispose();
      model.adapters?.dispose(ctx);
      model.dispose();
      releaseBatch(ctx, batch);
      ctx.pool.trim();
    },
  };
}

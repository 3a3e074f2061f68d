import { describe, expect, it } from 'vitest';
import { Parameter } from '../../src/autograd/tape';
import { adamwRef, type AdamWState } from '../../src/reference/adamw';
import { clipGradNormRef } from '../../src/reference/gradNorm';
import { AdamW, DEFAULT_ADAMW, decays } from '../../src/train/optimizer';
import { normal, rng, uniform } from '../../src/util/random';
import { expectClose, f64 } from '../helpers/compare';
import { useGpu } from '../helpers/gpu';

const gpu = useGpu();

// Shapes of a small model's trainable tensors: matrices decay, vectors (biases, LayerNorm) do not.
const SHAPES = [[3, 5], [7], [4, 2], [130], [33, 3], [1]];

describe('AdamW over a model\'s parameters', () => {
  it(
    'matches per-parameter float64 AdamW with global clipping while parameters freeze, return and join',
    async () => {
      const ctx = gpu();
      const live0 = ctx.poolStats().live;
      const r = rng(11);
      const settings = { ...DEFAULT_ADAMW, weightDecay: 0.1, maxGradNorm: 0.5 };
      const opt = new AdamW(ctx, settings);
      const values = SHAPES.map((s) => normal(s.reduce((a, b) => a * b, 1), r, 0.5));
      const params = SHAPES.map((s, i) => new Parameter(ctx.upload(values[i], s), `p${i}`));
      const want: AdamWState[] = values.map((v) => ({ param: f64(v), m: new Float64Array(v.length), v: new Float64Array(v.length) }));
      // Which parameters train at each step: p1 freezes for steps 3-4 (its moments must
      // survive), p5 joins at step 4, p2 leaves for good at step 5.
      const liveAt = (step: number) => params.map((_, i) => !(i === 1 && (step === 3 || step === 4)) && !(i === 5 && step < 4) && !(i === 2 && step >= 5));
      for (let step = 1; step <= 6; step++) {
        const live = liveAt(step);
        const grads = params.map((p, i) => (live[i] ? uniform(p.value.size, r, -2, 2) : null));
        params.forEach((p, i) => {
          p.trainable = live[i];
          p.grad = grads[i] ? ctx.upload(grads[i]!, p.value.shape) : null;
        });
        const norm = opt.step(params, 1e-2);
        const clipped = clipGradNormRef(grads.filter((g) => g !== null).map((g) => f64(g!)), settings.maxGradNorm);
        expect((await ctx.readF32(norm!))[0]).toBeCloseTo(clipped.norm, 4);
        ctx.release(norm!);
        let k = 0;
        params.forEach((p, i) => {
          if (!live[i]) return;
          const h = { ...settings, lr: 1e-2, weightDecay: decays(p) ? settings.weightDecay : 0 };
          want[i] = adamwRef(want[i], clipped.grads[k++], step, h);
        });
        for (const p of params) if (p.grad) ctx.release(p.grad), (p.grad = null);
      }
      for (const [i, p] of params.entries()) expectClose(await ctx.readF32(p.value), want[i].param, `p${i}`);
      opt.dispose();
      for (const p of params) ctx.release(p.value);
      expect(ctx.poolStats().live, 'live buffers').toBe(live0);
    },
  );
});

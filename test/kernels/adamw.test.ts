import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/gpu/errors';
import { ADAMW_DEFAULTS, adamwStep, type AdamWConfig } from '../../src/kernels/adamw';
import { gradNorm } from '../../src/kernels/gradNorm';
import { adamwRef, type AdamWState } from '../../src/reference/adamw';
import { clipGradNormRef } from '../../src/reference/gradNorm';
import { normal, rng, uniform } from '../../src/util/random';
import { expectClose, f64 } from '../helpers/compare';
import { useGpu } from '../helpers/gpu';

const gpu = useGpu();

function leakCheck(ctx: ReturnType<typeof gpu>) {
  const live = ctx.poolStats().live;
  return () => expect(ctx.poolStats().live, 'live buffers').toBe(live);
}

const CONFIGS: Array<[string, AdamWConfig]> = [
  ['torch defaults, lr 1e-3', { lr: 1e-3 }],
  ['lr 1e-2, weight decay 0.1, beta2 0.95', { lr: 1e-2, weightDecay: 0.1, beta2: 0.95 }],
  ['no weight decay, eps 1e-6, beta1 0', { lr: 3e-3, weightDecay: 0, eps: 1e-6, beta1: 0 }],
];

describe('adamwStep', () => {
  it.each([1, 7, 33, 1000, 70_001].flatMap((n) => CONFIGS.map(([name, cfg]) => [n, name, cfg] as const)))(
    'six steps match the float64 reference for n=%i (%s)',
    async (n, _name, cfg) => {
      const ctx = gpu();
      const done = leakCheck(ctx);
      const r = rng(n + cfg.lr * 1e4);
      const param = normal(n, r, 0.5);
      const tp = ctx.upload(param, [n]);
      const tm = ctx.upload(new Float32Array(n), [n]);
      const tv = ctx.upload(new Float32Array(n), [n]);
      const tg = ctx.empty([n]);
      let state: AdamWState = { param: f64(param), m: new Float64Array(n), v: new Float64Array(n) };
      const h = { ...ADAMW_DEFAULTS, ...cfg };
      for (let step = 1; step <= 6; step++) {
        // Gradients of varied scale, some exactly zero, as sparse rows of an embedding give.
        const grad = uniform(n, r, -2, 2).map((g, i) => (i % 5 === 0 ? 0 : g * 10 ** ((i % 7) - 3)));
        ctx.write(tg, grad);
        adamwStep(ctx, tp, tg, tm, tv, step, cfg);
        // The reference is fed the fp32 gradient the GPU saw.
        state = adamwRef(state, f64(grad), step, h);
      }
      expectClose(await ctx.readF32(tp), state.param, `param n=${n}`);
      expectClose(await ctx.readF32(tm), state.m, `m n=${n}`);
      expectClose(await ctx.readF32(tv), state.v, `v n=${n}`);
      ctx.release(tp, tm, tv, tg);
      done();
    },
  );

  it.each([
    [0.5, 'clips'],
    [1e9, 'leaves gradients as they are'],
    [1e-5, 'keeps the 1e-6 of the clip factor (visible when the norm is tiny)'],
  ])('with clip maxNorm %d %s: clip_grad_norm_ then AdamW, in float64', async (maxNorm) => {
    const ctx = gpu();
    const done = leakCheck(ctx);
    const r = rng(5);
    const tiny = maxNorm < 1e-3;
    const sizes = [7, 130, 1000];
    const params = sizes.map((n) => normal(n, r, 0.5));
    const tp = params.map((p) => ctx.upload(p, [p.length]));
    const tm = sizes.map((n) => ctx.zeros([n]));
    const tv = sizes.map((n) => ctx.zeros([n]));
    const tg = sizes.map((n) => ctx.empty([n]));
    let states: AdamWState[] = params.map((p) => ({ param: f64(p), m: new Float64Array(p.length), v: new Float64Array(p.length) }));
    const cfg: AdamWConfig = { lr: 1e-2, weightDecay: 0.1 };
    for (let step = 1; step <= 3; step++) {
      const grads = sizes.map((n) => uniform(n, r, -2, 2).map((g) => (tiny ? g * 1e-5 : g)));
      grads.forEach((g, i) => ctx.write(tg[i], g));
      const norm = gradNorm(ctx, tg);
      tp.forEach((p, i) => adamwStep(ctx, p, tg[i], tm[i], tv[i], step, { ...cfg, clip: { norm, maxNorm } }));
      const want = clipGradNormRef(grads.map(f64), maxNorm);
      if (tiny) expect(want.norm).toBeLessThan(1e-2); // so that 1e-6 shifts the factor by over 1e-4
      states = states.map((st, i) => adamwRef(st, want.grads[i], step, { ...ADAMW_DEFAULTS, ...cfg }));
      ctx.release(norm);
    }
    for (let i = 0; i < sizes.length; i++) expectClose(await ctx.readF32(tp[i]), states[i].param, `param ${i} (n=${sizes[i]})`);
    // The gradients themselves are left as they were (clipping happens as they are read).
    ctx.release(...tp, ...tm, ...tv, ...tg);
    done();
  });

  it('rejects bad shapes, shared buffers and bad hyperparameters before dispatching', () => {
    const ctx = gpu();
    const done = leakCheck(ctx);
    const [p, g, m, v] = [ctx.empty([3, 4]), ctx.empty([3, 4]), ctx.empty([3, 4]), ctx.empty([3, 4])];
    const wrong = ctx.empty([4, 3]);
    const gi = ctx.empty([3, 4], 'u32');
    const ok: AdamWConfig = { lr: 1e-3 };
    expect(() => adamwStep(ctx, p, wrong, m, v, 1, ok)).toThrow(ShapeError);
    expect(() => adamwStep(ctx, p, wrong, m, v, 1, ok)).toThrow(/grad has shape \[4, 3\], expected \[3, 4\]/);
    expect(() => adamwStep(ctx, p, gi, m, v, 1, ok)).toThrow(/grad is u32, expected f32/);
    expect(() => adamwStep(ctx, p, g, m, m, 1, ok)).toThrow(/four different buffers/);
    expect(() => adamwStep(ctx, p, g, m, v, 0, ok)).toThrow(/step must be a positive integer/);
    expect(() => adamwStep(ctx, p, g, m, v, 1.5, ok)).toThrow(/step must be a positive integer/);
    expect(() => adamwStep(ctx, p, g, m, v, 1, { lr: NaN })).toThrow(/lr must be finite/);
    expect(() => adamwStep(ctx, p, g, m, v, 1, { lr: -1 })).toThrow(/lr must be >= 0/);
    expect(() => adamwStep(ctx, p, g, m, v, 1, { lr: 1e-3, beta1: 1 })).toThrow(/beta1 must be in \[0, 1\)/);
    expect(() => adamwStep(ctx, p, g, m, v, 1, { lr: 1e-3, beta2: Infinity })).toThrow(/beta2 must be finite/);
    expect(() => adamwStep(ctx, p, g, m, v, 1, { lr: 1e-3, eps: 0 })).toThrow(/eps must be > 0/);
    expect(() => adamwStep(ctx, p, g, m, v, 1, { lr: 1e-3, weightDecay: -0.1 })).toThrow(/weightDecay must be >= 0/);
    const one = ctx.empty([1]);
    expect(() => adamwStep(ctx, p, g, m, v, 1, { lr: 1e-3, clip: { norm: one, maxNorm: 0 } })).toThrow(/clip\.maxNorm must be > 0/);
    expect(() => adamwStep(ctx, p, g, m, v, 1, { lr: 1e-3, clip: { norm: p, maxNorm: 1 } })).toThrow(/clip\.norm has shape/);
    ctx.release(one);
    ctx.release(p, g, m, v, wrong, gi);
    done();
  });
});

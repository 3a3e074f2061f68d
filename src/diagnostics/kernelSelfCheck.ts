import type { GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { add } from '../kernels/add';
import { attentionBackward, attentionForward } from '../kernels/attention';
import { crossEntropyLossAndGrad } from '../kernels/crossEntropy';
import { layerNorm } from '../kernels/layernorm';
import { loraBackward, loraForward } from '../kernels/lora';
import { matmul } from '../kernels/matmul';
import { tunedVariant } from '../kernels/matmulTuning';
import { topkRoute } from '../kernels/topkRouting';
import { maxRelError } from '../util/compare';
import { rng, uniform } from '../util/random';
import type { SelfCheckExpected } from './selfCheckExpected';

/**
 * The lab's kernel self-check: every kernel family run on the user's adapter on fixed seeded
 * inputs and compared with the float64 CPU references' outputs for those inputs. The outputs
 * are shipped as data (public/selfcheck/expected.json, made by `npm run selfcheck-data`; a
 * unit test remakes them from src/reference and compares), so the product never runs the
 * oracle's code: a bug in a reference cannot leak into what it checks.
 */

/** One kernel run compared with the reference outputs. */
export interface SelfCheckResult {
  kernel: string;
  shape: string;
  maxRelError: number;
  passed: boolean;
  ms: number;
}

export const SELF_CHECK_TOLERANCE = 1e-4;
/** The inputs' seed: the shipped expectations are for these inputs. */
export const SELF_CHECK_SEED = 1;

type Outputs = ArrayLike<number>[];

/** A case: its inputs drawn from the shared generator, and the kernels run on them. */
export interface SelfCheckCase<I = unknown> {
  kernel: string;
  shape: string;
  inputs(random: () => number): I;
  run(ctx: GpuContext, inputs: I): Promise<Outputs>;
}

/** An output tensor filled with NaN, so an element the kernel forgets to write fails. */
function poisoned(ctx: GpuContext, shape: number[]): GpuTensor {
  const t = ctx.empty(shape);
  ctx.fill(t, NaN);
  return t;
}

const define = <I>(c: SelfCheckCase<I>) => c as SelfCheckCase;

// Sizes are deliberately not multiples of any tile, and small: the check runs on
// software adapters too.
export const SELF_CHECK_CASES: SelfCheckCase[] = [
  define({
    kernel: 'add',
    shape: 'n=1001',
    inputs: (random) => ({ n: 1001, a: uniform(1001, random), b: uniform(1001, random) }),
    async run(ctx, { n, a, b }) {
      const [ta, tb, out] = [ctx.upload(a, [n]), ctx.upload(b, [n]), poisoned(ctx, [n])];
      add(ctx, ta, tb, out);
      const got = await ctx.readF32(out);
      ctx.release(ta, tb, out);
      return [got];
    },
  }),
  define({
    kernel: 'matmul',
    shape: '[67,45] x [45,130]',
    inputs: (random) => ({ M: 67, K: 45, N: 130, a: uniform(67 * 45, random), b: uniform(45 * 130, random) }),
    async run(ctx, { M, K, N, a, b }) {
      const [ta, tb, out] = [ctx.upload(a, [M, K]), ctx.upload(b, [K, N]), poisoned(ctx, [M, N])];
      matmul(ctx, ta, tb, { out, variant: tunedVariant(ctx) });
      const got = await ctx.readF32(out);
      ctx.release(ta, tb, out);
      return [got];
    },
  }),
  define({
    kernel: 'lora fwd+bwd',
    shape: 'x[33,40], W[70,40], r=4',
    inputs: (random) => {
      const [M, K, N, r, scale] = [33, 40, 70, 4, 2];
      return { M, K, N, r, scale, x: uniform(M * K, random), W: uniform(N * K, random), A: uniform(r * K, random), B: uniform(N * r, random), dy: uniform(M * N, random) };
    },
    async run(ctx, { M, K, N, r, scale, x, W, A, B, dy }) {
      const t = {
        x: ctx.upload(x, [M, K]),
        W: ctx.upload(W, [N, K]),
        A: ctx.upload(A, [r, K]),
        B: ctx.upload(B, [N, r]),
        dy: ctx.upload(dy, [M, N]),
      };
      const fwd = loraForward(ctx, t.x, t.W, t.A, t.B, scale, { y: poisoned(ctx, [M, N]) });
      const bwd = loraBackward(ctx, t.x, t.W, t.A, t.B, scale, fwd.xa, t.dy, {
        dx: poisoned(ctx, [M, K]),
        dA: poisoned(ctx, [r, K]),
        dB: poisoned(ctx, [N, r]),
      });
      const got = await Promise.all([fwd.y, bwd.dx, bwd.dA, bwd.dB].map((g) => ctx.readF32(g)));
      ctx.release(...Object.values(t), fwd.y, fwd.xa, bwd.dx, bwd.dA, bwd.dB);
      return got;
    },
  }),
  define({
    kernel: 'causal attention fwd+bwd',
    shape: 'B=2 H=3 T=19 D=8',
    inputs: (random) => {
      const [B, H, T, D] = [2, 3, 19, 8];
      const n = B * H * T * D;
      const [q, k, v, dOut] = [0, 1, 2, 3].map(() => uniform(n, random));
      return { B, H, T, D, q, k, v, dOut };
    },
    async run(ctx, { B, H, T, D, q, k, v, dOut }) {
      const shape = [B, H, T, D];
      const [tq, tk, tv, tdo] = [q, k, v, dOut].map((a) => ctx.upload(a, shape));
      const fwd = attentionForward(ctx, tq, tk, tv, { out: poisoned(ctx, shape) });
      const grads = attentionBackward(ctx, { ...fwd, q: tq, k: tk, v: tv }, tdo, {
        dq: poisoned(ctx, shape),
        dk: poisoned(ctx, shape),
        dv: poisoned(ctx, shape),
      });
      const got = await Promise.all([fwd.out, grads.dq, grads.dk, grads.dv].map((g) => ctx.readF32(g)));
      ctx.release(tq, tk, tv, tdo, fwd.out, fwd.lse, grads.dq, grads.dk, grads.dv);
      if (fwd.probs) ctx.release(fwd.probs);
      return got;
    },
  }),
  define({
    kernel: 'top-k routing',
    shape: 'T=37 E=13 k=3',
    inputs: (random) => ({ T: 37, E: 13, k: 3, logits: uniform(37 * 13, random, -3, 3) }),
    async run(ctx, { T, E, k, logits }) {
      const tl = ctx.upload(logits, [T, E]);
      const r = topkRoute(ctx, tl, k, { gates: poisoned(ctx, [T, k]), probs: poisoned(ctx, [T, E]) });
      const [gates, probs, indices] = await Promise.all([ctx.readF32(r.gates), ctx.readF32(r.probs), ctx.read(r.indices)]);
      ctx.release(tl, r.gates, r.probs, r.indices);
      return [gates, probs, indices];
    },
  }),
  define({
    kernel: 'layernorm',
    shape: '[29,77]',
    inputs: (random) => {
      const [R, C] = [29, 77];
      return { R, C, x: uniform(R * C, random, -2, 3), g: uniform(C, random, 0.5, 1.5), b: uniform(C, random) };
    },
    async run(ctx, { R, C, x, g, b }) {
      const [tx, tg, tb] = [ctx.upload(x, [R, C]), ctx.upload(g, [C]), ctx.upload(b, [C])];
      const out = layerNorm(ctx, tx, tg, tb, { out: poisoned(ctx, [R, C]) });
      const got = await ctx.readF32(out.y);
      ctx.release(tx, tg, tb, out.y, out.mean, out.rstd);
      return [got];
    },
  }),
  define({
    kernel: 'masked cross-entropy',
    shape: 'T=23 V=261',
    inputs: (random) => {
      const [T, V] = [23, 261];
      const logits = uniform(T * V, random, -4, 4);
      const targets = Uint32Array.from({ length: T }, () => Math.floor(random() * V));
      const mask = Float32Array.from({ length: T }, (_, i) => (i % 3 === 0 ? 0 : 1));
      return { T, V, logits, targets, mask };
    },
    async run(ctx, { T, V, logits, targets, mask }) {
      const tl = ctx.upload(logits, [T, V]);
      const tt = ctx.upload(targets, [T]);
      const tm = ctx.upload(mask, [T]);
      const r = crossEntropyLossAndGrad(ctx, tl, tt, tm, { meanLoss: poisoned(ctx, [1]), losses: poisoned(ctx, [T]) });
      const [mean, losses] = await Promise.all([ctx.readF32(r.meanLoss), ctx.readF32(r.losses)]);
      ctx.release(tl, tt, tm, r.meanLoss, r.losses, r.dlogits);
      return [mean, losses];
    },
  }),
];

/** Every case's inputs, drawn in order from one generator (the expectations' inputs). */
export function selfCheckInputs(seed = SELF_CHECK_SEED): unknown[] {
  const random = rng(seed);
  return SELF_CHECK_CASES.map((c) => c.inputs(random));
}

/**
 * Runs every kernel family once on the user's adapter and compares it with the expected
 * outputs. The lab shows this so a user can tell a broken driver from a broken experiment.
 */
export async function runKernelSelfCheck(ctx: GpuContext, expected: SelfCheckExpected): Promise<SelfCheckResult[]> {
  if (expected.seed !== SELF_CHECK_SEED || expected.cases.length !== SELF_CHECK_CASES.length) {
    throw new Error(`the self-check expectations are for other inputs (seed ${expected.seed}, ${expected.cases.length} cases): remake them with npm run selfcheck-data`);
  }
  const inputs = selfCheckInputs(expected.seed);
  const results: SelfCheckResult[] = [];
  for (const [i, c] of SELF_CHECK_CASES.entries()) {
    const want = expected.cases[i];
    if (want.kernel !== c.kernel || want.shape !== c.shape) throw new Error(`self-check case ${i} is ${c.kernel} ${c.shape}, its expectation ${want.kernel} ${want.shape}`);
    const t0 = performance.now();
    const outputs = await c.run(ctx, inputs[i]);
    const err = outputs.length === want.outputs.length ? Math.max(...outputs.map((got, k) => maxRelError(got, want.outputs[k]).err)) : Infinity;
    results.push({ kernel: c.kernel, shape: c.shape, maxRelError: err, passed: err <= SELF_CHECK_TOLERANCE, ms: performance.now() - t0 });
  }
  return results;
}

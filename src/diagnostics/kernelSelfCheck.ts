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
import { attentionBackwardRef, attentionForwardRef } from '../reference/attention';
import { maxRelError } from '../reference/compare';
import { crossEntropyRef } from '../reference/crossEntropy';
import { layerNormRef } from '../reference/layernorm';
import { loraBackwardRef, loraForwardRef } from '../reference/lora';
import { matmulRef } from '../reference/matmul';
import { rng, uniform } from '../util/random';
import { topkRouteRef } from '../reference/topkRouting';

/** One kernel run on random data and compared with a float64 CPU reference. */
export interface SelfCheckResult {
  kernel: string;
  shape: string;
  maxRelError: number;
  passed: boolean;
  ms: number;
}

export const SELF_CHECK_TOLERANCE = 1e-4;

type Outputs = Array<{ got: ArrayLike<number>; want: ArrayLike<number> }>;

interface Check {
  kernel: string;
  shape: string;
  run(ctx: GpuContext, random: () => number): Promise<Outputs>;
}

const f64 = (a: ArrayLike<number>) => Float64Array.from(a);

/** An output tensor filled with NaN, so an element the kernel forgets to write fails. */
function poisoned(ctx: GpuContext, shape: number[]): GpuTensor {
  const t = ctx.empty(shape);
  ctx.fill(t, NaN);
  return t;
}

// Sizes are deliberately not multiples of any tile, and small: the check runs on
// software adapters too.
const checks: Check[] = [
  {
    kernel: 'add',
    shape: 'n=1001',
    async run(ctx, random) {
      const n = 1001;
      const a = uniform(n, random);
      const b = uniform(n, random);
      const [ta, tb, out] = [ctx.upload(a, [n]), ctx.upload(b, [n]), poisoned(ctx, [n])];
      add(ctx, ta, tb, out);
      const got = await ctx.readF32(out);
      ctx.release(ta, tb, out);
      return [{ got, want: Float64Array.from(a, (v, i) => v + b[i]) }];
    },
  },
  {
    kernel: 'matmul',
    shape: '[67,45] x [45,130]',
    async run(ctx, random) {
      const [M, K, N] = [67, 45, 130];
      const a = uniform(M * K, random);
      const b = uniform(K * N, random);
      const [ta, tb, out] = [ctx.upload(a, [M, K]), ctx.upload(b, [K, N]), poisoned(ctx, [M, N])];
      matmul(ctx, ta, tb, { out, variant: tunedVariant(ctx) });
      const got = await ctx.readF32(out);
      ctx.release(ta, tb, out);
      return [{ got, want: matmulRef(f64(a), [M, K], f64(b), [K, N]) }];
    },
  },
  {
    kernel: 'lora fwd+bwd',
    shape: 'x[33,40], W[70,40], r=4',
    async run(ctx, random) {
      const [M, K, N, r, scale] = [33, 40, 70, 4, 2];
      const x = uniform(M * K, random);
      const W = uniform(N * K, random);
      const A = uniform(r * K, random);
      const B = uniform(N * r, random);
      const dy = uniform(M * N, random);
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
      const dims = { M, K, N, r };
      const rf = loraForwardRef(f64(x), f64(W), f64(A), f64(B), scale, dims);
      const rb = loraBackwardRef(f64(x), f64(W), f64(A), f64(B), scale, f64(dy), dims);
      return [rf.y, rb.dx, rb.dA, rb.dB].map((want, i) => ({ got: got[i], want }));
    },
  },
  {
    kernel: 'causal attention fwd+bwd',
    shape: 'B=2 H=3 T=19 D=8',
    async run(ctx, random) {
      const [B, H, T, D] = [2, 3, 19, 8];
      const n = B * H * T * D;
      const [q, k, v, dOut] = [0, 1, 2, 3].map(() => uniform(n, random));
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
      const rf = attentionForwardRef(q, k, v, B, H, T, D);
      const rb = attentionBackwardRef(q, k, v, dOut, B, H, T, D);
      return [rf.out, rb.dq, rb.dk, rb.dv].map((want, i) => ({ got: got[i], want }));
    },
  },
  {
    kernel: 'top-k routing',
    shape: 'T=37 E=13 k=3',
    async run(ctx, random) {
      const [T, E, k] = [37, 13, 3];
      const logits = uniform(T * E, random, -3, 3);
      const tl = ctx.upload(logits, [T, E]);
      const r = topkRoute(ctx, tl, k, { gates: poisoned(ctx, [T, k]), probs: poisoned(ctx, [T, E]) });
      const [gates, probs, indices] = await Promise.all([ctx.readF32(r.gates), ctx.readF32(r.probs), ctx.read(r.indices)]);
      ctx.release(tl, r.gates, r.probs, r.indices);
      const ref = topkRouteRef(logits, T, E, k);
      return [
        { got: gates, want: ref.gates },
        { got: probs, want: ref.probs },
        { got: indices, want: ref.indices },
      ];
    },
  },
  {
    kernel: 'layernorm',
    shape: '[29,77]',
    async run(ctx, random) {
      const [R, C] = [29, 77];
      const x = uniform(R * C, random, -2, 3);
      const g = uniform(C, random, 0.5, 1.5);
      const b = uniform(C, random);
      const [tx, tg, tb] = [ctx.upload(x, [R, C]), ctx.upload(g, [C]), ctx.upload(b, [C])];
      const out = layerNorm(ctx, tx, tg, tb, { out: poisoned(ctx, [R, C]) });
      const got = await ctx.readF32(out.y);
      ctx.release(tx, tg, tb, out.y, out.mean, out.rstd);
      return [{ got, want: layerNormRef(f64(x), f64(g), f64(b), R, C).y }];
    },
  },
  {
    kernel: 'masked cross-entropy',
    shape: 'T=23 V=261',
    async run(ctx, random) {
      const [T, V] = [23, 261];
      const logits = uniform(T * V, random, -4, 4);
      const targets = Uint32Array.from({ length: T }, () => Math.floor(random() * V));
      const mask = Float32Array.from({ length: T }, (_, i) => (i % 3 === 0 ? 0 : 1));
      const tl = ctx.upload(logits, [T, V]);
      const tt = ctx.upload(targets, [T]);
      const tm = ctx.upload(mask, [T]);
      const r = crossEntropyLossAndGrad(ctx, tl, tt, tm, { meanLoss: poisoned(ctx, [1]), losses: poisoned(ctx, [T]) });
      const [mean, losses] = await Promise.all([ctx.readF32(r.meanLoss), ctx.readF32(r.losses)]);
      ctx.release(tl, tt, tm, r.meanLoss, r.losses, r.dlogits);
      const ref = crossEntropyRef(f64(logits), targets, mask, T, V);
      return [
        { got: mean, want: [ref.mean] },
        { got: losses, want: ref.losses },
      ];
    },
  },
];

/**
 * Runs every kernel family once on the user's adapter and compares it with the CPU. The
 * lab shows this so a user can tell a broken driver from a broken experiment.
 */
export async function runKernelSelfCheck(ctx: GpuContext, seed = 1): Promise<SelfCheckResult[]> {
  const random = rng(seed);
  const results: SelfCheckResult[] = [];
  for (const c of checks) {
    const t0 = performance.now();
    const outputs = await c.run(ctx, random);
    const err = Math.max(...outputs.map(({ got, want }) => maxRelError(got, want).err));
    results.push({
      kernel: c.kernel,
      shape: c.shape,
      maxRelError: err,
      passed: err <= SELF_CHECK_TOLERANCE,
      ms: performance.now() - t0,
    });
  }
  return results;
}

// Our kernels, driven through the same Contender interface as the peers.
//
// Synchronisation: a batch of calls ends with ctx.read of the last call's output (a full
// readback, as the peers' data()). The check run writes into an output poisoned with NaN,
// so a kernel that leaves elements unwritten cannot pass on a recycled buffer's contents.
import type { GpuContext } from '../src/gpu/context';
import type { GpuTensor } from '../src/gpu/tensor';
import { adaptedLinear } from '../src/autograd/adapterOps';
import { Parameter, Tape } from '../src/autograd/tape';
import { defaultMatmulVariant, MATMUL_VARIANTS, matmul, setDefaultMatmulVariant, type MatmulVariant } from '../src/kernels/matmul';
import { describeDevice, type Contender } from './contender';
import type { Prepared } from './harness';

export function createOurs(ctx: GpuContext): Contender {
  return {
    lib: 'ours',
    variants: MATMUL_VARIANTS,
    adapterInfo: () => describeDevice(ctx.device),
    matmul(s, a, b, variant) {
      const ta = ctx.upload(a, [s.m, s.k], 'f32', 'bench.a');
      const tb = ctx.upload(b, s.transB ? [s.n, s.k] : [s.k, s.n], 'f32', 'bench.b');
      const opts = { transB: s.transB, variant: variant as MatmulVariant };
      return ourPrepared(ctx, [ta, tb], (poison) => {
        const out = poison ? poisoned(ctx, [s.m, s.n]) : undefined;
        return [matmul(ctx, ta, tb, { ...opts, out })];
      });
    },
    // Exactly what the model trains with: the adapter pool's autograd op on a Conv1D
    // weight (W stored [in, out]) with a pool of one pair, forward then backward.
    lora(s, t, variant) {
      const { m, k, n, r } = s;
      const x = new Parameter(ctx.upload(t.x, [m, k], 'f32', 'bench.x'), 'x');
      const W = new Parameter(ctx.upload(conv1d(t.W, n, k), [k, n], 'f32', 'bench.W'), 'W', false);
      const A = new Parameter(ctx.upload(t.A, [r, k], 'f32', 'bench.A'), 'A');
      const B = new Parameter(ctx.upload(t.B, [n, r], 'f32', 'bench.B'), 'B');
      const dy = ctx.upload(t.dy, [m, n], 'f32', 'bench.dy');
      const pool = { pairs: [[{ A, B, column: 0 }]], scale: s.scale, dropout: 0 };
      const v = variant as MatmulVariant;
      return ourPrepared(ctx, [x.value, W.value, A.value, B.value, dy], (poison) => {
        if (poison) poisonPool(ctx, [[m, n], [m, k], [r, k], [n, r]]);
        const before = defaultMatmulVariant(ctx);
        setDefaultMatmulVariant(ctx, v);
        try {
          const tape = new Tape(ctx);
          const y = adaptedLinear(tape, x, W, undefined, pool, { kind: 'all' });
          y.grad = ctx.clone(dy);
          tape.backward();
          // The caller owns the outputs: y leaves the tape, the gradients leave the parameters.
          tape.unsave(y.value);
          const outs = [y.value, x.grad!, A.grad!, B.grad!];
          x.grad = A.grad = B.grad = null;
          tape.dispose();
          return outs;
        } finally {
          setDefaultMatmulVariant(ctx, before);
        }
      });
    },
    // The plain projection the model runs without an adapter, in the same Conv1D layout.
    pair(s, t, variant) {
      const { m, k, n } = s;
      const x = ctx.upload(t.x, [m, k], 'f32', 'bench.x');
      const W = ctx.upload(conv1d(t.W, n, k), [k, n], 'f32', 'bench.W');
      const dy = ctx.upload(t.dy, [m, n], 'f32', 'bench.dy');
      const v = variant as MatmulVariant;
      return ourPrepared(ctx, [x, W, dy], (poison) => [
        matmul(ctx, x, W, { variant: v, out: poison ? poisoned(ctx, [m, n]) : undefined }),
        matmul(ctx, dy, W, { transB: true, variant: v, out: poison ? poisoned(ctx, [m, k]) : undefined }),
      ]);
    },
  };
}

/** W [n, k] (nn.Linear) as GPT-2's Conv1D stores it, [k, n]. */
function conv1d(W: Float32Array, n: number, k: number): Float32Array {
  const out = new Float32Array(k * n);
  for (let j = 0; j < n; j++) for (let p = 0; p < k; p++) out[p * n + j] = W[j * k + p];
  return out;
}

/**
 * The op allocates its outputs itself, so they cannot be handed in poisoned: instead the
 * pool's buffers of those sizes are filled with NaN and released, and the op's outputs come
 * from them (the pool reuses by size class), so unwritten elements still show.
 */
function poisonPool(ctx: GpuContext, shapes: number[][]): void {
  const held = shapes.map((shape) => poisoned(ctx, shape));
  ctx.release(...held);
}

function poisoned(ctx: GpuContext, shape: number[]): GpuTensor {
  const t = ctx.empty(shape, 'f32', 'bench.out');
  ctx.fill(t, NaN);
  return t;
}


function ourPrepared(ctx: GpuContext, inputs: GpuTensor[], call: (poison: boolean) => GpuTensor[]): Prepared {
  return {
    async once() {
      const outs = call(true);
      const data: Float32Array[] = [];
      for (const o of outs) data.push(await ctx.readF32(o));
      ctx.release(...outs);
      return data;
    },
    async batch(n) {
      const outs: GpuTensor[] = [];
      for (let i = 0; i < n; i++) outs.push(...call(false));
      await ctx.read(outs[outs.length - 1]);
      ctx.release(...outs);
    },
    dispose() {
      ctx.release(...inputs);
    },
  };
}

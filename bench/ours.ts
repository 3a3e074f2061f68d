// Our kernels, driven through the same Contender interface as the peers.
//
// Synchronisation: a batch of calls ends with ctx.read of the last call's output (a full
// readback, as the peers' data()). The check run writes into an output poisoned with NaN,
// so a kernel that leaves elements unwritten cannot pass on a recycled buffer's contents.
import type { GpuContext } from '../src/gpu/context';
import type { GpuTensor } from '../src/gpu/tensor';
import { MATMUL_VARIANTS, matmul, type MatmulVariant } from '../src/kernels/matmul';
import { loraBackward, loraForward } from '../src/kernels/lora';
import { describeDevice, type Contender } from './contender';
import type { Prepared } from './harness';
import type { LoraInputs, LoraShape } from './reference';

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
    lora(s, t, variant) {
      const ins = loraTensors(ctx, s, t);
      const [x, W, A, B, dy] = ins;
      const v = variant as MatmulVariant;
      const { m, k, n, r } = s;
      return ourPrepared(ctx, ins, (poison) => {
        const fwd = poison ? { y: poisoned(ctx, [m, n]), xa: poisoned(ctx, [m, r]) } : {};
        const { y, xa } = loraForward(ctx, x, W, A, B, s.scale, { ...fwd, variant: v });
        const bwd = poison ? { dx: poisoned(ctx, [m, k]), dA: poisoned(ctx, [r, k]), dB: poisoned(ctx, [n, r]) } : {};
        const { dx, dA, dB } = loraBackward(ctx, x, W, A, B, s.scale, xa, dy, { ...bwd, variant: v });
        return [y, xa, dx, dA, dB];
      });
    },
    pair(s, t, variant) {
      const ins = loraTensors(ctx, s, t);
      const [x, W, , , dy] = ins;
      const v = variant as MatmulVariant;
      return ourPrepared(ctx, ins, (poison) => [
        matmul(ctx, x, W, { transB: true, variant: v, out: poison ? poisoned(ctx, [s.m, s.n]) : undefined }),
        matmul(ctx, dy, W, { variant: v, out: poison ? poisoned(ctx, [s.m, s.k]) : undefined }),
      ]);
    },
  };
}

function poisoned(ctx: GpuContext, shape: number[]): GpuTensor {
  const t = ctx.empty(shape, 'f32', 'bench.out');
  ctx.fill(t, NaN);
  return t;
}

function loraTensors(ctx: GpuContext, s: LoraShape, t: LoraInputs): GpuTensor[] {
  const { m, k, n, r } = s;
  return [
    ctx.upload(t.x, [m, k], 'f32', 'bench.x'),
    ctx.upload(t.W, [n, k], 'f32', 'bench.W'),
    ctx.upload(t.A, [r, k], 'f32', 'bench.A'),
    ctx.upload(t.B, [n, r], 'f32', 'bench.B'),
    ctx.upload(t.dy, [m, n], 'f32', 'bench.dy'),
  ];
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

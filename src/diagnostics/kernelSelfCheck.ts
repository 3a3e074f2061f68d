import type { GpuContext } from '../gpu/context';
import { add } from '../kernels/add';
import { maxRelError } from '../reference/compare';
import { rng, uniform } from '../reference/rng';

/** One kernel run on random data and compared with a float64 CPU reference. */
export interface SelfCheckResult {
  kernel: string;
  shape: string;
  maxRelError: number;
  passed: boolean;
  ms: number;
}

export const SELF_CHECK_TOLERANCE = 1e-4;

interface Check {
  kernel: string;
  shape: string;
  run(ctx: GpuContext, random: () => number): Promise<{ got: ArrayLike<number>; want: ArrayLike<number> }>;
}

const checks: Check[] = [
  {
    kernel: 'add',
    shape: 'n=1000',
    async run(ctx, random) {
      const n = 1000;
      const a = uniform(n, random);
      const b = uniform(n, random);
      const [ta, tb] = [ctx.upload(a, [n]), ctx.upload(b, [n])];
      const out = ctx.empty([n]);
      ctx.fill(out, NaN);
      add(ctx, ta, tb, out);
      const got = await ctx.readF32(out);
      ctx.release(ta, tb, out);
      return { got, want: Float64Array.from(a, (v, i) => v + b[i]) };
    },
  },
];

/**
 * Runs every kernel once on the user's adapter and compares with the CPU. The lab shows
 * this so a user can tell a broken driver from a broken experiment.
 */
export async function runKernelSelfCheck(ctx: GpuContext, seed = 1): Promise<SelfCheckResult[]> {
  const random = rng(seed);
  const results: SelfCheckResult[] = [];
  for (const c of checks) {
    const t0 = performance.now();
    const { got, want } = await c.run(ctx, random);
    const { err } = maxRelError(got, want);
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

import type { AdapterSummary } from '../gpu/adapterInfo';
import type { GpuContext } from '../gpu/context';
import {
  defaultMatmulVariant,
  matmul,
  matmulFlops,
  MATMUL_VARIANTS,
  setDefaultMatmulVariant,
  type MatmulVariant,
} from './matmul';

/**
 * Chooses the matmul variant per adapter by measuring, once. Which one wins differs by an
 * order of magnitude between adapters (register tiles on SwiftShader, shared-memory tiles on
 * real GPUs), so it is never hard-coded. The result is kept per context, and `key` lets
 * the caller persist it (localStorage, say) and seed the next session without measuring.
 */
export interface MatmulTuning {
  /** Identifies the adapter and the kernel generation the figures belong to. */
  key: string;
  winner: MatmulVariant;
  /** Measured throughput per variant; 0 for a variant whose result was wrong. */
  gflops: Record<MatmulVariant, number>;
}

export interface TuneMatmulOptions {
  /** Side of the square problem measured (default 256, the size of a small model's layers). */
  size?: number;
  /** Timed rounds (one run of every variant each, fastest kept) after a checked warm-up run (default 3). */
  reps?: number;
  /** Measure again even when a result is known for this context. */
  force?: boolean;
}

/** Bump when a kernel changes enough that stored results no longer say anything. */
export const MATMUL_TUNING_VERSION = 1;

const results = new WeakMap<GpuContext, Promise<MatmulTuning>>();

/** Storage key for tuning results of this adapter. */
export function matmulTuningKey(adapter: AdapterSummary): string {
  const parts = [adapter.vendor, adapter.architecture, adapter.device, adapter.description];
  return `matmul-tuning/v${MATMUL_TUNING_VERSION}/${parts.map((p) => p.replace(/\//g, '_')).join('/')}`;
}

/** The variant `matmul` uses by default on this context: the tuned winner, else 'regtile'. */
export function tunedVariant(ctx: GpuContext): MatmulVariant {
  return defaultMatmulVariant(ctx);
}

/**
 * Measures every variant on one square problem and makes the fastest correct one the
 * default of `matmul` on this context. Later calls (and concurrent ones) get the same
 * result without measuring again, unless `force`.
 */
export function tuneMatmul(ctx: GpuContext, opts: TuneMatmulOptions = {}): Promise<MatmulTuning> {
  const known = results.get(ctx);
  if (known && !opts.force) return known;
  const run = measure(ctx, opts.size ?? 256, opts.reps ?? 3).then((r) => {
    setDefaultMatmulVariant(ctx, r.winner);
    return r;
  });
  results.set(ctx, run);
  // A failed measurement (device lost, say) must not stick: the next call tries again.
  run.catch(() => {
    if (results.get(ctx) === run) results.delete(ctx);
  });
  return run;
}

/**
 * Adopts a stored tuning result (e.g. parsed from localStorage) if it is well formed and
 * belongs to this adapter and kernel generation; returns whether it was adopted.
 */
export function seedMatmulTuning(ctx: GpuContext, stored: unknown): boolean {
  if (typeof stored !== 'object' || stored === null) return false;
  const s = stored as Partial<Record<keyof MatmulTuning, unknown>>;
  if (s.key !== matmulTuningKey(ctx.adapter)) return false;
  if (typeof s.winner !== 'string' || !MATMUL_VARIANTS.includes(s.winner as MatmulVariant)) return false;
  if (typeof s.gflops !== 'object' || s.gflops === null) return false;
  const gflops = {} as Record<MatmulVariant, number>;
  for (const v of MATMUL_VARIANTS) {
    const g = (s.gflops as Record<string, unknown>)[v];
    if (typeof g !== 'number' || !Number.isFinite(g) || g < 0) return false;
    gflops[v] = g;
  }
  const tuning: MatmulTuning = { key: s.key, winner: s.winner as MatmulVariant, gflops };
  results.set(ctx, Promise.resolve(tuning));
  setDefaultMatmulVariant(ctx, tuning.winner);
  return true;
}

/** Drops what is known for this context; `matmul` falls back to 'regtile'. */
export function forgetMatmulTuning(ctx: GpuContext): void {
  results.delete(ctx);
  setDefaultMatmulVariant(ctx, null);
}

async function measure(ctx: GpuContext, n: number, reps: number): Promise<MatmulTuning> {
  const a = ctx.upload(pattern(n * n, 1), [n, n], 'f32', 'tune.a');
  const b = ctx.upload(pattern(n * n, 2), [n, n], 'f32', 'tune.b');
  const out = ctx.empty([n, n], 'f32', 'tune.out');
  const best = {} as Record<MatmulVariant, number>;
  try {
    // Untimed first runs: pipeline compilation and first-touch costs. Each result is checked
    // before its time is trusted, so a variant that a driver miscompiles cannot win.
    let reference: Float32Array | null = null;
    const candidates: MatmulVariant[] = [];
    for (const variant of MATMUL_VARIANTS) {
      ctx.fill(out, NaN);
      matmul(ctx, a, b, { out, variant });
      const result = await ctx.readF32(out);
      best[variant] = Infinity;
      if (reference === null || agrees(result, reference)) candidates.push(variant);
      reference ??= result;
    }
    // Rounds interleave the variants and keep each one's fastest run, so that a burst of
    // other work on the machine does not decide the winner.
    for (let round = 0; round < reps; round++) {
      for (const variant of candidates) {
        const t0 = performance.now();
        matmul(ctx, a, b, { out, variant });
        await ctx.sync();
        best[variant] = Math.min(best[variant], Math.max(performance.now() - t0, 1e-3));
      }
    }
  } finally {
    ctx.release(a, b, out);
  }
  const gflops = {} as Record<MatmulVariant, number>;
  for (const v of MATMUL_VARIANTS) gflops[v] = Number.isFinite(best[v]) ? matmulFlops(1, n, n, n) / (best[v] * 1e6) : 0;
  let winner: MatmulVariant = defaultMatmulVariant(ctx);
  for (const v of MATMUL_VARIANTS) if (gflops[v] > gflops[winner]) winner = v;
  return { key: matmulTuningKey(ctx.adapter), winner, gflops };
}

/** Deterministic inputs in [-1, 1) whose products do not cancel to nothing. */
function pattern(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (((i * 2654435761 + seed * 40503) >>> 0) % 2048) / 1024 - 1;
  return out;
}

function agrees(x: Float32Array, y: Float32Array): boolean {
  let scale = 0;
  for (let i = 0; i < y.length; i++) scale = Math.max(scale, Math.abs(y[i]));
  const tol = 1e-3 * (scale + 1e-30);
  for (let i = 0; i < x.length; i++) if (!(Math.abs(x[i] - y[i]) <= tol)) return false;
  return true;
}

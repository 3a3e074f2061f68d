import type { GpuContext } from '../gpu/context';
import { matmulTuningKey, seedMatmulTuning, tuneMatmul, type MatmulTuning } from '../kernels/matmulTuning';

/** Minimal key-value store (localStorage in the page; a Map in tests). */
export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/**
 * The tuned matmul variant for this adapter: read from the store when an earlier visit
 * measured it, else measured now (about a second on a software adapter) and stored.
 */
export async function ensureMatmulTuned(
  ctx: GpuContext,
  store: KeyValueStore | null,
): Promise<{ tuning: MatmulTuning; fromCache: boolean }> {
  const key = matmulTuningKey(ctx.adapter);
  const saved = store?.getItem(key);
  if (saved) {
    try {
      if (seedMatmulTuning(ctx, JSON.parse(saved))) return { tuning: await tuneMatmul(ctx), fromCache: true };
    } catch {
      // Unreadable entry: measure again and overwrite it.
    }
  }
  const tuning = await tuneMatmul(ctx);
  try {
    store?.setItem(key, JSON.stringify(tuning));
  } catch {
    // Storage full or disabled: the result still holds for this session.
  }
  return { tuning, fromCache: false };
}

import { afterAll, beforeAll } from 'vitest';
import type { GpuContext } from '../../src/gpu/context';
import { createNodeContext, releaseNodeGpu } from '../../src/gpu/node';

/**
 * One GPU context per test file. The adapter is requested in beforeAll: Dawn crashes when
 * it is first touched inside a test body under Vitest.
 */
export function useGpu(): () => GpuContext {
  let ctx: GpuContext | null = null;
  beforeAll(async () => {
    ctx = await createNodeContext();
  });
  afterAll(() => {
    if (ctx) releaseNodeGpu(ctx);
    ctx = null;
  });
  return () => {
    if (!ctx) throw new Error('GPU context not ready (useGpu must be called at file level)');
    return ctx;
  };
}

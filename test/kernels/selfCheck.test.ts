import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { runKernelSelfCheck } from '../../src/diagnostics/kernelSelfCheck';
import { decodeSelfCheckExpected, SELF_CHECK_EXPECTED_PATH } from '../../src/diagnostics/selfCheckExpected';
import { ensureMatmulTuned } from '../../src/diagnostics/matmulTuningCache';
import { forgetMatmulTuning, tunedVariant } from '../../src/kernels/matmulTuning';
import { useGpu } from '../helpers/gpu';

const gpu = useGpu();
const expected = () => decodeSelfCheckExpected(readFileSync(`public/${SELF_CHECK_EXPECTED_PATH}`, 'utf8'));

describe('kernel self-check (what the lab page runs)', () => {
  it('passes every kernel family on this adapter and leaks nothing', async () => {
    const ctx = gpu();
    const before = ctx.poolStats().live;
    const results = await runKernelSelfCheck(ctx, expected());
    expect(results.length).toBeGreaterThanOrEqual(7);
    for (const r of results) expect(r.maxRelError, `${r.kernel} ${r.shape}`).toBeLessThanOrEqual(1e-4);
    expect(results.every((r) => r.passed)).toBe(true);
    expect(ctx.poolStats().live).toBe(before);
  });

  it('fails a kernel whose output differs from the expectation in one element', async () => {
    const wrong = expected();
    const routing = wrong.cases.findIndex((c) => c.kernel === 'top-k routing');
    wrong.cases[routing].outputs[0][5] += 0.01;
    const results = await runKernelSelfCheck(gpu(), wrong);
    expect(results.filter((r) => !r.passed).map((r) => r.kernel)).toEqual(['top-k routing']);
  });
});

describe('matmul tuning cache', () => {
  it('measures once, stores the result, and later sessions read it back without measuring', async () => {
    const ctx = gpu();
    forgetMatmulTuning(ctx);
    const store = new Map<string, string>();
    const kv = { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => void store.set(k, v) };
    const first = await ensureMatmulTuned(ctx, kv);
    expect(first.fromCache).toBe(false);
    expect(store.size).toBe(1);
    expect(tunedVariant(ctx)).toBe(first.tuning.winner);

    forgetMatmulTuning(ctx);
    const dispatchedBefore = ctx.pipelinesCompiled;
    const second = await ensureMatmulTuned(ctx, kv);
    expect(second.fromCache).toBe(true);
    expect(second.tuning.winner).toBe(first.tuning.winner);
    expect(ctx.pipelinesCompiled).toBe(dispatchedBefore);

    // A corrupt entry is measured again and overwritten.
    forgetMatmulTuning(ctx);
    store.set([...store.keys()][0], '{not json');
    const third = await ensureMatmulTuned(ctx, kv);
    expect(third.fromCache).toBe(false);
    expect(() => JSON.parse([...store.values()][0])).not.toThrow();
  });
});

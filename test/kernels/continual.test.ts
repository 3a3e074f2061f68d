import { describe, expect, it } from 'vitest';
import type { MethodResult, RunResults } from '../../src/cl/results';
import { runStream } from '../../src/cl/runStream';
import { decodeMethodState, encodeMethodState } from '../../src/cl/methodState';
import { summariseTransfer } from '../../src/eval/transfer';
import { gptParameterCount } from '../../src/model/config';
import type { MethodState } from '../../src/methods/method';
import { METHODS } from '../../src/methods/registry';
import { useGpu } from '../helpers/gpu';
import { baseWeights, config, plan } from '../helpers/syntheticStream';

const gpu = useGpu();

/** What must not differ between two runs with one seed: everything but wall-clock figures. */
function deterministicPart(r: RunResults) {
  return {
    base: r.base,
    methods: Object.fromEntries(
      Object.entries(r.methods).map(([id, m]: [string, MethodResult]) => [id, { ...m, seconds: null, tokensPerSecond: null }]),
    ),
  };
}

describe('continual-learning runner', () => {
  it('runs all six baselines through the one trainer and evaluator: shapes, base row, transfer figures, parameter counts', async () => {
    const ctx = gpu();
    const live = ctx.poolStats().live;
    const weights = await baseWeights(ctx);
    const ids = ['seqft', 'seqlora', 'replay', 'ewc', 'olora', 'mtl'];
    expect(METHODS.map((m) => m.id).slice(0, ids.length)).toEqual(ids);
    const stages: string[] = [];
    const results = await runStream(
      plan(
        ctx,
        weights,
        ids.map((id) => ({ id, settings: id === 'seqft' ? {} : { rank: 2, alpha: 4 } })),
      ),
      { onStageDone: (_r, m, s) => void stages.push(`${m}:${s}`) },
    );
    expect(stages).toEqual(['null:0', ...ids.flatMap((id) => (id === 'mtl' ? ['mtl:1'] : [1, 2, 3].map((s) => `${id}:${s}`)))]);
    const n = 3;
    expect(results.base).toHaveLength(n);
    // Rank 2 on every projection of both blocks: A [2, in] + B [out, 2] for c_attn, attn.c_proj, c_fc, mlp.c_proj.
    const adapterParams = 2 * (2 * 16 + 48 * 2 + (2 * 16 + 16 * 2) + (2 * 16 + 64 * 2) + (2 * 64 + 16 * 2));
    for (const id of ids) {
      const m = results.methods[id];
      expect(m.done, id).toBe(true);
      expect(m.R, id).toHaveLength(n + 1);
      expect(m.R[0], id).toEqual(results.base);
      const s = summariseTransfer(m.R);
      expect(m.OP, id).toBe(s.OP);
      expect(m.BWT, id).toBe(s.BWT);
      expect(m.FWT, id).toBe(s.FWT);
      for (const row of m.R) for (const v of row ?? []) expect(v >= 0 && v <= 100, id).toBe(true);
      expect(m.tokens, id).toBeGreaterThan(0);
    }
    expect(results.methods.mtl.R.slice(1, n)).toEqual([null, null]);
    expect(results.methods.mtl.BWT).toBeNull();
    expect(results.methods.mtl.stagesDone).toBe(1);
    expect(results.methods.seqlora.BWT).not.toBeNull();
    const total = gptParameterCount(config).total;
    expect(results.methods.seqft.params).toEqual({ trainable: [total, total, total], stored: [total, total, total] });
    expect(results.methods.seqlora.params.stored).toEqual([adapterParams, adapterParams, adapterParams]);
    // O-LoRA keeps one adapter per task and trains the newest only; EWC keeps a Fisher and an anchor.
    expect(results.methods.olora.params).toEqual({ trainable: [adapterParams, adapterParams, adapterParams], stored: [1, 2, 3].map((k) => k * adapterParams) });
    expect(results.methods.ewc.params.stored).toEqual([3, 3, 3].map((k) => k * adapterParams));
    expect(results.methods.mtl.params.stored).toEqual([null, null, adapterParams]);
    // Replay trained on its buffer too: more tokens than SeqLoRA for the same steps.
    expect(results.methods.replay.tokens).toBeGreaterThan(results.methods.seqlora.tokens);
    expect(ctx.poolStats().live).toBe(live);
  }, 240_000);

  it('gives the same results for the same seed, and a run interrupted after any stage resumes to the same results', async () => {
    const ctx = gpu();
    const weights = await baseWeights(ctx);
    const methods = [
      { id: 'replay', settings: { rank: 2, alpha: 4, bufferFraction: 0.2 } },
      { id: 'ewc', settings: { rank: 2, alpha: 4, lambda: 50 } },
    ];
    const states = new Map<string, Uint8Array>();
    const full = await runStream(plan(ctx, weights, methods), {
      onStageDone: (_r, m, s, state) => void (m && state && states.set(`${m}:${s}`, encodeMethodState(state))),
    });
    const again = await runStream(plan(ctx, weights, methods));
    expect(deterministicPart(again)).toEqual(deterministicPart(full));
    // Replay's buffer: a fifth of each finished task's 10 examples.
    expect((decodeMethodState(states.get('replay:2')!).meta as { buffer: unknown[] }).buffer).toHaveLength(4);

    // Interrupted after EWC's first stage: the results so far and its state are all that survive.
    let saved: RunResults | null = null;
    const kept = new Map<string, MethodState>();
    await expect(
      runStream(plan(ctx, weights, methods), {
        onStageDone: (r, m, s, state) => {
          saved = JSON.parse(JSON.stringify(r));
          if (m && state) kept.set(`${m}:${s}`, decodeMethodState(encodeMethodState(state)));
          if (m === 'ewc' && s === 1) throw new Error('interrupted');
        },
      }),
    ).rejects.toThrow('interrupted');
    expect(saved!.methods.ewc.stagesDone).toBe(1);
    expect(saved!.methods.replay.done).toBe(true);
    const resumed = await runStream(plan(ctx, weights, methods), { loadState: (m, s) => kept.get(`${m}:${s}`) ?? null }, saved!);
    expect(deterministicPart(resumed)).toEqual(deterministicPart(full));

    // Another seed gives other results; resuming with another seed or settings is refused.
    const other = await runStream(plan(ctx, weights, methods.slice(0, 1), 6));
    expect(other.methods.replay.finalLoss).not.toEqual(full.methods.replay.finalLoss);
    await expect(runStream(plan(ctx, weights, methods, 6), {}, saved!)).rejects.toThrow(/--seed 5, not 6/);
    const changed = [{ ...methods[0] }, { id: 'ewc', settings: { rank: 2, alpha: 4, lambda: 7 } }];
    await expect(runStream(plan(ctx, weights, changed), { loadState: (m, s) => kept.get(`${m}:${s}`) ?? null }, saved!)).rejects.toThrow(/ewc was run with settings/);
  }, 300_000);

  it('continual evaluation (evalEvery) scores the tasks seen so far inside each stage and leaves training unchanged', async () => {
    const ctx = gpu();
    const weights = await baseWeights(ctx);
    const methods = [{ id: 'seqlora', settings: { rank: 2, alpha: 4 } }];
    const plain = await runStream(plan(ctx, weights, methods));
    const watched = await runStream({ ...plan(ctx, weights, methods), evalEvery: 2 });
    const m = watched.methods.seqlora;
    expect(m.continual!.map((c) => [c.stage, c.step])).toEqual([
      [1, 2],
      [2, 2],
      [3, 2],
    ]);
    expect(m.continual!.map((c) => c.scores.map((v) => v === null))).toEqual([
      [false, true, true],
      [false, false, true],
      [false, false, false],
    ]);
    expect(plain.methods.seqlora.continual).toBeUndefined();
    expect(m.finalLoss).toEqual(plain.methods.seqlora.finalLoss);
    expect(m.R).toEqual(plain.methods.seqlora.R);
  }, 120_000);

  it('O-LoRA freezes earlier adapters and its penalty keeps the new A orthogonal to them; EWC holds the adapter near its anchor', async () => {
    const ctx = gpu();
    const weights = await baseWeights(ctx);
    const statesOf = async (id: string, settings: Record<string, unknown>) => {
      const out = new Map<number, MethodState>();
      await runStream(plan(ctx, weights, [{ id, settings: { rank: 2, alpha: 4, lr: 0.02, ...settings } }], 5, 16), {
        onStageDone: (_r, m, s, state) => void (m && state && out.set(s, state)),
      });
      return out;
    };
    const names = (s: MethodState, prefix: string) => [...s.tensors.keys()].filter((k) => k.startsWith(prefix)).sort();
    const overlap = (s: MethodState) => {
      // sum |A0 A1^T| over every pair, computed here in float64.
      let total = 0;
      for (const k of names(s, 'adapter0.').filter((k) => k.endsWith('lora_A'))) {
        const a0 = s.tensors.get(k)!;
        const a1 = s.tensors.get(k.replace('adapter0.', 'adapter1.'))!;
        const nIn = a0.length / 2;
        for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) {
          let d = 0;
          for (let c = 0; c < nIn; c++) d += a0[i * nIn + c] * a1[j * nIn + c];
          total += Math.abs(d);
        }
      }
      return total;
    };
    const held = await statesOf('olora', { lambda: 10 });
    const free = await statesOf('olora', { lambda: 0 });
    for (const k of names(held.get(1)!, 'adapter0.')) expect(Array.from(held.get(2)!.tensors.get(k)!), k).toEqual(Array.from(held.get(1)!.tensors.get(k)!));
    expect(names(held.get(2)!, 'adapter1.').length).toBe(names(held.get(1)!, 'adapter0.').length);
    console.log(`O-LoRA overlap sum |A0 A1^T| after task 2: ${overlap(held.get(2)!).toFixed(4)} with the penalty, ${overlap(free.get(2)!).toFixed(4)} without`);
    expect(overlap(held.get(2)!)).toBeLessThan(0.5 * overlap(free.get(2)!));

    const strong = await statesOf('ewc', { lambda: 1e5 });
    const none = await statesOf('ewc', { lambda: 0 });
    // How far task 2 moved the adapter from its values after task 1, weighted by task 1's
    // Fisher (what EWC protects). Tensors are in the pool's parameter order, as the Fisher is.
    const drift = (states: Map<number, MethodState>) => {
      const after1 = states.get(1)!;
      const after2 = states.get(2)!;
      const order = [...after1.tensors.keys()].filter((k) => k.startsWith('adapter0.'));
      let d = 0;
      order.forEach((k, i) => {
        const a = after1.tensors.get(k)!;
        const b = after2.tensors.get(k)!;
        const f = after1.tensors.get(`ewc.fisher.${i}`)!;
        expect(f.length).toBe(a.length);
        for (let j = 0; j < a.length; j++) d += f[j] * (a[j] - b[j]) ** 2;
      });
      return d;
    };
    console.log(`EWC: Fisher-weighted drift of the adapter over task 2: ${drift(strong).toExponential(3)} with lambda 1e5, ${drift(none).toExponential(3)} without`);
    expect(drift(strong)).toBeLessThan(0.1 * drift(none));
  }, 240_000);
});

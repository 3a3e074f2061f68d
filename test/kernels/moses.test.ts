import { describe, expect, it } from 'vitest';
import { Tape } from '../../src/autograd/tape';
import { decodeMethodState, encodeMethodState } from '../../src/cl/methodState';
import type { RunResults } from '../../src/cl/results';
import { runStream } from '../../src/cl/runStream';
import { promptIds } from '../../src/eval/evaluate';
import type { GpuContext } from '../../src/gpu/context';
import { GptModel } from '../../src/model/gpt';
import type { ContinualMethod, MethodState } from '../../src/methods/method';
import { inspectState } from '../../src/methods/inspect';
import type { Moses } from '../../src/methods/moses';
import { handlerOf } from '../../src/methods/seeCheck';
import { methodDefinition } from '../../src/methods/registry';
import { poolDeltaRef } from '../../src/reference/adapterPool';
import { gptForwardRef } from '../../src/reference/gpt';
import { matmulRef } from '../../src/reference/matmul';
import { topkRouteRef } from '../../src/reference/topkRouting';
import { byteTokenizer } from '../../src/tokenizer/byteTokenizer';
import { f64 } from '../helpers/compare';
import { useGpu } from '../helpers/gpu';
import { baseWeights, config, plan, preset, tasks } from '../helpers/syntheticStream';

const gpu = useGpu();
// Attention projections only, as the paper places them (the default adds the MLP's): small and quick.
const SETTINGS = { rank: 2, alpha: 4, expertsPerTask: 2, topK: 2, lr: 0.02, probeSteps: 2, targets: ['attn.c_attn', 'attn.c_proj'] };

async function statesOf(ctx: GpuContext, weights: Map<string, Float32Array>, id: string, settings: Record<string, unknown>) {
  const states = new Map<number, MethodState>();
  const results = await runStream(plan(ctx, weights, [{ id, settings }], 5, 8), {
    onStageDone: (_r, m, s, state) => void (m && state && states.set(s, decodeMethodState(encodeMethodState(state)))),
  });
  return { states, results };
}

/** A method restored from the state it saved after `stage` (1-based), on a fresh copy of the base. */
function restored(ctx: GpuContext, weights: Map<string, Float32Array>, id: string, settings: Record<string, unknown>, state: MethodState, stage: number) {
  const model = GptModel.fromTensors(ctx, config, weights);
  const method = methodDefinition(id).create({ ctx, model, tokenizer: byteTokenizer, tasks: tasks(), budget: preset.budget, seed: 5 }, settings);
  method.loadState(state, stage - 1);
  return { model, method };
}

/** Logits of prompts (as one right-padded batch) with the model as the method has configured it. */
async function logitsOf(ctx: GpuContext, model: GptModel, prompts: string[]): Promise<Float32Array> {
  const enc = prompts.map((p) => promptIds(byteTokenizer, p, config.n_positions).ids);
  const T = Math.max(...enc.map((e) => e.length));
  const ids = new Uint32Array(enc.length * T).fill(byteTokenizer.specials.pad);
  enc.forEach((e, b) => ids.set(e, b * T));
  const pos = Uint32Array.from({ length: enc.length * T }, (_, i) => i % T);
  const tI = ctx.upload(ids, [enc.length, T], 'u32');
  const tP = ctx.upload(pos, [enc.length, T], 'u32');
  const tape = new Tape(ctx);
  const out = await ctx.readF32(model.forward(tape, tI, tP, enc.length, T).value);
  tape.dispose();
  ctx.release(tI, tP);
  return out;
}

describe('MoSEs', () => {
  it('grows by the probe rule, freezes what earlier tasks trained, records R_til, task ids, usage and capacity, and resumes to the same results', async () => {
    const ctx = gpu();
    const live = ctx.poolStats().live;
    const weights = await baseWeights(ctx);
    const grows = await statesOf(ctx, weights, 'moses', { ...SETTINGS, growLoss: 0 });
    const reuses = await statesOf(ctx, weights, 'moses', { ...SETTINGS, growLoss: 100 });
    const g = grows.results.methods.moses;
    // MoSEs' records sit beside R in its entry of results.json (README, results.json).
    const routingOf = (r: RunResults) => {
      const m = r.methods.moses;
      return { capacity: m.capacity!, grew: m.grew!, R_til: m.R_til!, taskId: m.taskId!, usage: m.usage!, OP_til: m.OP_til!, BWT_til: m.BWT_til! };
    };
    expect(routingOf(grows.results).capacity).toEqual([2, 4, 6]);
    expect(routingOf(reuses.results).capacity).toEqual([2, 2, 2]);
    expect(routingOf(reuses.results).grew).toEqual([true, false, false]);
    // Rank-2 sub-experts on c_attn (A [2,16], B [48,2]) and attn.c_proj (A [2,16], B [16,2]) of both blocks;
    // a router [16, E] per projection per task; a key of 16 per task.
    const sub = 2 * (2 * 16 + 48 * 2 + 2 * 16 + 16 * 2);
    const routers = (Es: number[]) => Es.reduce((a, E) => a + 4 * 16 * E, 0);
    expect(g.params.stored).toEqual([sub * 2 + routers([2]) + 16 * 1, sub * 4 + routers([2, 4]) + 16 * 2, sub * 6 + routers([2, 4, 6]) + 16 * 3]);
    expect(reuses.results.methods.moses.params.trainable.slice(1)).toEqual([routers([2]), routers([2])]);
    const rt = routingOf(grows.results);
    expect(rt.R_til.map((row) => row.map((v) => v === null))).toEqual([
      [false, true, true],
      [false, false, true],
      [false, false, false],
    ]);
    expect(rt.BWT_til, 'frozen sub-experts and routers: TIL forgets nothing').toBe(0);
    expect(rt.taskId.every((v) => v !== null && v >= 0 && v <= 100)).toBe(true);
    expect(rt.usage).toHaveLength(3);
    for (const row of rt.usage) {
      expect(row).toHaveLength(6);
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 3);
    }
    // A task that grew trains its own sub-experts; task 2's router only reaches the first 4.
    expect(rt.usage[1].slice(4)).toEqual([0, 0]);

    let saved: RunResults | null = null;
    await expect(
      runStream(plan(ctx, weights, [{ id: 'moses', settings: { ...SETTINGS, growLoss: 0 } }], 5, 8), {
        onStageDone: (r, m, s) => {
          saved = JSON.parse(JSON.stringify(r));
          if (m === 'moses' && s === 2) throw new Error('interrupted');
        },
      }),
    ).rejects.toThrow('interrupted');
    const resumed = await runStream(plan(ctx, weights, [{ id: 'moses', settings: { ...SETTINGS, growLoss: 0 } }], 5, 8), { loadState: (_m, s) => grows.states.get(s) ?? null }, saved!);
    expect({ ...resumed.methods.moses, seconds: null, tokensPerSecond: null }).toEqual({ ...g, seconds: null, tokensPerSecond: null });
    expect(ctx.poolStats().live).toBe(live);
  }, 300_000);

  it("with the task id, earlier tasks' outputs are bit-identical after training a new task, while SeqLoRA's change", async () => {
    const ctx = gpu();
    const weights = await baseWeights(ctx);
    const prompts = tasks()[0].test.map((e) => e.prompt);
    const settings = { ...SETTINGS, growLoss: 0 };
    const { states } = await statesOf(ctx, weights, 'moses', settings);
    const til = async (stage: number) => {
      const { model, method } = restored(ctx, weights, 'moses', settings, states.get(stage)!, stage);
      const moses = method as Moses;
      (moses as unknown as { setRouter(t: number): void }).setRouter(0);
      const logits = await logitsOf(ctx, model, prompts);
      const answers = await moses.answerWith(0, prompts, 6);
      method.dispose();
      model.dispose();
      return { logits, answers };
    };
    const [a1, a2] = [await til(1), await til(2)];
    expect(Array.from(a2.logits)).toEqual(Array.from(a1.logits));
    expect(a2.answers).toEqual(a1.answers);

    const lora = await statesOf(ctx, weights, 'seqlora', { rank: 2, alpha: 4, lr: 0.02 });
    const plain = async (stage: number) => {
      const { model, method } = restored(ctx, weights, 'seqlora', { rank: 2, alpha: 4, lr: 0.02 }, lora.states.get(stage)!, stage);
      const logits = await logitsOf(ctx, model, prompts);
      (method as ContinualMethod).dispose();
      model.dispose();
      return logits;
    };
    const [s1, s2] = [await plain(1), await plain(2)];
    expect(Array.from(s2)).not.toEqual(Array.from(s1));
  }, 300_000);

  it('per-token gates equal those of a float64 reference forward of the same weights', async () => {
    const ctx = gpu();
    const weights = await baseWeights(ctx);
    const settings = { ...SETTINGS, growLoss: 0 };
    const { states } = await statesOf(ctx, weights, 'moses', settings);
    const state = states.get(2)!;
    const { model, method } = restored(ctx, weights, 'moses', settings, state, 2);
    const moses = method as Moses;
    const prompt = tasks()[1].test[0].prompt;
    const got = await moses.gates(1, [prompt]);
    const ids = got.tokens[0];
    const T = ids.length;
    const w64 = new Map([...weights].map(([n, v]) => [n, f64(v)] as [string, Float64Array]));
    const recorded = new Map<string, { indices: Uint32Array; gates: Float64Array }>();
    gptForwardRef(config, w64, ids, 1, T, (name, x, rows, K) => {
      const router = state.tensors.get(`router1.${name}`);
      if (!router) return null;
      const E = router.length / K;
      const pairs = Array.from({ length: E }, (_, e) => [{ A: f64(state.tensors.get(`adapter${e}.${name}.lora_A`)!), B: f64(state.tensors.get(`adapter${e}.${name}.lora_B`)!), column: 0 }]);
      const r = topkRouteRef(matmulRef(x, [rows, K], f64(router), [K, E]), rows, E, 2);
      recorded.set(name, { indices: r.indices, gates: r.gates });
      const N = w64.get(`${name}.bias`)!.length;
      return poolDeltaRef(x, rows, K, N, pairs, 2, 4 / 2, { kind: 'routed', router: f64(router), topK: 2 });
    });
    expect(got.projections[0].map((p) => p.projection)).toEqual([...recorded.keys()]);
    for (const p of got.projections[0]) {
      const ref = recorded.get(p.projection)!;
      for (let s = 0; s < T; s++) {
        expect(p.indices[s], `${p.projection} token ${s}`).toEqual(Array.from(ref.indices.subarray(2 * s, 2 * s + 2)));
        for (let k = 0; k < 2; k++) expect(Math.abs(p.gates[s][k] - ref.gates[2 * s + k]), `${p.projection} token ${s} gate ${k}`).toBeLessThan(1e-4);
      }
    }
    method.dispose();
    model.dispose();
  }, 300_000);
});

describe('gate inspection', () => {
  it("returns SEE's acceptance in asking order and MoSEs' per-token gates, each with its answer; refuses bad requests clearly", async () => {
    const ctx = gpu();
    const weights = await baseWeights(ctx);
    const env = () => ({ ctx, model: GptModel.fromTensors(ctx, config, weights), tokenizer: byteTokenizer, tasks: tasks(), budget: preset.budget, seed: 5 });
    const seeSettings = { rank: 2, alpha: 4, lr: 0.02, bufferPerTask: 3 };
    const see = await statesOf(ctx, weights, 'see', seeSettings);
    const mosesSettings = { ...SETTINGS, growLoss: 0 };
    const moses = await statesOf(ctx, weights, 'moses', mosesSettings);
    const prompt = tasks()[1].test[0].prompt;

    const e1 = env();
    const s = await inspectState(e1, 'see', seeSettings, see.states.get(2)!, 2, { prompt, maxAnswerTokens: 6 });
    e1.model.dispose();
    if (s.method !== 'see') throw new Error('expected a SEE inspection');
    expect(s.experts.map((x) => [x.expert, x.task])).toEqual([
      [1, 'letter'],
      [0, 'double'],
    ]);
    expect(s.tokens[0]).toBe('<begin>');
    expect(s.tokens.slice(1).join('')).toBe(prompt);
    expect(s.handler).toBe(handlerOf(s.experts.map((x) => x.acceptance).reverse(), 0.5));
    expect(typeof s.answer).toBe('string');

    const e2 = env();
    const m = await inspectState(e2, 'moses', mosesSettings, moses.states.get(2)!, 2, { prompt, task: 1, maxAnswerTokens: 6 });
    e2.model.dispose();
    if (m.method !== 'moses') throw new Error('expected a MoSEs inspection');
    expect(m.task).toBe(1);
    expect(m.gates).toHaveLength(4);
    for (const g of m.gates) {
      expect(g.indices).toHaveLength(m.tokens.length);
      for (const [i, ix] of g.indices.entries()) {
        expect(ix.every((e) => e < 4), 'router 1 sees the 4 sub-experts of tasks 1 and 2').toBe(true);
        expect(g.gates[i][0] + g.gates[i][1]).toBeCloseTo(1, 5);
      }
    }

    const refuse = async (id: string, settings: Record<string, unknown>, state: MethodState | null, stage: number, req: { prompt: string; task?: number }, msg: RegExp) => {
      const e = env();
      await expect(inspectState(e, id, settings, state, stage, req)).rejects.toThrow(msg);
      e.model.dispose();
    };
    await refuse('moses', mosesSettings, moses.states.get(2)!, 2, { prompt: 'x'.repeat(config.n_positions) }, /the prompt is 32 tokens; the model's context of 32/);
    await refuse('moses', mosesSettings, moses.states.get(2)!, 2, { prompt: '  ' }, /the prompt is empty/);
    await refuse('moses', mosesSettings, moses.states.get(2)!, 2, { prompt, task: 3 }, /task 3 is outside the stream \(tasks 0..2\)/);
    await refuse('moses', mosesSettings, moses.states.get(2)!, 2, { prompt, task: 2 }, /task 2 \(parity\) is not trained yet/);
    await refuse('moses', mosesSettings, null, 0, { prompt }, /moses has not trained a task yet/);
    await refuse('see', seeSettings, see.states.get(1)!, 1, { prompt, task: 0 }, /SEE takes no task id/);
    await refuse('seqlora', {}, see.states.get(1)!, 1, { prompt }, /seqlora has no gates to inspect/);
  }, 300_000);
});

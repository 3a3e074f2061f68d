import { describe, expect, it } from 'vitest';
import { Parameter, Tape } from '../../src/autograd/tape';
import { replaceRows } from '../../src/autograd/transformerOps';
import { AdapterPool } from '../../src/model/adapterPool';
import { GptModel } from '../../src/model/gpt';
import { LoraAdapter } from '../../src/model/lora';
import { acceptanceProbabilities, checkRoom, handlerOf } from '../../src/methods/seeCheck';
import { promptIds } from '../../src/eval/evaluate';
import { byteTokenizer } from '../../src/tokenizer/byteTokenizer';
import { normal, rng, uniform } from '../../src/util/random';
import { expectGradientMatchesFiniteDifference, f64 } from '../helpers/compare';
import { useGpu } from '../helpers/gpu';
import { baseWeights, config as synthConfig, plan, tasks } from '../helpers/syntheticStream';
import { runStream } from '../../src/cl/runStream';
import { applyPreset, PRESETS } from '../../src/cl/presets';
import { loadStreamDir } from '../../src/cli/run';
import { loadGpt2CheckpointDir } from '../../src/checkpoint/gpt2CheckpointNode';
import { BASE_MODEL_PATH } from '../../src/model/baseModelNode';
import { decodeMethodState, encodeMethodState } from '../../src/cl/methodState';
import type { RunResults } from '../../src/cl/results';
import type { MethodState } from '../../src/methods/method';
import { byteGptConfig } from '../helpers/byteConfig';
import { methodDefinition } from '../../src/methods/registry';
import type { See } from '../../src/methods/see';

const gpu = useGpu();
const config = byteGptConfig({ n_positions: 24, n_embd: 16, n_layer: 2, n_head: 2 });
const { accept, reject } = byteTokenizer.specials as { accept: number; reject: number };

/** A model with K experts whose B matrices are random (a fresh LoRA has B = 0 and changes nothing). */
async function modelWithExperts(ctx: ReturnType<typeof gpu>, K: number) {
  const model = GptModel.init(ctx, config, 3);
  const pool = new AdapterPool(config);
  const r = rng(17);
  for (let e = 0; e < K; e++) {
    const a = LoraAdapter.create(ctx, config, { rank: 2, alpha: 4, targets: ['attn.c_attn', 'mlp.c_fc'], seed: 100 + e, dropout: 0 });
    for (const p of a.pairs.values()) ctx.write(p.B.value, normal(p.B.value.size, r, 0.5));
    pool.add(a);
  }
  model.adapters = pool;
  const markers = Array.from({ length: K }, (_, e) => new Parameter(ctx.upload(normal(2 * config.n_embd, r, 1), [2, config.n_embd]), `m${e}`, false));
  return { model, pool, markers };
}

describe('SEE marker rows (replaceRows)', () => {
  it('replaces the rows and gives rows and table the finite-difference gradient of the float64 reference', async () => {
    const ctx = gpu();
    const [V, C] = [11, 5];
    const ids = [7, 2];
    const r = rng(5);
    const table = uniform(V * C, r);
    const rows = uniform(2 * C, r);
    const G = uniform(V * C, r);
    const ref = (t: Float64Array, m: Float64Array) => {
      let loss = 0;
      for (let v = 0; v < V; v++) {
        const k = ids.indexOf(v);
        for (let c = 0; c < C; c++) loss += (k >= 0 ? m[k * C + c] : t[v * C + c]) * G[v * C + c];
      }
      return loss;
    };
    const pt = new Parameter(ctx.upload(table, [V, C]), 'table');
    const pr = new Parameter(ctx.upload(rows, [2, C]), 'rows');
    const tape = new Tape(ctx);
    const out = replaceRows(tape, pt, ids, pr);
    const got = await ctx.readF32(out.value);
    for (let v = 0; v < V; v++) {
      const k = ids.indexOf(v);
      expect(Array.from(got.subarray(v * C, (v + 1) * C))).toEqual(Array.from(k >= 0 ? rows.subarray(k * C, (k + 1) * C) : table.subarray(v * C, (v + 1) * C)));
    }
    out.grad = ctx.upload(G, [V, C]);
    tape.backward();
    const [gt, gr] = [await ctx.readF32(pt.grad!), await ctx.readF32(pr.grad!)];
    tape.dispose();
    expectGradientMatchesFiniteDifference((t) => ref(t, f64(rows)), f64(table), gt, 'd loss / d table', { eps: 1e-5, rtol: 1e-4, samples: 40 });
    expectGradientMatchesFiniteDifference((m) => ref(f64(table), m), f64(rows), gr, 'd loss / d rows', { eps: 1e-5, rtol: 1e-4, samples: 10 });
    expect(() => replaceRows(new Tape(ctx), pt, [7, 7], pr)).toThrow(/distinct rows/);
    expect(() => replaceRows(new Tape(ctx), pt, [7, 11], pr)).toThrow(/distinct rows of a 11-row table/);
    ctx.release(pt.value, pr.value, pt.grad!, pr.grad!);
  });

  it("a model with tokenRows set computes what the model with those rows written into its table does", async () => {
    const ctx = gpu();
    const model = GptModel.init(ctx, config, 4);
    const rows = normal(2 * config.n_embd, rng(2), 0.3);
    const ids = ctx.upload(Uint32Array.from([256, 5, accept, 9, reject, 3]), [2, 3], 'u32');
    const pos = ctx.upload(Uint32Array.from([0, 1, 2, 0, 1, 2]), [2, 3], 'u32');
    const run = async () => {
      const tape = new Tape(ctx);
      const v = await ctx.readF32(model.forward(tape, ids, pos, 2, 3).value);
      tape.dispose();
      return v;
    };
    model.tokenRows = { ids: [accept, reject], rows: new Parameter(ctx.upload(rows, [2, config.n_embd]), 'markers', false) };
    const withRows = await run();
    const wte = model.params.get('transformer.wte.weight')!;
    const table = await ctx.readF32(wte.value);
    table.set(rows.subarray(0, config.n_embd), accept * config.n_embd);
    table.set(rows.subarray(config.n_embd), reject * config.n_embd);
    ctx.write(wte.value, table);
    ctx.release(model.tokenRows.rows.value);
    model.tokenRows = null;
    expect(Array.from(withRows)).toEqual(Array.from(await run()));
    ctx.release(ids, pos);
    model.dispose();
  });
});

describe('SEE acceptance check', () => {
  it('the batched check over every expert gives what asking each expert alone gives', async () => {
    const ctx = gpu();
    const K = 3;
    const { model, pool, markers } = await modelWithExperts(ctx, K);
    const prompts = ['ab', 'hello wor', 'x', 'a much longer prompt than the room', 'q?'];
    const maxAnswer = 6;
    const batched = await acceptanceProbabilities(model, byteTokenizer, markers, prompts, maxAnswer, 4);
    // The check restores the gating and rows it found.
    expect(pool.gating).toEqual({ kind: 'all' });
    expect(model.tokenRows).toBeNull();
    const room = checkRoom(model, maxAnswer);
    for (const [q, p] of prompts.entries()) {
      const ids = promptIds(byteTokenizer, p, room).ids;
      for (let e = 0; e < K; e++) {
        // Expert e alone: its adapter only, its marker rows in the table, the full logits of the last token.
        pool.gating = { kind: 'one', adapter: e };
        model.tokenRows = { ids: [accept, reject], rows: markers[e] };
        const tape = new Tape(ctx);
        const tIds = ctx.upload(Uint32Array.from(ids), [1, ids.length], 'u32');
        const tPos = ctx.upload(Uint32Array.from(ids.map((_, i) => i)), [1, ids.length], 'u32');
        const logits = await ctx.readF32(model.forward(tape, tIds, tPos, 1, ids.length).value);
        tape.dispose();
        ctx.release(tIds, tPos);
        const V = config.vocab_size;
        const last = f64(logits.subarray((ids.length - 1) * V, ids.length * V));
        const max = Math.max(...last);
        const sum = last.reduce((s, l) => s + Math.exp(l - max), 0);
        const alone = Math.exp(last[accept] - max) / sum;
        expect(Math.abs(batched[q][e] - alone), `prompt ${q}, expert ${e}`).toBeLessThan(1e-5 + 1e-4 * alone);
      }
    }
    expect(handlerOf([0.9, 0.2, 0.7], 0.5)).toBe(2);
    expect(handlerOf([0.9, 0.2, 0.4], 0.5)).toBe(0);
    expect(handlerOf([0.1, 0.2, 0.4], 0.5)).toBeNull();
    for (const m of markers) ctx.release(m.value);
    pool.dispose(ctx);
    model.dispose();
  });
});

describe('SEE through the runner', () => {
  it('adds a frozen expert per task with its own marker rows, records who handled each query, and resumes to the same results', async () => {
    const ctx = gpu();
    const live = ctx.poolStats().live;
    const weights = await baseWeights(ctx);
    const methods = [{ id: 'see', settings: { rank: 2, alpha: 4, lr: 0.02, bufferPerTask: 3, negativesRatio: 0.5 } }];
    const states = new Map<number, MethodState>();
    const full = await runStream(plan(ctx, weights, methods), {
      onStageDone: (_r, m, s, state) => void (m && state && states.set(s, decodeMethodState(encodeMethodState(state)))),
    });
    const m = full.methods.see;
    expect(m.done).toBe(true);
    const C = synthConfig.n_embd;
    // Rank 2 on c_attn and attn.c_proj, c_fc, mlp.c_proj of both blocks, plus two marker rows per expert.
    const adapterParams = 2 * (2 * 16 + 48 * 2 + (2 * 16 + 16 * 2) + (2 * 16 + 64 * 2) + (2 * 64 + 16 * 2));
    expect(m.params.stored).toEqual([1, 2, 3].map((k) => k * (adapterParams + 2 * C)));
    expect(m.params.trainable).toEqual([1, 2, 3].map(() => adapterParams + 2 * C));
    // Earlier experts and their marker rows never change once their task is done.
    for (const k of [...states.get(1)!.tensors.keys()]) expect(Array.from(states.get(2)!.tensors.get(k)!), k).toEqual(Array.from(states.get(1)!.tensors.get(k)!));
    expect(states.get(2)!.tensors.has('expert1.markers')).toBe(true);
    expect((states.get(2)!.meta as { buffer: unknown[] }).buffer).toHaveLength(6);

    const routing = m.routing as { experts: number; handlers: string[]; confusion: Record<string, number[]>; acceptance: Record<string, number[][]>; handled: Record<string, (number | null)[]> };
    expect(routing.experts).toBe(3);
    expect(routing.handlers).toEqual(['double', 'letter', 'parity', 'base']);
    for (const t of tasks()) {
      expect(routing.confusion[t.name].reduce((a, b) => a + b, 0)).toBe(t.test.length);
      expect(routing.acceptance[t.name]).toHaveLength(t.test.length);
      for (const a of routing.acceptance[t.name]) for (const p of a) expect(p >= 0 && p <= 1).toBe(true);
      routing.handled[t.name].forEach((h, q) => expect(h).toBe(handlerOf(routing.acceptance[t.name][q], 0.5)));
    }

    // Interrupted after stage 2, resumed from the saved state: the same results.
    let saved: RunResults | null = null;
    await expect(
      runStream(plan(ctx, weights, methods), {
        onStageDone: (r, mm, s) => {
          saved = JSON.parse(JSON.stringify(r));
          if (mm === 'see' && s === 2) throw new Error('interrupted');
        },
      }),
    ).rejects.toThrow('interrupted');
    const resumed = await runStream(plan(ctx, weights, methods), { loadState: (_m, s) => states.get(s) ?? null }, saved!);
    expect({ ...resumed.methods.see, seconds: null, tokensPerSecond: null }).toEqual({ ...m, seconds: null, tokensPerSecond: null });

    // Frozen experts are asked once per prompt: the recorded acceptance (memoised from earlier
    // stages) equals a fresh check, and a second check of known prompts runs nothing.
    const p = plan(ctx, weights, methods);
    const model = GptModel.fromTensors(ctx, p.base.config, p.base.tensors);
    const env = { ctx, model, tokenizer: p.tokenizer, tasks: p.stream.tasks, budget: p.preset.budget, seed: p.seed };
    const after2 = states.get(2)!;
    const fresh = methodDefinition('see').create(env, methods[0].settings) as See;
    await fresh.loadState({ tensors: after2.tensors, meta: { ...(after2.meta as object), known: [] } });
    const task0 = p.stream.tasks[0];
    const prompts = task0.test.map((e) => e.prompt);
    const asked = await fresh.route(prompts, task0.maxAnswerTokens);
    asked.acceptance.forEach((a, q) => [0, 1].forEach((e) => expect(Math.abs(a[e] - routing.acceptance[task0.name][q][e]), `query ${q}, expert ${e}`).toBeLessThan(6e-5)));
    const before = ctx.dispatchCount;
    expect((await fresh.route(prompts, task0.maxAnswerTokens)).acceptance).toEqual(asked.acceptance);
    expect(ctx.dispatchCount - before, 'dispatches of a check whose answers are all known').toBe(0);
    fresh.dispose();
    model.dispose();
    expect(ctx.poolStats().live).toBe(live);
  }, 240_000);
});

describe('SEE on the shipped base', () => {
  it("each expert accepts its own task's queries and rejects the earlier task's, well above chance", async () => {
    const ctx = gpu();
    const loaded = await loadGpt2CheckpointDir(BASE_MODEL_PATH);
    const tiny = PRESETS.tiny;
    // Two built-in tasks of different kinds; a few more steps than the tiny preset's 12.
    const preset = { ...tiny, maxTasks: 2, budget: { ...tiny.budget, steps: 40 } };
    const stream = applyPreset(loadStreamDir('builtin', 0).stream, preset, 0);
    const results = await runStream({
      ctx,
      base: { config: loaded.config, tensors: loaded.tensors, source: 'shipped base' },
      tokenizer: byteTokenizer,
      stream,
      preset,
      seed: 0,
      methods: [{ id: 'see' }],
    });
    const r = results.methods.see.routing as { acceptance: Record<string, number[][]>; confusion: Record<string, number[]> };
    const [first, second] = stream.tasks.map((t) => t.name);
    const share = (rows: number[][], e: number, accept: boolean) => rows.filter((a) => (a[e] > 0.5) === accept).length / rows.length;
    const figures = {
      expert0AcceptsOwn: share(r.acceptance[first], 0, true),
      expert1AcceptsOwn: share(r.acceptance[second], 1, true),
      expert1RejectsEarlier: share(r.acceptance[first], 1, false),
    };
    console.log(`SEE on ${first}, ${second}: ${JSON.stringify(figures)}; confusion ${JSON.stringify(r.confusion)}`);
    for (const [what, v] of Object.entries(figures)) expect(v, what).toBeGreaterThanOrEqual(0.8);
  }, 300_000);
});

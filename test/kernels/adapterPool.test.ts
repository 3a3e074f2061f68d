import { describe, expect, it } from 'vitest';
import { adaptedLinear } from '../../src/autograd/adapterOps';
import { Parameter, Tape, zeroGrad } from '../../src/autograd/tape';
import { maskedCrossEntropy } from '../../src/autograd/transformerOps';
import { loadGpt2Checkpoint } from '../../src/checkpoint/gpt2Checkpoint';
import type { GpuContext } from '../../src/gpu/context';
import { ShapeError } from '../../src/gpu/errors';
import type { GpuTensor } from '../../src/gpu/tensor';
import { loraBackward, loraForward } from '../../src/kernels/lora';
import { AdapterPool, type Gating } from '../../src/model/adapterPool';
import { generate } from '../../src/model/generate';
import { GptModel } from '../../src/model/gpt';
import { LoraAdapter, targetColumn, type LoraSettings, type LoraTarget } from '../../src/model/lora';
import { poolDeltaRef, type GatesRef, type PairRef } from '../../src/reference/adapterPool';
import { gptForwardRef, gptLossRef } from '../../src/reference/gpt';
import { AdamW, DEFAULT_ADAMW } from '../../src/train/optimizer';
import { trainStep } from '../../src/train/trainStep';
import { normal, rng, uniform } from '../../src/util/random';
import { expectClose, expectGradientMatchesFiniteDifference, f64 } from '../helpers/compare';
import { useGpu } from '../helpers/gpu';
import { makeTinyGpt2Checkpoint } from '../helpers/tinyGpt2';

const gpu = useGpu();

const tiny = makeTinyGpt2Checkpoint({ seed: 21, n_layer: 2, n_head: 2, n_embd: 8, vocab_size: 13, n_positions: 9 });
const loaded = loadGpt2Checkpoint(tiny.configJson, tiny.safetensors);
const { config } = loaded;
const [B, T] = [4, 7];
const r0 = rng(8);
const ids = Uint32Array.from({ length: B * T }, () => Math.floor(r0() * config.vocab_size));
const targets = Uint32Array.from({ length: B * T }, () => Math.floor(r0() * config.vocab_size));
const mask = Float32Array.from({ length: B * T }, (_, i) => (i % T >= 2 ? 1 : 0));
const positions = Uint32Array.from({ length: B * T }, (_, i) => i % T);
const base64 = new Map([...loaded.tensors].map(([n, t]) => [n, f64(t)] as [string, Float64Array]));

function batch(ctx: GpuContext) {
  return {
    ids: ctx.upload(ids, [B, T], 'u32'),
    positions: ctx.upload(positions, [B, T], 'u32'),
    targets: ctx.upload(targets, [B * T], 'u32'),
    mask: ctx.upload(mask, [B * T], 'f32'),
    B,
    T,
    lossTokens: mask.reduce((n, m) => n + m, 0),
  };
}
const releaseBatch = (ctx: GpuContext, d: ReturnType<typeof batch>) => ctx.release(d.ids, d.positions, d.targets, d.mask);

/** An adapter with random, non-zero A and B (so every pair changes the model). */
function randomAdapter(ctx: GpuContext, settings: Omit<LoraSettings, 'seed'>, seed: number): LoraAdapter {
  const a = LoraAdapter.create(ctx, config, { ...settings, seed });
  const r = rng(seed + 100);
  for (const p of a.pairs.values()) ctx.write(p.B.value, normal(p.B.value.size, r, 0.4));
  return a;
}

async function readAll(ctx: GpuContext, ts: GpuTensor[]): Promise<Float32Array[]> {
  return Promise.all(ts.map((t) => ctx.readF32(t)));
}

/** Float64 pairs of every adapter on one projection, as the reference wants them. */
async function pairsRef(ctx: GpuContext, pool: AdapterPool, projection: string): Promise<PairRef[][] | null> {
  const site = pool.projection(projection);
  if (!site) return null;
  return Promise.all(
    site.pairs.map((slices) =>
      Promise.all(slices.map(async (p) => ({ A: f64(await ctx.readF32(p.A.value)), B: f64(await ctx.readF32(p.B.value)), column: p.column }))),
    ),
  );
}

/** The float64 model's delta hook for a pool under given gates (per projection). */
async function poolRef(ctx: GpuContext, pool: AdapterPool, gates: (projection: string) => GatesRef) {
  const s = pool.settings!;
  const byProjection = new Map<string, PairRef[][]>();
  for (const name of pool.projections()) byProjection.set(name, (await pairsRef(ctx, pool, name))!);
  return (name: string, x: Float64Array, rows: number, K: number) => {
    const pairs = byProjection.get(name);
    if (!pairs) return null;
    const N = base64.get(`${name}.bias`)!.length;
    return poolDeltaRef(x, rows, K, N, pairs, s.rank, s.alpha / s.rank, gates(name));
  };
}

async function logits(model: GptModel, d: ReturnType<typeof batch>): Promise<Float32Array> {
  const tape = new Tape(model.ctx);
  const out = await model.ctx.readF32(model.forward(tape, d.ids, d.positions, d.B, d.T).value);
  tape.dispose();
  return out;
}

const bitEqual = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe('adapter pool: one pair', () => {
  it('runs exactly the fused LoRA kernels that bench:kernels times (bit-identical, forward and backward)', async () => {
    const ctx = gpu();
    const live = ctx.poolStats().live;
    const [M, K, N, rank, scale] = [37, 19, 29, 5, 1.75];
    const r = rng(3);
    const t = (n: number, shape: number[], name: string) => new Parameter(ctx.upload(uniform(n, r), shape), name);
    const x = t(M * K, [M, K], 'x');
    const W = t(K * N, [K, N], 'W');
    const b = t(N, [N], 'b');
    const A = t(rank * K, [rank, K], 'A');
    const Bp = t(N * rank, [N, rank], 'B');
    W.trainable = false;
    b.trainable = false;
    const dy = ctx.upload(uniform(M * N, r), [M, N]);

    const tape = new Tape(ctx);
    const y = adaptedLinear(tape, x, W, b, { pairs: [[{ A, B: Bp, column: 0 }]], scale, dropout: 0 }, { kind: 'all' });
    y.grad = ctx.clone(dy);
    tape.backward();
    const got = await readAll(ctx, [y.value, x.grad!, A.grad!, Bp.grad!]);

    // The same computation from src/kernels/lora.ts directly.
    const f = loraForward(ctx, x.value, W.value, A.value, Bp.value, scale, { conv1d: true, bias: b.value });
    const g = loraBackward(ctx, x.value, W.value, A.value, Bp.value, scale, f.xa, dy, { conv1d: true });
    const want = await readAll(ctx, [f.y, g.dx, g.dA, g.dB]);
    ['y', 'dx', 'dA', 'dB'].forEach((what, i) => expect(bitEqual(got[i], want[i]), what).toBe(true));
    expect(W.grad).toBeNull();

    // And the multi-adapter kernels (the same pair chosen for every token) agree within rounding.
    const tape2 = new Tape(ctx);
    zeroGrad(ctx, [x, A, Bp]);
    const y2 = adaptedLinear(tape2, x, W, b, { pairs: [[{ A, B: Bp, column: 0 }]], scale, dropout: 0 }, { kind: 'perToken', adapterOfToken: new Uint32Array(M) });
    y2.grad = ctx.clone(dy);
    tape2.backward();
    const multi = await readAll(ctx, [y2.value, x.grad!, A.grad!, Bp.grad!]);
    ['y', 'dx', 'dA', 'dB'].forEach((what, i) => expectClose(multi[i], want[i], `multi-adapter ${what}`, 1e-5));

    tape.dispose();
    tape2.dispose();
    zeroGrad(ctx, [x, A, Bp]);
    ctx.release(x.value, W.value, b.value, A.value, Bp.value, dy, f.y, f.xa, g.dx, g.dA, g.dB);
    expect(ctx.poolStats().live).toBe(live);
  });
});

describe('adapter pool in the model', () => {
  const SETTINGS = { rank: 3, alpha: 6, targets: ['attn.c_attn', 'mlp.c_fc'] as LoraTarget[], dropout: 0 };

  it('a frozen sum plus a trainable pair (O-LoRA): logits of the merged float64 model, and training moves only the new pair', async () => {
    const ctx = gpu();
    const model = GptModel.fromTensors(ctx, config, loaded.tensors);
    for (const p of model.params.values()) p.trainable = false;
    const frozen = [randomAdapter(ctx, SETTINGS, 1), randomAdapter(ctx, SETTINGS, 2)];
    for (const a of frozen) for (const p of a.parameters()) p.trainable = false;
    const fresh = LoraAdapter.create(ctx, config, { ...SETTINGS, seed: 3 });
    const pool = new AdapterPool(config, [...frozen, fresh]);
    model.adapters = pool;
    const d = batch(ctx);

    const delta = await poolRef(ctx, pool, () => ({ kind: 'all' }));
    expectClose(await logits(model, d), gptForwardRef(config, base64, ids, B, T, delta), 'frozen sum + new pair logits', 1e-4);

    const before = await readAll(ctx, [...frozen.flatMap((a) => a.parameters()), ...model.params.values()].map((p) => p.value));
    const freshBefore = await readAll(ctx, fresh.parameters().map((p) => p.value));
    const opt = new AdamW(ctx, { ...DEFAULT_ADAMW, weightDecay: 0.1 });
    let first = NaN;
    let last = NaN;
    for (let s = 0; s < 8; s++) {
      const out = trainStep(model, opt, [d], 0.05);
      last = (await ctx.readF32(out.losses[0]))[0];
      if (s === 0) first = last;
      ctx.release(...out.losses, ...(out.gradNorm ? [out.gradNorm] : []));
    }
    expect(last).toBeLessThan(first);
    const after = await readAll(ctx, [...frozen.flatMap((a) => a.parameters()), ...model.params.values()].map((p) => p.value));
    after.forEach((v, i) => expect(bitEqual(v, before[i]), `frozen tensor ${i}`).toBe(true));
    const freshAfter = await readAll(ctx, fresh.parameters().map((p) => p.value));
    expect(freshAfter.some((v, i) => !bitEqual(v, freshBefore[i]))).toBe(true);
    opt.dispose();
    pool.dispose(ctx);
    model.dispose();
    releaseBatch(ctx, d);
  });

  it('a frozen sum plus a trainable pair runs on the fused kernels over the merged base: finite-difference gradients, rebuilt when the frozen set changes', async () => {
    const ctx = gpu();
    const model = GptModel.fromTensors(ctx, config, loaded.tensors);
    for (const p of model.params.values()) p.trainable = false;
    const frozen = [randomAdapter(ctx, SETTINGS, 41), randomAdapter(ctx, SETTINGS, 42)];
    for (const a of frozen) for (const p of a.parameters()) p.trainable = false;
    const fresh = randomAdapter(ctx, SETTINGS, 43);
    const pool = new AdapterPool(config, [...frozen, fresh]);
    model.adapters = pool;
    const d = batch(ctx);
    const kernels: string[] = [];
    const dispatch = ctx.dispatch.bind(ctx);
    ctx.dispatch = (spec, args) => (kernels.push(spec.name), dispatch(spec, args));
    const tape = new Tape(ctx);
    try {
      maskedCrossEntropy(tape, model.forward(tape, d.ids, d.positions, B, T), d.targets, d.mask);
      tape.backward();
    } finally {
      ctx.dispatch = dispatch;
    }
    expect(kernels.filter((k) => k.startsWith('multi_lora'))).toEqual([]);
    expect(kernels).toContain('lora_forward_prep');

    const pairs = new Map<string, PairRef[][]>();
    for (const n of pool.projections()) pairs.set(n, (await pairsRef(ctx, pool, n))!);
    const s = pool.settings!;
    const loss = () =>
      gptLossRef(config, base64, ids, targets, mask, B, T, (name, x, rows, K) => {
        const p = pairs.get(name);
        return p ? poolDeltaRef(x, rows, K, base64.get(`${name}.bias`)!.length, p, s.rank, s.alpha / s.rank, { kind: 'all' }) : null;
      });
    const opts = { eps: 1e-5, rtol: 5e-4, samples: 10 };
    for (const name of pool.projections()) {
      const site = pool.projection(name)!;
      const { A, B: Bm } = pairs.get(name)![2][0];
      expectGradientMatchesFiniteDifference(() => loss(), A, await ctx.readF32(site.pairs[2][0].A.grad!), `${name} new pair A`, opts);
      expectGradientMatchesFiniteDifference(() => loss(), Bm, await ctx.readF32(site.pairs[2][0].B.grad!), `${name} new pair B`, opts);
      expect(site.pairs[0][0].A.grad, 'a frozen pair gets no gradient').toBeNull();
    }
    tape.dispose();
    zeroGrad(ctx, pool.parameters());

    // The new pair freezes too (the next task's start): the merge is rebuilt with all three.
    for (const p of fresh.parameters()) p.trainable = false;
    const all = await poolRef(ctx, pool, () => ({ kind: 'all' }));
    expectClose(await logits(model, d), gptForwardRef(config, base64, ids, B, T, all), 'all three frozen', 1e-4);
    // A frozen pair taken out of the pool leaves the merge too.
    pool.remove(ctx, 0);
    const two = await poolRef(ctx, pool, () => ({ kind: 'all' }));
    expectClose(await logits(model, d), gptForwardRef(config, base64, ids, B, T, two), 'after removing one', 1e-4);
    pool.dispose(ctx);
    model.dispose();
    releaseBatch(ctx, d);
  });

  it('per-row selection (SEE): each row gets exactly its own adapter, a null row the base model', async () => {
    const ctx = gpu();
    const model = GptModel.fromTensors(ctx, config, loaded.tensors);
    const experts = [randomAdapter(ctx, SETTINGS, 11), randomAdapter(ctx, SETTINGS, 12), randomAdapter(ctx, SETTINGS, 13)];
    const pool = new AdapterPool(config, experts);
    const choice = [2, null, 0, 1];
    pool.gating = { kind: 'perRow', adapterOfRow: choice };
    model.adapters = pool;
    const d = batch(ctx);
    const V = config.vocab_size;
    const mixed = await logits(model, d);

    // Each expert alone, through the fused pool-of-one path, on the whole batch.
    const alone: Float32Array[] = [];
    for (const e of experts) {
      model.adapters = new AdapterPool(config, [e]);
      alone.push(await logits(model, d));
    }
    model.adapters = null;
    const plain = await logits(model, d);
    for (let b = 0; b < B; b++) {
      const rows = (t: Float32Array) => t.subarray(b * T * V, (b + 1) * T * V);
      const e = choice[b];
      if (e === null) expect(bitEqual(rows(mixed), rows(plain)), `row ${b} on the base`).toBe(true);
      else expectClose(rows(mixed), rows(alone[e]), `row ${b} with expert ${e}`, 1e-5);
    }
    // And against the float64 model with the experts merged per row.
    const tokenAdapter = Array.from({ length: B * T }, (_, m) => choice[Math.floor(m / T)]);
    model.adapters = pool;
    const delta = await poolRef(ctx, pool, () => ({ kind: 'perToken', adapterOfToken: tokenAdapter }));
    expectClose(mixed, gptForwardRef(config, base64, ids, B, T, delta), 'per-row logits vs float64', 1e-4);

    // The same selection holds in generation (the KV-cache path).
    const prompts = [[1, 2, 3], [4], [5, 6], [7, 8, 9, 10]];
    const opts = { maxNewTokens: 3, endId: 12, padId: 0 };
    const cached = await generate(model, prompts, opts);
    expect(cached).toEqual(await generate(model, prompts, { ...opts, useCache: false }));
    const oneByOne = [];
    for (let b = 0; b < prompts.length; b++) {
      const e = choice[b];
      model.adapters = e === null ? null : new AdapterPool(config, [experts[e]]);
      oneByOne.push((await generate(model, [prompts[b]], opts))[0]);
    }
    expect(cached).toEqual(oneByOne);

    model.adapters = null;
    pool.dispose(ctx);
    model.dispose();
    releaseBatch(ctx, d);
  });

  it('q and v slices of c_attn (TRACE\'s targets) change only those columns and match the float64 model', async () => {
    const ctx = gpu();
    const model = GptModel.fromTensors(ctx, config, loaded.tensors);
    const settings = { rank: 2, alpha: 4, targets: ['attn.c_attn.q', 'attn.c_attn.v'] as LoraTarget[], dropout: 0 };
    const pool = new AdapterPool(config, [randomAdapter(ctx, settings, 5)]);
    model.adapters = pool;
    const d = batch(ctx);
    const delta = await poolRef(ctx, pool, () => ({ kind: 'all' }));
    expectClose(await logits(model, d), gptForwardRef(config, base64, ids, B, T, delta), 'q/v slice logits', 1e-4);
    // The delta never touches the key columns.
    const x = uniform(3 * config.n_embd, rng(1));
    const dq = delta('transformer.h.0.attn.c_attn', f64(x), 3, config.n_embd)!;
    const C = config.n_embd;
    expect(targetColumn(config, 'attn.c_attn.v')).toBe(2 * C);
    for (let m = 0; m < 3; m++) for (let c = C; c < 2 * C; c++) expect(dq[m * 3 * C + c]).toBe(0);
    expect(Math.max(...dq.map(Math.abs))).toBeGreaterThan(0);

    // Gradients of every slice pair against finite differences of the float64 model.
    for (const p of model.params.values()) p.trainable = false;
    const tape = new Tape(ctx);
    maskedCrossEntropy(tape, model.forward(tape, d.ids, d.positions, B, T), d.targets, d.mask);
    tape.backward();
    const pairs = new Map<string, PairRef[][]>();
    for (const n of pool.projections()) pairs.set(n, (await pairsRef(ctx, pool, n))!);
    const loss = () =>
      gptLossRef(config, base64, ids, targets, mask, B, T, (name, xs, rows, K) => {
        const p = pairs.get(name);
        return p ? poolDeltaRef(xs, rows, K, 3 * C, p, 2, 2, { kind: 'all' }) : null;
      });
    for (const name of pool.projections()) {
      const site = pool.projection(name)!;
      for (const [s, slice] of ['q', 'v'].entries()) {
        const { A, B: Bm } = pairs.get(name)![0][s];
        const opts = { eps: 1e-5, rtol: 5e-4, samples: 10 };
        expectGradientMatchesFiniteDifference(() => loss(), A, await ctx.readF32(site.pairs[0][s].A.grad!), `${name}.${slice} A`, opts);
        expectGradientMatchesFiniteDifference(() => loss(), Bm, await ctx.readF32(site.pairs[0][s].B.grad!), `${name}.${slice} B`, opts);
      }
    }
    tape.dispose();
    zeroGrad(ctx, pool.parameters());
    pool.dispose(ctx);
    model.dispose();
    releaseBatch(ctx, d);
  });

  it('routed top-k gates (MoSEs): the whole model passes a finite-difference check for sub-experts and routers', async () => {
    const ctx = gpu();
    const model = GptModel.fromTensors(ctx, config, loaded.tensors);
    for (const p of model.params.values()) p.trainable = false;
    const settings = { rank: 2, alpha: 2, targets: ['attn.c_attn', 'attn.c_proj'] as LoraTarget[], dropout: 0 };
    const subExperts = [1, 2, 3, 4].map((s) => randomAdapter(ctx, settings, 30 + s));
    // The first sub-expert is frozen (an earlier task's), the others train.
    for (const p of subExperts[0].parameters()) p.trainable = false;
    const pool = new AdapterPool(config, subExperts);
    const C = config.n_embd;
    const routers = new Map<string, Parameter>();
    const r = rng(77);
    for (const name of pool.projections()) routers.set(name, new Parameter(ctx.upload(normal(C * 4, r, 1.5), [C, 4]), `${name}.router`));
    const topK = 2;
    const seen: string[] = [];
    pool.gating = { kind: 'routed', routers, topK, onRouting: (name) => seen.push(name) };
    model.adapters = pool;
    const d = batch(ctx);
    const tape = new Tape(ctx);
    maskedCrossEntropy(tape, model.forward(tape, d.ids, d.positions, B, T), d.targets, d.mask);
    tape.backward();
    expect(seen).toEqual(pool.projections());

    const routers64 = new Map<string, Float64Array>();
    for (const [n, p] of routers) routers64.set(n, f64(await ctx.readF32(p.value)));
    const pairs = new Map<string, PairRef[][]>();
    for (const n of pool.projections()) pairs.set(n, (await pairsRef(ctx, pool, n))!);
    const loss = () =>
      gptLossRef(config, base64, ids, targets, mask, B, T, (name, x, rows, K) => {
        const p = pairs.get(name);
        if (!p) return null;
        const N = base64.get(`${name}.bias`)!.length;
        return poolDeltaRef(x, rows, K, N, p, 2, 1, { kind: 'routed', router: routers64.get(name)!, topK });
      });
    const opts = { eps: 1e-5, rtol: 5e-4, samples: 10 };
    for (const name of pool.projections()) {
      const router = routers64.get(name)!;
      expectGradientMatchesFiniteDifference(() => loss(), router, await ctx.readF32(routers.get(name)!.grad!), `${name} router`, opts);
      const site = pool.projection(name)!;
      for (let e = 1; e < subExperts.length; e++) {
        const { A, B: Bm } = pairs.get(name)![e][0];
        expectGradientMatchesFiniteDifference(() => loss(), A, await ctx.readF32(site.pairs[e][0].A.grad!), `${name} sub-expert ${e} A`, opts);
        expectGradientMatchesFiniteDifference(() => loss(), Bm, await ctx.readF32(site.pairs[e][0].B.grad!), `${name} sub-expert ${e} B`, opts);
      }
      expect(site.pairs[0][0].A.grad, 'frozen sub-expert gets no gradient').toBeNull();
    }
    tape.dispose();
    zeroGrad(ctx, [...pool.parameters(), ...routers.values()]);
    for (const p of routers.values()) ctx.release(p.value);
    pool.dispose(ctx);
    model.dispose();
    releaseBatch(ctx, d);
  });

  it('refuses adapters that do not fit, indices outside the pool and gates that do not fit the batch', async () => {
    const ctx = gpu();
    const model = GptModel.fromTensors(ctx, config, loaded.tensors);
    const a = LoraAdapter.create(ctx, config, { ...SETTINGS, seed: 1 });
    const pool = new AdapterPool(config, [a]);
    const other = LoraAdapter.create(ctx, config, { ...SETTINGS, rank: 4, seed: 2 });
    expect(() => pool.add(other)).toThrow(/rank 4.*does not match the pool.*rank 3/);
    expect(() => LoraAdapter.fromTensors(ctx, config, { ...SETTINGS, seed: 0 }, new Map([['transformer.h.0.attn.c_attn', { A: new Float32Array(3), B: new Float32Array(3) }]]))).toThrow(ShapeError);
    expect(() => LoraAdapter.create(ctx, config, { ...SETTINGS, targets: ['attn.c_attn', 'attn.c_attn.q'], seed: 0 })).toThrow(/overlap/);
    model.adapters = pool;
    const d = batch(ctx);
    const tape = new Tape(ctx);
    const bad: Gating[] = [
      { kind: 'perRow', adapterOfRow: [0, 0, 0] },
      { kind: 'perRow', adapterOfRow: [0, 1, null, 0] },
      { kind: 'routed', routers: new Map(), topK: 1 },
    ];
    const messages = [/adapterOfRow has 3 entries for a batch of 4 rows/, /adapterOfRow\[1\] = 1 is not an adapter of the pool \(0\.\.0\)/, /no router for transformer\.h\.0\.attn\.c_attn/];
    bad.forEach((g, i) => {
      pool.gating = g;
      expect(() => model.forward(tape, d.ids, d.positions, B, T)).toThrow(messages[i]);
    });
    expect(() => pool.remove(ctx, 3)).toThrow(/index 3 is outside the pool \(0\.\.0\)/);
    tape.dispose();
    other.dispose(ctx);
    pool.dispose(ctx);
    model.dispose();
    releaseBatch(ctx, d);
  });
});

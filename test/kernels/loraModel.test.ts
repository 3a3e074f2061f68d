import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPeftAdapterDir, savePeftAdapterDir } from '../../src/checkpoint/peftAdapterNode';
import { Tape, zeroGrad } from '../../src/autograd/tape';
import { maskedCrossEntropy } from '../../src/autograd/transformerOps';
import { loadGpt2Checkpoint } from '../../src/checkpoint/gpt2Checkpoint';
import { GptModel } from '../../src/model/gpt';
import { LoraAdapter } from '../../src/model/lora';
import { gptLossRef } from '../../src/reference/gpt';
import { mergeLoraConv1dRef } from '../../src/reference/lora';
import { rng, uniform } from '../../src/util/random';
import { AdamW, DEFAULT_ADAMW } from '../../src/train/optimizer';
import { trainStep } from '../../src/train/trainStep';
import { expectGradientMatchesFiniteDifference } from '../helpers/compare';
import { useGpu } from '../helpers/gpu';
import { makeTinyGpt2Checkpoint } from '../helpers/tinyGpt2';
import { AdapterPool } from '../../src/model/adapterPool';

const gpu = useGpu();

const tiny = makeTinyGpt2Checkpoint({ seed: 9, n_layer: 2, n_head: 2, n_embd: 8, vocab_size: 11, n_positions: 8 });
const loaded = loadGpt2Checkpoint(tiny.configJson, tiny.safetensors);
const { config } = loaded;
const [B, T] = [2, 6];
const r = rng(4);
const ids = Uint32Array.from({ length: B * T }, () => Math.floor(r() * config.vocab_size));
const targets = Uint32Array.from({ length: B * T }, () => Math.floor(r() * config.vocab_size));
const mask = Float32Array.from({ length: B * T }, (_, i) => (i % T >= 2 ? 1 : 0));
const positions = Uint32Array.from({ length: B * T }, (_, i) => i % T);

function data(ctx: ReturnType<typeof gpu>) {
  return {
    B,
    T,
    ids: ctx.upload(ids, [B, T], 'u32'),
    positions: ctx.upload(positions, [B, T], 'u32'),
    targets: ctx.upload(targets, [B * T], 'u32'),
    mask: ctx.upload(mask, [B * T], 'f32'),
    lossTokens: 8,
  };
}

const SETTINGS = { rank: 3, alpha: 6, targets: ['attn.c_attn', 'mlp.c_proj'] as const, seed: 2 };

describe('LoRA on the GPT model', () => {
  it('with B = 0 leaves the logits bit-identical to the base', async () => {
    const ctx = gpu();
    const model = GptModel.fromTensors(ctx, config, loaded.tensors);
    const d = data(ctx);
    const run = async () => {
      const tape = new Tape(ctx);
      const out = await ctx.readF32(model.forward(tape, d.ids, d.positions, B, T).value);
      tape.dispose();
      return out;
    };
    const base = await run();
    model.adapters = new AdapterPool(config, [LoraAdapter.create(ctx, config, { ...SETTINGS, targets: [...SETTINGS.targets] })]);
    const withAdapter = await run();
    expect(Buffer.from(withAdapter.buffer).equals(Buffer.from(base.buffer))).toBe(true);
    model.adapters.dispose(ctx);
    model.dispose();
    ctx.release(d.ids, d.positions, d.targets, d.mask);
  });

  it('gives A and B the finite-difference gradients of the merged float64 model', async () => {
    const ctx = gpu();
    const model = GptModel.fromTensors(ctx, config, loaded.tensors);
    for (const p of model.params.values()) p.trainable = false;
    const adapter = LoraAdapter.create(ctx, config, { ...SETTINGS, targets: [...SETTINGS.targets] });
    // Non-zero B so that A has a gradient too.
    const Bvalues = new Map<string, Float32Array>();
    for (const [name, pair] of adapter.pairs) {
      const v = uniform(pair.B.value.size, rng(name.length), -0.5, 0.5);
      ctx.write(pair.B.value, v);
      Bvalues.set(name, v);
    }
    model.adapters = new AdapterPool(config, [adapter]);
    const d = data(ctx);
    const tape = new Tape(ctx);
    maskedCrossEntropy(tape, model.forward(tape, d.ids, d.positions, B, T), d.targets, d.mask);
    tape.backward();
    const base64 = new Map([...loaded.tensors].map(([n, t]) => [n, Float64Array.from(t)] as [string, Float64Array]));
    const current = new Map<string, { A: Float64Array; B: Float64Array }>();
    for (const [name, pair] of adapter.pairs) {
      current.set(name, { A: Float64Array.from(await ctx.readF32(pair.A.value)), B: Float64Array.from(Bvalues.get(name)!) });
    }
    // The float64 oracle: every pair merged into its base weight, W' = W + scale (B A)^T.
    const lossWith = (name: string, A: Float64Array, Bm: Float64Array) => {
      const w = new Map(base64);
      for (const [n, pair] of adapter.pairs) {
        const { A: a, B: b } = n === name ? { A, B: Bm } : current.get(n)!;
        const [rank, fanIn] = pair.A.value.shape;
        const fanOut = pair.B.value.shape[0];
        const W = Float64Array.from(w.get(`${n}.weight`)!);
        mergeLoraConv1dRef(W, a, b, { rank, fanIn, fanOut }, adapter.scale);
        w.set(`${n}.weight`, W);
      }
      return gptLossRef(config, w, ids, targets, mask, B, T);
    };
    for (const [name, pair] of adapter.pairs) {
      const { A: A64, B: B64 } = current.get(name)!;
      const gA = await ctx.readF32(pair.A.grad!);
      const gB = await ctx.readF32(pair.B.grad!);
      expectGradientMatchesFiniteDifference((a) => lossWith(name, a, B64), A64, gA, `${name}.lora_A`, { eps: 1e-5, rtol: 2e-4 });
      expectGradientMatchesFiniteDifference((b) => lossWith(name, A64, b), B64, gB, `${name}.lora_B`, { eps: 1e-5, rtol: 2e-4 });
    }
    for (const p of model.params.values()) expect(p.grad, p.name).toBeNull();
    tape.dispose();
    zeroGrad(ctx, adapter.parameters());
    adapter.dispose(ctx);
    model.dispose();
    ctx.release(d.ids, d.positions, d.targets, d.mask);
  });

  it('trains the adapter while frozen base weights stay bit-identical', async () => {
    const ctx = gpu();
    const model = GptModel.fromTensors(ctx, config, loaded.tensors);
    for (const p of model.params.values()) p.trainable = false;
    model.adapters = new AdapterPool(config, [LoraAdapter.create(ctx, config, { ...SETTINGS, targets: [...SETTINGS.targets] })]);
    const before = new Map<string, Float32Array>();
    for (const [n, p] of model.params) before.set(n, await ctx.readF32(p.value));
    const d = data(ctx);
    const opt = new AdamW(ctx, { ...DEFAULT_ADAMW, weightDecay: 0.1 });
    const losses: number[] = [];
    for (let s = 0; s < 30; s++) {
      const res = trainStep(model, opt, [d], 2e-2);
      losses.push((await ctx.readF32(res.losses[0]))[0]);
      ctx.release(...res.losses, ...(res.gradNorm ? [res.gradNorm] : []));
    }
    expect(losses[losses.length - 1]).toBeLessThan(losses[0] * 0.8);
    for (const [n, p] of model.params) {
      const after = await ctx.readF32(p.value);
      expect(Buffer.from(after.buffer).equals(Buffer.from(before.get(n)!.buffer)), n).toBe(true);
    }
    opt.dispose();
    model.adapters.dispose(ctx);
    model.dispose();
    ctx.release(d.ids, d.positions, d.targets, d.mask);
  });

  it('applies LoRA dropout in training steps only, reproducibly from the run seed', async () => {
    const ctx = gpu();
    const d = data(ctx);
    // Three short runs with dropout 0.5: two with seed 1, one with seed 2; then the first
    // adapter's evaluation loss (a tape without a seed) against the float64 merged model.
    const run = async (seed: number) => {
      const model = GptModel.fromTensors(ctx, config, loaded.tensors);
      for (const p of model.params.values()) p.trainable = false;
      model.adapters = new AdapterPool(config, [LoraAdapter.create(ctx, config, { ...SETTINGS, targets: [...SETTINGS.targets], dropout: 0.5 })]);
      const opt = new AdamW(ctx, DEFAULT_ADAMW);
      const losses: number[] = [];
      for (let s = 0; s < 3; s++) {
        const res = trainStep(model, opt, [d], 2e-2, seed);
        losses.push((await ctx.readF32(res.losses[0]))[0]);
        ctx.release(...res.losses, ...(res.gradNorm ? [res.gradNorm] : []));
      }
      opt.dispose();
      return { model, losses };
    };
    const a = await run(1);
    const b = await run(1);
    const c = await run(2);
    expect(b.losses).toEqual(a.losses);
    expect(c.losses[1]).not.toBe(a.losses[1]);

    const tape = new Tape(ctx);
    const logits = a.model.forward(tape, d.ids, d.positions, B, T);
    const evalLoss = (await ctx.readF32(maskedCrossEntropy(tape, logits, d.targets, d.mask)))[0];
    tape.dispose();
    const merged = new Map<string, Float64Array>();
    for (const [n, p] of a.model.params) merged.set(n, Float64Array.from(await ctx.readF32(p.value)));
    for (const [name, pair] of a.model.adapters!.adapters[0].pairs) {
      const [A, Bm] = [await ctx.readF32(pair.A.value), await ctx.readF32(pair.B.value)];
      const W = merged.get(`${name}.weight`)!;
      mergeLoraConv1dRef(W, A, Bm, { rank: SETTINGS.rank, fanIn: A.length / SETTINGS.rank, fanOut: Bm.length / SETTINGS.rank }, a.model.adapters!.adapters[0].scale);
    }
    // Evaluation sees the whole branch (no mask): it equals the merged model's loss.
    expect(evalLoss).toBeCloseTo(gptLossRef(config, merged, ids, targets, mask, B, T), 4);
    for (const m of [a, b, c]) {
      m.model.adapters!.dispose(ctx);
      m.model.dispose();
    }
    ctx.release(d.ids, d.positions, d.targets, d.mask);
  });

  it('saves a trained adapter in PEFT files apart from the base, and the reloaded adapter gives the same logits', async () => {
    const ctx = gpu();
    const d = data(ctx);
    const model = GptModel.fromTensors(ctx, config, loaded.tensors);
    for (const p of model.params.values()) p.trainable = false;
    model.adapters = new AdapterPool(config, [LoraAdapter.create(ctx, config, { ...SETTINGS, targets: [...SETTINGS.targets] })]);
    const opt = new AdamW(ctx, DEFAULT_ADAMW);
    for (let s = 0; s < 3; s++) {
      const res = trainStep(model, opt, [d], 2e-2);
      ctx.release(...res.losses, ...(res.gradNorm ? [res.gradNorm] : []));
    }
    opt.dispose();
    const logitsOf = async () => {
      const tape = new Tape(ctx);
      const out = await ctx.readF32(model.forward(tape, d.ids, d.positions, B, T).value);
      tape.dispose();
      return out;
    };
    const trained = await logitsOf();
    const dir = mkdtempSync(join(tmpdir(), 'continual-lab-adapter-'));
    try {
      await savePeftAdapterDir(dir, config, model.adapters.adapters[0].settings, await model.adapters.adapters[0].toTensors(ctx));
      expect(readdirSync(dir).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
      const back = await loadPeftAdapterDir(dir, config);
      model.adapters.dispose(ctx);
      model.adapters = new AdapterPool(config, [LoraAdapter.fromTensors(ctx, config, back.settings, back.values)]);
      const reloaded = await logitsOf();
      expect(Buffer.from(reloaded.buffer).equals(Buffer.from(trained.buffer))).toBe(true);
      // The training did change the adapter: the base alone gives other logits.
      model.adapters.dispose(ctx);
      model.adapters = null;
      const base = await logitsOf();
      expect(Buffer.from(base.buffer).equals(Buffer.from(trained.buffer))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    model.dispose();
    ctx.release(d.ids, d.positions, d.targets, d.mask);
  });
});

// The cost of SEE's acceptance check, measured on the shipped base: one query asked of 8
// experts in one batched prefill (each row through its own expert) against one prefill of
// the same query through one expert, and against asking the 8 experts one after another.
// Also for a batch of queries (how scoring uses it). Printed by bench:cl.
import { Parameter, Tape } from '../src/autograd/tape';
import { promptIds, rightPadded } from '../src/eval/evaluate';
import type { GpuContext } from '../src/gpu/context';
import { matmul } from '../src/kernels/matmul';
import { AdapterPool } from '../src/model/adapterPool';
import { loadBaseModel } from '../src/model/baseModelNode';
import type { GptModel } from '../src/model/gpt';
import { LoraAdapter } from '../src/model/lora';
import { acceptanceProbabilities, checkRoom } from '../src/methods/seeCheck';
import { LORA_SETTING_SPECS } from '../src/methods/common';
import { byteTokenizer } from '../src/tokenizer/byteTokenizer';
import { normal, rng } from '../src/util/random';

const EXPERTS = 8;
const PROMPT = 'Capital of Australia?';

/** One prefill through one expert alone (as the answering pass runs): logits of the prompts' last tokens, read back. */
async function prefillOne(model: GptModel, pool: AdapterPool, prompts: string[], expert: number): Promise<void> {
  const { ctx } = model;
  pool.gating = { kind: 'one', adapter: expert };
  const room = checkRoom(model, 16);
  const { ids, positions: pos, last, B, T } = rightPadded(
    prompts.map((p) => promptIds(byteTokenizer, p, room).ids),
    byteTokenizer.specials.pad,
  );
  const [tI, tP, tL] = [ctx.upload(ids, [B, T], 'u32'), ctx.upload(pos, [B, T], 'u32'), ctx.upload(last, [B], 'u32')];
  const tape = new Tape(ctx);
  const xf = model.finalHidden(tape, tI, tP, B, T, tL);
  const logits = matmul(ctx, xf.value, model.params.get('transformer.wte.weight')!.value, { transB: true });
  tape.dispose();
  ctx.release(tI, tP, tL);
  await ctx.readF32(logits);
  ctx.release(logits);
}

async function timeIt(f: () => Promise<unknown>, repeats: number): Promise<number> {
  await f();
  const t0 = performance.now();
  for (let i = 0; i < repeats; i++) await f();
  return (performance.now() - t0) / repeats;
}

export async function seeCheckBench(ctx: GpuContext): Promise<string[]> {
  const { model } = await loadBaseModel(ctx);
  const pool = new AdapterPool(model.config);
  const r = rng(3);
  const targets = [...LORA_SETTING_SPECS.targets.default] as LoraAdapter['settings']['targets'];
  for (let e = 0; e < EXPERTS; e++) {
    const a = LoraAdapter.create(ctx, model.config, { rank: LORA_SETTING_SPECS.rank.default, alpha: LORA_SETTING_SPECS.alpha.default, targets, seed: e, dropout: 0 });
    for (const p of a.pairs.values()) ctx.write(p.B.value, normal(p.B.value.size, r, 0.01));
    pool.add(a);
  }
  model.adapters = pool;
  const markers = Array.from({ length: EXPERTS }, (_, e) => new Parameter(ctx.upload(normal(2 * model.config.n_embd, r, 0.1), [2, model.config.n_embd]), `m${e}`, false));
  const lines: string[] = [];
  try {
    for (const queries of [1, 16]) {
      const prompts = Array.from({ length: queries }, (_, i) => `${PROMPT}${' '.repeat(i % 3)}`);
      const repeats = queries === 1 ? 10 : 3;
      const check = await timeIt(() => acceptanceProbabilities(model, byteTokenizer, markers, prompts, 16, EXPERTS * queries), repeats);
      const one = await timeIt(() => prefillOne(model, pool, prompts, 0), repeats);
      const each = await timeIt(async () => {
        for (let e = 0; e < EXPERTS; e++) await prefillOne(model, pool, prompts, e);
      }, Math.max(1, Math.floor(repeats / 3)));
      const q = queries === 1 ? 'query' : `${queries} queries`;
      lines.push(
        `SEE acceptance check, ${q} x ${EXPERTS} experts in one batched prefill: ${check.toFixed(1)} ms; one prefill of the ${q} through one expert: ` +
          `${one.toFixed(1)} ms (${(check / one).toFixed(2)}x, goal <= 1.5x); the ${EXPERTS} experts asked one by one: ${each.toFixed(1)} ms`,
      );
    }
  } finally {
    for (const m of markers) ctx.release(m.value);
    model.adapters = null;
    pool.dispose(ctx);
    model.dispose();
  }
  return lines;
}

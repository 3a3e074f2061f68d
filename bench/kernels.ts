// Kernel benchmark page: matmul and LoRA throughput of our kernels against TensorFlow.js
// and jax-js, on the same adapter, in the same page and run.
//
// For every case and every implementation (each of our matmul variants, each peer): upload
// inputs of its own seed, run once, compare with the float64 CPU reference, and only if
// that passes, time it, in rounds across the case's implementations (see harness.ts). The
// result object lands in window.__benchResult, where scripts/bench-kernels.mjs picks it
// up; `?quick=1` runs tiny shapes once.
import { createBrowserContext } from '../src/gpu/browser';
import type { GpuContext } from '../src/gpu/context';
import { tuneMatmul, tunedVariant } from '../src/kernels/matmulTuning';
import type { Contender } from './contender';
import {
  compareOutputs,
  FULL_PLAN,
  isMeasured,
  QUICK_PLAN,
  runJobs,
  seedOf,
  type Failed,
  type Job,
  type Measured,
  type Outcome,
  type TimingPlan,
} from './harness';
import { createOurs } from './ours';
import { errorText, log, publishResult, round } from './page';
import { createJaxjs, createTfjs } from './peers';
import {
  checkIndex,
  LORA_OUTPUTS,
  loraFlops,
  loraRef,
  matmulRef,
  type LoraInputs,
  type LoraShape,
  type MatmulShape,
} from './reference';
import { rng, uniform } from '../src/util/random';

// ---------------------------------------------------------------- cases

interface MatmulCase extends MatmulShape {
  id: string;
  /** The operation in words, with the stored layout of B. */
  op: string;
}

interface LoraCase extends LoraShape {
  id: string;
  op: string;
}

function mm(id: string, m: number, k: number, n: number, transB = false): MatmulCase {
  const op = transB ? `x[${m},${k}] · W^T, W[${n},${k}]` : `[${m},${k}] x [${k},${n}]`;
  return { id, m, k, n, transB, op };
}

function lora(id: string, m: number, k: number, n: number, r: number, alpha: number): LoraCase {
  return { id, m, k, n, r, scale: alpha / r, op: `x[${m},${k}], W[${n},${k}], r=${r}, scale=${alpha / r}` };
}

// A small transformer step: 256 tokens, width C = 128, MLP 4C, a byte-level vocabulary of 261.
const T = 256;
const C = 128;
const FULL_MATMULS: MatmulCase[] = [
  mm('square.256', 256, 256, 256),
  mm('square.512', 512, 512, 512),
  mm('square.1024', 1024, 1024, 1024),
  mm('attn.qkv', T, C, 3 * C, true),
  mm('attn.proj', T, C, C),
  mm('mlp.up', T, C, 4 * C),
  mm('mlp.down', T, 4 * C, C),
  mm('lm_head', T, C, 261, true),
];
const FULL_LORAS: LoraCase[] = [lora('lora.q', T, C, C, 8, 16), lora('lora.qkv', T, C, 3 * C, 8, 16)];

// Awkward sizes so that edge tiles are exercised even in the smoke test.
const QUICK_MATMULS: MatmulCase[] = [mm('square.64', 64, 64, 64), mm('attn.qkv', 33, 24, 72, true)];
const QUICK_LORAS: LoraCase[] = [lora('lora.q', 33, 24, 40, 4, 8)];

// Check tolerance: error relative to the largest reference magnitude of each output.
const RTOL = 1e-4;

// ---------------------------------------------------------------- result types

interface Entry {
  best: string | null;
  variants: Record<string, Outcome>;
}



function roundAll(o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, round(v, 4)]));
}

// ---------------------------------------------------------------- measuring

function bestOf(variants: Record<string, Outcome>, faster: (a: Measured, b: Measured) => boolean): string | null {
  let best: string | null = null;
  for (const [name, o] of Object.entries(variants)) {
    if (isMeasured(o) && (best === null || faster(o, variants[best] as Measured))) best = name;
  }
  return best;
}

async function runMatmul(c: MatmulCase, contenders: Contender[], plan: TimingPlan) {
  const flops = 2 * c.m * c.n * c.k;
  const jobs: Job[] = [];
  const where: [string, string][] = [];
  for (const ct of contenders) {
    for (const v of ct.variants) {
      const label = v ? `${ct.lib}:${v}` : ct.lib;
      // Every implementation gets its own inputs, so a stale buffer holding another
      // implementation's correct answer cannot pass the check.
      const random = rng(seedOf(`${c.id}/${label}`));
      const a = uniform(c.m * c.k, random);
      const b = uniform(c.k * c.n, random);
      const index = checkIndex(c, random);
      const want = matmulRef(c, a, b, index);
      jobs.push({
        label: `${c.id} ${label}`,
        flops,
        prepare: () => ct.matmul(c, a, b, v),
        verify: (got) => compareOutputs(['C'], got, [want], [index], RTOL),
      });
      where.push([ct.lib, v || 'default']);
    }
  }
  const outcomes = await runJobs(jobs, plan, log);
  const results: Record<string, Entry> = {};
  for (const ct of contenders) {
    const variants: Record<string, Outcome> = {};
    where.forEach(([lib, v], i) => {
      if (lib === ct.lib) variants[v] = outcomes[i];
    });
    results[ct.lib] = { best: bestOf(variants, (x, y) => x.gflops > y.gflops), variants };
  }
  return { id: c.id, op: c.op, m: c.m, k: c.k, n: c.n, transB: c.transB, flops, results };
}

function loraInputs(s: LoraShape, seed: number): LoraInputs {
  const random = rng(seed);
  const { m, k, n, r } = s;
  return {
    x: uniform(m * k, random),
    W: uniform(n * k, random),
    A: uniform(r * k, random),
    B: uniform(n * r, random),
    dy: uniform(m * n, random),
  };
}

async function runLora(c: LoraCase, contenders: Contender[], plan: TimingPlan) {
  const flops = loraFlops(c);
  const pairFlops = 2 * 2 * c.m * c.k * c.n;
  const jobs: Job[] = [];
  const where: [lib: string, what: 'lora' | 'pair', variant: string][] = [];
  for (const ct of contenders) {
    for (const v of ct.variants) {
      const label = v ? `${ct.lib}:${v}` : ct.lib;
      const t = loraInputs(c, seedOf(`${c.id}/${label}/lora`));
      const want = loraRef(c, t);
      jobs.push({
        label: `${c.id} ${label} lora fwd+bwd`,
        flops,
        prepare: () => ct.lora(c, t, v),
        verify: (got) => compareOutputs(LORA_OUTPUTS, got, want, LORA_OUTPUTS.map(() => null), RTOL),
      });
      where.push([ct.lib, 'lora', v || 'default']);
      const tp = loraInputs(c, seedOf(`${c.id}/${label}/pair`));
      // With scale 0 the reference's y and dx are exactly x W^T and dy W.
      const wantPair = loraRef({ ...c, scale: 0 }, tp);
      jobs.push({
        label: `${c.id} ${label} x·W^T + dy·W`,
        flops: pairFlops,
        prepare: () => ct.pair(c, tp, v),
        verify: (got) => compareOutputs(['x·W^T', 'dy·W'], got, [wantPair[0], wantPair[1]], [null, null], RTOL),
      });
      where.push([ct.lib, 'pair', v || 'default']);
    }
  }
  const outcomes = await runJobs(jobs, plan, log);
  const results: Record<string, { lora: Entry; pair: Entry; lora_vs_pair: number | null; lora_vs_pair_by_variant: Record<string, number | null> }> = {};
  const faster = (x: Measured, y: Measured) => x.ms < y.ms;
  for (const ct of contenders) {
    const lo: Record<string, Outcome> = {};
    const pa: Record<string, Outcome> = {};
    where.forEach(([lib, what, v], i) => {
      if (lib === ct.lib) (what === 'lora' ? lo : pa)[v] = outcomes[i];
    });
    const bestLora = bestOf(lo, faster);
    const bestPair = bestOf(pa, faster);
    const msOf = (o: Outcome | undefined) => (isMeasured(o) ? o.ms : undefined);
    const byVariant: Record<string, number | null> = {};
    for (const v of Object.keys(lo)) byVariant[v] = ratio(msOf(lo[v]), msOf(pa[v]));
    results[ct.lib] = {
      lora: { best: bestLora, variants: lo },
      pair: { best: bestPair, variants: pa },
      // Best LoRA against the best plain pair, each with whichever variant suits it.
      lora_vs_pair: ratio(msOf(bestLora ? lo[bestLora] : undefined), msOf(bestPair ? pa[bestPair] : undefined)),
      lora_vs_pair_by_variant: byVariant,
    };
  }
  return { id: c.id, op: c.op, m: c.m, k: c.k, n: c.n, r: c.r, scale: c.scale, flops, pairFlops, results };
}

// ---------------------------------------------------------------- main

function ratio(ours: number | undefined, theirs: number | undefined): number | null {
  return ours && theirs ? round(ours / theirs, 4) : null;
}

async function tune(ctx: GpuContext, quick: boolean) {
  const t0 = performance.now();
  try {
    // The tuner's own choice is reported next to the per-shape winners measured below.
    const r = await tuneMatmul(ctx, quick ? { size: 64, reps: 1 } : {});
    return { ok: true, seconds: round((performance.now() - t0) / 1000), chosen: tunedVariant(ctx), gflops: roundAll(r.gflops) };
  } catch (e) {
    return { ok: false, error: errorText(e) };
  }
}

async function main(): Promise<unknown> {
  const params = new URLSearchParams(location.search);
  const quick = params.get('quick') === '1';
  // `?only=matmul` or `?only=lora` runs one group of cases (the tuner still runs first).
  const only = params.get('only');
  const runs = (group: 'matmul' | 'lora') => only === null || only === group;
  const plan = quick ? QUICK_PLAN : FULL_PLAN;
  const started = performance.now();
  const failures: string[] = [];

  const ctx = await createBrowserContext();
  const a = ctx.adapter;
  log(`adapter: ${a.vendor} / ${a.architecture} / ${a.description}${a.isSoftware ? ' (software)' : ''}`);

  const contenders: Contender[] = [createOurs(ctx)];
  const peers: Record<string, { adapter?: string; error?: string }> = {};
  for (const [lib, create] of [
    ['tfjs', createTfjs],
    ['jaxjs', createJaxjs],
  ] as const) {
    try {
      const ct = await create();
      contenders.push(ct);
      peers[lib] = { adapter: ct.adapterInfo() };
      log(`${lib}: ready on ${peers[lib].adapter}`);
    } catch (e) {
      peers[lib] = { error: errorText(e) };
      failures.push(`${lib} unavailable: ${errorText(e)}`);
      log(`${lib}: UNAVAILABLE ${errorText(e)}`);
    }
  }

  const tuning = await tune(ctx, quick);
  log(`tuneMatmul: ${JSON.stringify(tuning)}`);

  const matmuls = [];
  for (const c of runs('matmul') ? (quick ? QUICK_MATMULS : FULL_MATMULS) : []) {
    const r = await runMatmul(c, contenders, plan);
    const ours = r.results.ours;
    const best = ours.best ? (ours.variants[ours.best] as Measured) : undefined;
    const theirs = (lib: string) => {
      const e = r.results[lib];
      const o = e?.variants.default;
      return isMeasured(o) ? o.gflops : undefined;
    };
    matmuls.push({
      ...r,
      ours_best_variant: ours.best,
      ours_gflops: best?.gflops ?? null,
      ratio_vs_tfjs: ratio(best?.gflops, theirs('tfjs')),
      ratio_vs_jaxjs: ratio(best?.gflops, theirs('jaxjs')),
    });
  }

  const loras = [];
  for (const c of runs('lora') ? (quick ? QUICK_LORAS : FULL_LORAS) : []) {
    const r = await runLora(c, contenders, plan);
    const lo = (lib: string) => {
      const e = r.results[lib]?.lora;
      const o = e?.best ? e.variants[e.best] : undefined;
      return isMeasured(o) ? o.gflops : undefined;
    };
    const oursRatio = r.results.ours.lora_vs_pair;
    loras.push({
      ...r,
      ours_best_variant: r.results.ours.lora.best,
      ours_lora_vs_pair: oursRatio,
      target_lora_vs_pair: 1.3,
      meets_target: oursRatio !== null && oursRatio <= 1.3,
      ratio_vs_tfjs: ratio(lo('ours'), lo('tfjs')),
      ratio_vs_jaxjs: ratio(lo('ours'), lo('jaxjs')),
    });
  }

  // Every implementation must have passed its check: a wrong result is a failure even if fast.
  const collect = (id: string, lib: string, name: string, o: Outcome) => {
    if (!isMeasured(o)) failures.push(`${id} ${lib}${name ? `:${name}` : ''}: ${(o as Failed).error}`);
  };
  for (const r of matmuls) {
    for (const [lib, e] of Object.entries(r.results)) for (const [v, o] of Object.entries(e.variants)) collect(r.id, lib, v, o);
  }
  for (const r of loras) {
    for (const [lib, e] of Object.entries(r.results)) {
      for (const [v, o] of Object.entries(e.lora.variants)) collect(r.id, lib, `lora ${v}`, o);
      for (const [v, o] of Object.entries(e.pair.variants)) collect(r.id, lib, `pair ${v}`, o);
    }
  }

  const result = {
    ok: failures.length === 0,
    quick,
    only,
    adapter: { vendor: a.vendor, architecture: a.architecture, device: a.device, description: a.description, isSoftware: a.isSoftware },
    peers,
    userAgent: navigator.userAgent,
    crossOriginIsolated: globalThis.crossOriginIsolated ?? false,
    plan,
    rtol: RTOL,
    tuning,
    matmul: matmuls,
    lora: loras,
    failures,
    seconds: round((performance.now() - started) / 1000, 4),
    poolStats: ctx.poolStats(),
  };
  ctx.destroy();
  return result;
}

publishResult(main);

import { Parameter, Tape } from '../autograd/tape';
import type { Example } from '../data/examples';
import type { Task } from '../data/task';
import { predictAnswers, promptIds, rightPadded } from '../eval/evaluate';
import { scoreAll } from '../eval/metrics';
import { ShapeError } from '../gpu/errors';
import type { Routing } from '../kernels/topkRouting';
import { LORA_TARGETS } from '../model/lora';
import { encodeExamples, Trainer } from '../train/trainer';
import { normal, rng, seedFor } from '../util/random';
import { asTrainingExamples, LoraStack, stageTrainer } from './common';
import type { ContinualMethod, MethodDefinition, MethodEnv, MethodState, StagePlan } from './method';
import { resolveSettings, type Resolved, type SettingSpecs } from './settings';

const SPECS = {
  rank: { kind: 'number', default: 4, min: 1, max: 64, integer: true, doc: 'Rank of each sub-expert (a small LoRA pair per adapted projection).' },
  alpha: { kind: 'number', default: 32, min: 0.001, max: 4096, doc: 'Sub-expert alpha: each update is scaled by alpha / rank.' },
  targets: {
    kind: 'list',
    // The paper puts sub-experts in self-attention; on this base recall needs the MLP too
    // (README, MoSEs: capitals alone 0% with attention sub-experts, 21% with all four).
    default: ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'],
    choices: [...LORA_TARGETS],
    doc: 'Projections that hold a sub-expert pool and a router (whole projections; the paper puts them in self-attention, recall on this base needs the MLP too).',
  },
  expertsPerTask: { kind: 'number', default: 2, min: 1, max: 64, integer: true, doc: 'Sub-experts a task adds to the pool when reuse is not enough (m).' },
  topK: { kind: 'number', default: 2, min: 1, max: 16, integer: true, doc: 'Sub-experts each token uses (top k of the router softmax, renormalised).' },
  probeSteps: {
    kind: 'number',
    default: 30,
    min: 0,
    max: 10000,
    integer: true,
    doc: "Steps the new task's router trains alone over the frozen pool before the growth decision (part of the task's step budget).",
  },
  growLoss: {
    kind: 'number',
    default: 3,
    min: 0,
    max: 100,
    doc: "The task adds expertsPerTask sub-experts when the probe's loss (nats per answer token, mean of its last 5 steps) stays above this; 0 grows on every task.",
  },
  lr: { kind: 'number', default: 3e-3, min: 1e-7, max: 1, doc: 'Peak learning rate of routers and sub-experts (AdamW, warm-up then cosine to a tenth).' },
  weightDecay: { kind: 'number', default: 0, min: 0, max: 100, doc: 'Decoupled AdamW weight decay on the new sub-experts and router.' },
} as const satisfies SettingSpecs;

type MosesSettings = Resolved<typeof SPECS>;

/** Steps at the end of the probe whose mean loss decides growth. */
const PROBE_LOSS_STEPS = 5;

/** Per-token routing of one projection for one prompt: top-k sub-expert indices and gates per token. */
export interface ProjectionGates {
  projection: string;
  indices: number[][];
  gates: number[][];
}

interface TaskRecord {
  /** Pool size after the task (the capacity curve). */
  capacity: number;
  grew: boolean;
  probeLoss: number | null;
}

/**
 * MoSEs (Mixtures of SubExperts): in each adapted attention projection, a growing pool of
 * small LoRA sub-experts; each task has its own router that picks, per token, the top k of
 * the pool (earlier sub-experts included: transfer) and gates their outputs. A task's
 * router trains first alone over the frozen pool (the probe); if its loss stays above
 * growLoss the task adds expertsPerTask new sub-experts, else it reuses the pool. Earlier
 * sub-experts and routers are frozen, so with the task id (TIL) earlier tasks' outputs
 * cannot change. Without it (TaIL) the task is inferred first: the prompt's mean base-model
 * feature matched (cosine) against a key per task, the mean over its training prompts.
 */
export class Moses implements ContinualMethod {
  readonly id = 'moses';
  readonly stages = 'sequential' as const;
  private readonly stack: LoraStack;
  /** routers[t]: task t's router per adapted projection, [n_in, pool size when task t trained]. */
  private readonly routers: Map<string, Parameter>[] = [];
  /** keys[t]: task t's unit-norm mean base feature [n_embd]. */
  private keys: Float64Array[] = [];
  private growth: TaskRecord[] = [];
  /** R_til[t][j]: task j's score with its own router after task t (null for tasks not trained yet). */
  private tilRows: (number | null)[][] = [];
  /** Task-identification accuracy per task (percent) in the last scoring; null where the task has no key yet. */
  private taskIdRow: (number | null)[] = [];
  private stage = -1;
  private probe: { seconds: number; tokens: number } | null = null;

  constructor(
    readonly env: MethodEnv,
    readonly settings: MosesSettings,
  ) {
    this.stack = new LoraStack(env, settings);
  }

  get poolSize(): number {
    return this.stack.pool.size;
  }

  /** Tasks with a router (trained, or training now). */
  get tasksTrained(): number {
    return this.routers.length;
  }

  /** A router over the pool's first E sub-experts for every adapted projection. */
  private newRouter(t: number, E: number, from?: Map<string, Parameter>): Map<string, Parameter> {
    const { ctx } = this.env;
    const random = rng(seedFor(this.env.seed, `moses/router${t}/${E}`));
    const out = new Map<string, Parameter>();
    for (const name of this.stack.pool.projections()) {
      const nIn = this.inputWidth(name);
      const w = normal(nIn * E, random, 1 / Math.sqrt(nIn));
      const old = from?.get(name);
      const value = ctx.upload(w, [nIn, E], 'f32', `moses.router${t}.${name}`);
      if (old) {
        // Keep the probe's columns for the sub-experts it already scored.
        const Eo = old.value.shape[1];
        for (let i = 0; i < nIn; i++) ctx.copy(old.value, value, { srcOffset: i * Eo, dstOffset: i * E, count: Eo });
      }
      out.set(name, new Parameter(value, `router${t}.${name}`));
    }
    return out;
  }

  private inputWidth(projection: string): number {
    const c = this.env.model.config;
    return projection.endsWith('mlp.c_proj') ? 4 * c.n_embd : c.n_embd;
  }

  private addSubExperts(): void {
    for (let i = 0; i < this.settings.expertsPerTask; i++) this.stack.addAdapter(this.id);
  }

  private setRouter(t: number): void {
    this.stack.pool.gating = { kind: 'routed', routers: this.routers[t], topK: Math.min(this.settings.topK, this.routers[t].values().next().value!.value.shape[1]) };
  }

  async beginStage(t: number): Promise<StagePlan> {
    const { env } = this;
    this.stage = t;
    this.probe = null;
    const examples = asTrainingExamples(env.tasks[t].train);
    let steps = env.budget.steps;
    if (this.routers.length === t) {
      for (const p of this.stack.pool.parameters()) p.trainable = false;
      for (const r of this.routers) for (const p of r.values()) p.trainable = false;
      let grew = false;
      let probeLoss: number | null = null;
      const probeSteps = Math.min(this.settings.probeSteps, steps - 1);
      if (this.poolSize === 0 || this.settings.growLoss === 0 || probeSteps < 1) {
        this.addSubExperts();
        grew = true;
        this.routers.push(this.newRouter(t, this.poolSize));
      } else {
        this.routers.push(this.newRouter(t, this.poolSize));
        this.setRouter(t);
        const { pairs } = encodeExamples(env.tokenizer, examples, env.model.config.n_positions);
        const trainer = new Trainer(env.model, env.tokenizer, stageTrainer(env, `${this.id}/probe`, t, examples.length, this.settings, probeSteps));
        trainer.addParameters(this.routers[t].values());
        try {
          // One batch's loss is noisy: the decision reads the mean over the probe's last steps.
          const losses: number[] = [];
          const s = await trainer.train(pairs, { onStep: (r) => losses.push(r.loss) });
          const tail = losses.slice(-PROBE_LOSS_STEPS);
          probeLoss = tail.reduce((a, b) => a + b, 0) / tail.length;
          this.probe = { seconds: s.seconds, tokens: s.tokens };
        } finally {
          trainer.dispose();
        }
        steps -= probeSteps;
        if (probeLoss > this.settings.growLoss) {
          const probed = this.routers.pop()!;
          this.addSubExperts();
          grew = true;
          this.routers.push(this.newRouter(t, this.poolSize, probed));
          for (const p of probed.values()) env.ctx.release(p.value);
        }
      }
      this.growth[t] = { capacity: this.poolSize, grew, probeLoss };
    }
    this.setRouter(t);
    return { examples, trainer: stageTrainer(env, this.id, t, examples.length, this.settings, steps), pretrained: this.probe ?? undefined };
  }

  configureTrainer(trainer: Trainer, t: number): void {
    trainer.addParameters(this.routers[t].values());
  }

  async endStage(t: number): Promise<void> {
    const feats = await this.baseFeatures(this.env.tasks[t].train.map((e) => e.prompt));
    const key = new Float64Array(this.env.model.config.n_embd);
    for (const f of feats) for (let c = 0; c < key.length; c++) key[c] += f[c];
    this.keys[t] = unit(key);
  }

  /** Unit-norm mean final-LayerNorm feature of each prompt under the base model (no sub-experts). */
  private async baseFeatures(prompts: readonly string[]): Promise<Float64Array[]> {
    const { ctx, model, tokenizer } = this.env;
    const C = model.config.n_embd;
    const saved = model.adapters;
    model.adapters = null;
    const out: Float64Array[] = [];
    try {
      const batch = this.env.evalBatch ?? 64;
      for (let at = 0; at < prompts.length; at += batch) {
        const enc = prompts.slice(at, at + batch).map((p) => promptIds(tokenizer, p, model.config.n_positions).ids);
        const { ids, positions: pos, B, T } = rightPadded(enc, tokenizer.specials.pad);
        const tI = ctx.upload(ids, [B, T], 'u32', 'moses.ids');
        const tP = ctx.upload(pos, [B, T], 'u32', 'moses.positions');
        const tape = new Tape(ctx);
        let h: Float32Array;
        try {
          h = await ctx.readF32(model.finalHidden(tape, tI, tP, B, T).value);
        } finally {
          tape.dispose();
          ctx.release(tI, tP);
        }
        enc.forEach((e, b) => {
          const f = new Float64Array(C);
          // Skip the begin token: it is the same for every prompt.
          const from = e.length > 1 ? 1 : 0;
          for (let s = from; s < e.length; s++) for (let c = 0; c < C; c++) f[c] += h[(b * T + s) * C + c];
          out.push(unit(f));
        });
      }
    } finally {
      model.adapters = saved;
    }
    return out;
  }

  /** The task each prompt is inferred to belong to (the nearest key), among the tasks with a key. */
  async inferTasks(prompts: readonly string[]): Promise<number[]> {
    const known = this.keys.length;
    if (known === 0) return prompts.map(() => Math.max(0, this.routers.length - 1));
    const feats = await this.baseFeatures(prompts);
    return feats.map((f) => {
      let best = 0;
      let bestSim = -Infinity;
      for (let t = 0; t < known; t++) {
        let s = 0;
        for (let c = 0; c < f.length; c++) s += f[c] * this.keys[t][c];
        if (s > bestSim) [best, bestSim] = [t, s];
      }
      return best;
    });
  }

  /** Greedy answers with router t (the task id given). */
  async answerWith(t: number, prompts: readonly string[], maxAnswerTokens: number): Promise<string[]> {
    if (!Number.isInteger(t) || t < 0 || t >= this.routers.length) {
      throw new ShapeError('MoSEs', `task ${t} has no router (trained tasks: 0..${this.routers.length - 1})`);
    }
    const pool = this.stack.pool;
    const saved = pool.gating;
    try {
      this.setRouter(t);
      return (await predictAnswers(this.env.model, this.env.tokenizer, prompts, maxAnswerTokens, { batchSize: this.env.evalBatch })).answers;
    } finally {
      pool.gating = saved;
    }
  }

  /**
   * Task-agnostic answers (the transfer matrix R): each prompt through the router of its
   * inferred task. Alongside, for the tasks trained so far, the answers with the task's own
   * router (TIL), scored into R_til; where the inference is right they are the same answers.
   */
  async predict(examples: readonly Example[], task: Task, j: number): Promise<string[]> {
    const prompts = examples.map((e) => e.prompt);
    const refs = examples.map((e) => e.answer);
    const inferred = await this.inferTasks(prompts);
    const answers = new Array<string>(prompts.length);
    const trained = this.routers.length;
    const row = (this.tilRows[this.stage] ??= new Array<number | null>(this.env.tasks.length).fill(null));
    if (j < trained) {
      const til = await this.answerWith(j, prompts, task.maxAnswerTokens);
      row[j] = scoreAll(task.metric, til, refs);
      inferred.forEach((g, i) => g === j && (answers[i] = til[i]));
    }
    this.taskIdRow[j] = j < this.keys.length ? (100 * inferred.filter((g) => g === j).length) / Math.max(1, inferred.length) : null;
    for (const g of new Set(inferred)) {
      if (g === j && j < trained) continue;
      const idx = inferred.flatMap((x, i) => (x === g ? [i] : []));
      const got = await this.answerWith(g, idx.map((i) => prompts[i]), task.maxAnswerTokens);
      idx.forEach((i, k) => (answers[i] = got[k]));
    }
    return answers;
  }

  /** Per-token routing of every adapted projection for the prompts under router t, read back. */
  async gates(t: number, prompts: readonly string[]): Promise<{ tokens: number[][]; projections: ProjectionGates[][] }> {
    const { ctx, model, tokenizer } = this.env;
    if (!Number.isInteger(t) || t < 0 || t >= this.routers.length) {
      throw new ShapeError('MoSEs', `task ${t} has no router (trained tasks: 0..${this.routers.length - 1})`);
    }
    const enc = prompts.map((p) => promptIds(tokenizer, p, model.config.n_positions).ids);
    const { ids, positions: pos, B, T } = rightPadded(enc, tokenizer.specials.pad);
    const seen: { projection: string; routing: Routing }[] = [];
    const pool = this.stack.pool;
    const saved = pool.gating;
    const tI = ctx.upload(ids, [B, T], 'u32', 'moses.ids');
    const tP = ctx.upload(pos, [B, T], 'u32', 'moses.positions');
    const tape = new Tape(ctx);
    const read: { projection: string; indices: Uint32Array; gates: Float32Array; k: number }[] = [];
    try {
      this.setRouter(t);
      pool.gating = { ...(pool.gating as Extract<typeof pool.gating, { kind: 'routed' }>), onRouting: (projection, routing) => seen.push({ projection, routing }) };
      model.finalHidden(tape, tI, tP, B, T);
      for (const s of seen) {
        const [indices, gates] = await Promise.all([ctx.read(s.routing.indices), ctx.readF32(s.routing.gates)]);
        read.push({ projection: s.projection, indices: indices as Uint32Array, gates, k: s.routing.gates.shape[1] });
      }
    } finally {
      pool.gating = saved;
      tape.dispose();
      ctx.release(tI, tP);
    }
    const projections = enc.map((e, b) =>
      read.map((r) => ({
        projection: r.projection,
        indices: e.map((_, s) => Array.from(r.indices.subarray((b * T + s) * r.k, (b * T + s + 1) * r.k))),
        gates: e.map((_, s) => Array.from(r.gates.subarray((b * T + s) * r.k, (b * T + s + 1) * r.k))),
      })),
    );
    return { tokens: enc, projections };
  }

  /**
   * Records after a stage: R_til (rows after each task, task-id given), its OP and BWT,
   * task-identification accuracy, the capacity curve, the growth decisions, and the task x
   * sub-expert usage (share of gate mass over the test prompts' tokens, own router), and
   * which task each out-of-distribution task's prompts are inferred as.
   */
  async records(): Promise<Record<string, unknown>> {
    const n = this.env.tasks.length;
    const usage: number[][] = [];
    for (let j = 0; j < this.routers.length; j++) {
      const { projections } = await this.gates(j, this.env.tasks[j].test.map((e) => e.prompt));
      const mass = new Array<number>(this.poolSize).fill(0);
      for (const perPrompt of projections) for (const p of perPrompt) p.indices.forEach((ix, s) => ix.forEach((e, k) => (mass[e] += p.gates[s][k])));
      const total = mass.reduce((a, b) => a + b, 0) || 1;
      usage.push(mass.map((m) => Math.round((1e4 * m) / total) / 1e4));
    }
    // MoSEs has no way to decline a query: out-of-distribution prompts go to the nearest task.
    const oodInferred: Record<string, number[]> = {};
    for (const task of this.env.ood ?? []) {
      const counts = new Array<number>(this.keys.length).fill(0);
      for (const g of await this.inferTasks(task.test.map((e) => e.prompt))) counts[g]++;
      oodInferred[task.name] = counts;
    }
    const rows = this.tilRows;
    const last = rows[rows.length - 1];
    const done = rows.length === n && last?.every((v) => v !== null);
    const OP_til = done ? last!.reduce((a, b) => a + b!, 0) / n : null;
    const BWT_til = done && n > 1 ? Array.from({ length: n - 1 }, (_, i) => last![i]! - rows[i][i]!).reduce((a, b) => a + b, 0) / (n - 1) : null;
    return {
      R_til: rows,
      OP_til,
      BWT_til,
      taskId: this.taskIdRow,
      capacity: this.growth.map((r) => r.capacity),
      grew: this.growth.map((r) => r.grew),
      probeLoss: this.growth.map((r) => r.probeLoss),
      usage,
      oodInferred,
    };
  }

  parameterCounts() {
    const c = this.stack.counts();
    let { trainable, stored } = c;
    for (const r of this.routers) {
      for (const p of r.values()) {
        stored += p.value.size;
        if (p.trainable) trainable += p.value.size;
      }
    }
    return { trainable, stored: stored + this.keys.length * this.env.model.config.n_embd };
  }

  async saveState(): Promise<MethodState> {
    const tensors = await this.stack.save();
    for (const [t, r] of this.routers.entries()) for (const [name, p] of r) tensors.set(`router${t}.${name}`, await this.env.ctx.readF32(p.value));
    return { tensors, meta: { records: this.growth, tilRows: this.tilRows, keys: this.keys.map((k) => Array.from(k)) } };
  }

  loadState(state: MethodState, t: number): void {
    this.stack.load(state, this.id, 0);
    this.releaseRouters();
    const projections = this.stack.pool.projections();
    for (let s = 0; s <= t; s++) {
      const r = new Map<string, Parameter>();
      for (const name of projections) {
        const v = state.tensors.get(`router${s}.${name}`);
        const nIn = this.inputWidth(name);
        if (!v || v.length % nIn !== 0) throw new Error(`moses state: router${s}.${name} missing or of the wrong size`);
        r.set(name, new Parameter(this.env.ctx.upload(v, [nIn, v.length / nIn], 'f32', `moses.router${s}.${name}`), `router${s}.${name}`, false));
      }
      this.routers.push(r);
    }
    const meta = state.meta as { records: TaskRecord[]; tilRows: (number | null)[][]; keys: number[][] };
    this.growth = meta.records;
    this.tilRows = meta.tilRows;
    this.keys = meta.keys.map((k) => Float64Array.from(k));
    this.stage = t;
  }

  private releaseRouters(): void {
    for (const r of this.routers) for (const p of r.values()) this.env.ctx.release(p.value);
    this.routers.length = 0;
  }

  dispose(): void {
    this.releaseRouters();
    this.stack.dispose();
  }
}

function unit(v: Float64Array): Float64Array {
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n) || 1;
  for (let i = 0; i < v.length; i++) v[i] /= n;
  return v;
}

export const moses: MethodDefinition = {
  id: 'moses',
  summary: 'Small LoRA sub-experts in every projection with a top-k router per task, reusing earlier sub-experts; grows only when reuse is not enough.',
  stages: 'sequential',
  settings: SPECS,
  create: (env, given) => new Moses(env, resolveSettings('moses', SPECS, given)),
};

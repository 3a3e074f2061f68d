import { Parameter } from '../autograd/tape';
import { writeSafetensors } from '../checkpoint/safetensors';
import type { Example } from '../data/examples';
import type { Task } from '../data/task';
import { predictAnswers } from '../eval/evaluate';
import type { Trainer } from '../train/trainer';
import { rng, seedFor, shuffleInPlace } from '../util/random';
import { LORA_SETTING_SPECS, LoraStack, stageTrainer } from './common';
import type { ContinualMethod, ExportedAdapter, MethodDefinition, MethodEnv, MethodState, StagePlan, TrainingExample } from './method';
import { acceptanceProbabilities, handlerOf, markerIds } from './seeCheck';
import { foreignInstructions, nearMisses } from './seeNegatives';
import { resolveSettings, type Resolved, type SettingSpecs } from './settings';

const SPECS = {
  ...LORA_SETTING_SPECS,
  // The shared default (3) keeps one continued adapter plastic from task to task; an expert
  // is fresh and trains on one task only, so nothing needs undoing and decay only costs
  // recall (README, SEE).
  weightDecay: { ...LORA_SETTING_SPECS.weightDecay, default: 0, doc: "Decoupled AdamW weight decay on the new expert's matrices (0: each expert is fresh, so there is no plasticity to keep)." },
  tau: { kind: 'number', default: 0.5, min: 0, max: 1, doc: 'An expert answers when its P(<accept>) after the prompt exceeds tau.' },
  bufferPerTask: {
    kind: 'number',
    default: 24,
    min: 0,
    max: 100000,
    integer: true,
    doc: "Prompts of each finished task kept in the rehearsal buffer (a seeded sample): later experts learn to reject them.",
  },
  negativesRatio: {
    kind: 'number',
    default: 0.5,
    min: 0,
    max: 10,
    doc: "Reject examples (<reject><end> after a buffered earlier prompt) per accept example in an expert's training set.",
  },
  nearMissRatio: {
    kind: 'number',
    default: 0.125,
    min: 0,
    max: 10,
    doc: "Reject examples made from the task's own prompts with one instruction word swapped, per accept example: experts learn to accept only their own instruction, so unseen tasks reach the base.",
  },
  foreignRatio: {
    kind: 'number',
    default: 0.125,
    min: 0,
    max: 10,
    doc: "Reject examples that put the task's own subjects under an earlier task's instruction, per accept example: experts learn that their kind of subject is not enough.",
  },
} as const satisfies SettingSpecs;

type SeeSettings = Resolved<typeof SPECS>;

/** What SEE decided for one task's queries in the last scoring of that task. */
export interface SeeDecisions {
  /** The expert that answered each query (null: the base model). */
  handler: (number | null)[];
  /** acceptance[q][e]: expert e's P(<accept>) for query q. */
  acceptance: number[][];
}

/**
 * SEE (Sequential Ensemble of Experts): a new LoRA expert per task, each owning the
 * embedding rows of the accept/reject markers (so the markers are learnable with the base
 * frozen, and stored with the expert). Expert k trains on its task with `<accept>` before
 * the answer and on buffered earlier prompts with `<reject><end>`; the base and earlier
 * experts never change and there is no router. At inference the experts are asked newest
 * first, all in one batched check; the first that accepts answers, else the base does.
 */
export class See implements ContinualMethod {
  readonly id = 'see';
  readonly stages = 'sequential' as const;
  private readonly stack: LoraStack;
  private readonly markers: Parameter[] = [];
  private buffer: { task: number; prompt: string }[] = [];
  /** Decisions of the last scoring, per task name (the routing records). */
  readonly decisions = new Map<string, SeeDecisions>();
  /**
   * Acceptance of the experts that can no longer change (trained and their stage ended), per
   * prompt: a frozen expert gives the same probability for the same prompt at every later
   * stage, so scoring a stream asks it once per test prompt instead of once per stage.
   */
  private known = new Map<string, number[]>();
  /** Experts whose stage has ended (the first `finished` of the pool). */
  private finished = 0;
  private readonly ids: { accept: number; reject: number };

  constructor(
    readonly env: MethodEnv,
    readonly settings: SeeSettings,
  ) {
    this.ids = markerIds(env.tokenizer);
    this.stack = new LoraStack(env, settings);
  }

  get experts(): number {
    return this.stack.pool.size;
  }

  beginStage(t: number): StagePlan {
    const { env } = this;
    if (this.stack.pool.size === t) {
      // Earlier experts freeze here, not at their stage's end, so the counts after a stage say what trained in it.
      for (const p of this.stack.pool.parameters()) p.trainable = false;
      for (const m of this.markers) m.trainable = false;
      this.stack.addAdapter(this.id);
      this.markers.push(this.newMarkers(t));
    }
    this.stack.pool.gating = { kind: 'one', adapter: t };
    this.env.model.tokenRows = { ids: [this.ids.accept, this.ids.reject], rows: this.markers[t] };
    const task = env.tasks[t];
    const examples: TrainingExample[] = task.train.map((e) => ({ prompt: e.prompt, answer: e.answer, marker: 'accept' }));
    const wanted = Math.round(this.settings.negativesRatio * examples.length);
    if (this.buffer.length > 0 && wanted > 0) {
      // Drawn round-robin over the buffered tasks so each earlier task is rejected alike.
      const random = rng(seedFor(env.seed, `see/negatives${t}`));
      const byTask = new Map<number, string[]>();
      for (const b of this.buffer) (byTask.get(b.task) ?? byTask.set(b.task, []).get(b.task)!).push(b.prompt);
      const lists = [...byTask.values()].map((l) => shuffleInPlace([...l], random));
      for (let i = 0; i < wanted; i++) {
        const list = lists[i % lists.length];
        examples.push({ prompt: list[Math.floor(i / lists.length) % list.length], answer: '', marker: 'reject' });
      }
    }
    const misses = nearMisses(
      task.train.map((e) => e.prompt),
      Math.round(this.settings.nearMissRatio * task.train.length),
      rng(seedFor(env.seed, `see/nearMisses${t}`)),
    );
    for (const prompt of misses) examples.push({ prompt, answer: '', marker: 'reject' });
    const earlier = [...new Set(this.buffer.map((b) => b.task))].map((k) => this.buffer.filter((b) => b.task === k).map((b) => b.prompt));
    const foreign = foreignInstructions(
      task.train.map((e) => e.prompt),
      earlier,
      Math.round(this.settings.foreignRatio * task.train.length),
      rng(seedFor(env.seed, `see/foreign${t}`)),
    );
    for (const prompt of foreign) examples.push({ prompt, answer: '', marker: 'reject' });
    return { examples, trainer: stageTrainer(env, this.id, t, examples.length, this.settings) };
  }

  /** New marker rows, starting from the base's rows for the two markers. */
  private newMarkers(t: number): Parameter {
    const { ctx, model } = this.env;
    const C = model.config.n_embd;
    const rows = ctx.empty([2, C], 'f32', `see.expert${t}.markers`);
    const wte = model.params.get('transformer.wte.weight')!.value;
    ctx.copy(wte, rows, { srcOffset: this.ids.accept * C, dstOffset: 0, count: C });
    ctx.copy(wte, rows, { srcOffset: this.ids.reject * C, dstOffset: C, count: C });
    return new Parameter(rows, `see.expert${t}.markers`);
  }

  configureTrainer(trainer: Trainer, t: number): void {
    trainer.addParameters([this.markers[t]]);
  }

  endStage(t: number): void {
    const train = this.env.tasks[t].train;
    const sample = shuffleInPlace([...train], rng(seedFor(this.env.seed, `see/buffer${t}`))).slice(0, this.settings.bufferPerTask);
    this.buffer.push(...sample.map((e) => ({ task: t, prompt: e.prompt })));
    this.env.model.tokenRows = null;
    this.finished = t + 1;
  }

  /**
   * Each expert as a PEFT folder (`expert1-sentiment`, ...). PEFT's format has no place for
   * the expert's own `<accept>`/`<reject>` embedding rows, so they travel beside it in
   * marker_rows.safetensors (tensor `rows` [2, n_embd], the token ids in its metadata).
   */
  async exportAdapters(): Promise<ExportedAdapter[]> {
    const name = (i: number) => `expert${i + 1}-${this.env.tasks[i]?.name ?? i}`;
    const out = await this.stack.exportPeft(name);
    const C = this.env.model.config.n_embd;
    for (const [i, folder] of out.entries()) {
      const rows = await this.env.ctx.readF32(this.markers[i].value);
      const meta = { accept_id: String(this.ids.accept), reject_id: String(this.ids.reject), note: 'rows replace these ids in the input embedding and the tied LM head wherever this expert runs' };
      folder.files.set('marker_rows.safetensors', writeSafetensors([{ name: 'rows', shape: [2, C], data: rows }], meta));
    }
    return out;
  }

  /** Every expert's acceptance for each prompt, and who answers (the newest that accepts, else null: the base). */
  async route(prompts: readonly string[], maxAnswerTokens: number): Promise<SeeDecisions> {
    // Known per prompt and answer budget: the budget decides how much of a long prompt is read.
    const key = (p: string) => `${maxAnswerTokens}\u0000${p}`;
    const known = prompts.map((p) => this.known.get(key(p)) ?? []);
    const acceptance = await acceptanceProbabilities(
      this.env.model,
      this.env.tokenizer,
      this.markers,
      prompts,
      maxAnswerTokens,
      this.env.evalBatch,
      (q, e) => e >= this.finished || known[q][e] === undefined,
    );
    acceptance.forEach((a, q) => {
      for (let e = 0; e < a.length; e++) if (Number.isNaN(a[e])) a[e] = known[q][e];
      if (this.finished > 0) this.known.set(key(prompts[q]), a.slice(0, this.finished));
    });
    return { acceptance, handler: acceptance.map((a) => handlerOf(a, this.settings.tau)) };
  }

  /** Answers of the routed prompts: each handler's queries in one generation pass, the accept marker fed first. */
  async answer(prompts: readonly string[], handler: readonly (number | null)[], maxAnswerTokens: number): Promise<string[]> {
    const { model, tokenizer } = this.env;
    const pool = this.stack.pool;
    const saved = { gating: pool.gating, tokenRows: model.tokenRows };
    const answers = new Array<string>(prompts.length);
    try {
      for (const h of new Set(handler)) {
        const idx = handler.flatMap((x, i) => (x === h ? [i] : []));
        pool.gating = { kind: 'one', adapter: h };
        model.tokenRows = h === null ? null : { ids: [this.ids.accept, this.ids.reject], rows: this.markers[h] };
        const { answers: got } = await predictAnswers(
          model,
          tokenizer,
          idx.map((i) => prompts[i]),
          maxAnswerTokens,
          { batchSize: this.env.evalBatch, afterPrompt: h === null ? [] : [this.ids.accept] },
        );
        idx.forEach((i, k) => (answers[i] = got[k]));
      }
    } finally {
      pool.gating = saved.gating;
      model.tokenRows = saved.tokenRows;
    }
    return answers;
  }

  async predict(examples: readonly Example[], task: Task): Promise<string[]> {
    const prompts = examples.map((e) => e.prompt);
    const d = await this.route(prompts, task.maxAnswerTokens);
    this.decisions.set(task.name, d);
    return this.answer(prompts, d.handler, task.maxAnswerTokens);
  }

  /**
   * The routing records after the last scoring: per task, who handled each query and every
   * expert's acceptance; the confusion matrix (true task x handler, the base last); and the
   * share of each out-of-distribution task's queries that every expert rejected.
   */
  async records(): Promise<Record<string, unknown>> {
    const K = this.experts;
    const confusion: Record<string, number[]> = {};
    const acceptance: Record<string, number[][]> = {};
    const handled: Record<string, (number | null)[]> = {};
    for (const task of this.env.tasks) {
      const d = this.decisions.get(task.name);
      if (!d) continue;
      confusion[task.name] = handlerCounts(d.handler, K);
      acceptance[task.name] = d.acceptance.map((a) => a.map((p) => Math.round(p * 1e4) / 1e4));
      handled[task.name] = d.handler;
    }
    const oodRejection: Record<string, number> = {};
    const oodHandled: Record<string, number[]> = {};
    for (const task of this.env.ood ?? []) {
      const d = await this.route(task.test.map((e) => e.prompt), task.maxAnswerTokens);
      oodRejection[task.name] = (100 * d.handler.filter((h) => h === null).length) / Math.max(1, d.handler.length);
      oodHandled[task.name] = handlerCounts(d.handler, K);
    }
    return {
      routing: {
        experts: K,
        handlers: [...Array.from({ length: K }, (_, e) => this.env.tasks[e]?.name ?? `expert ${e}`), 'base'],
        confusion,
        handled,
        acceptance,
        oodRejection,
        oodHandled,
      },
    };
  }

  parameterCounts() {
    const c = this.stack.counts();
    let trainable = c.trainable;
    let stored = c.stored;
    for (const m of this.markers) {
      stored += m.value.size;
      if (m.trainable) trainable += m.value.size;
    }
    return { trainable, stored };
  }

  async saveState(): Promise<MethodState> {
    const tensors = await this.stack.save();
    for (const [e, m] of this.markers.entries()) tensors.set(`expert${e}.markers`, await this.env.ctx.readF32(m.value));
    return { tensors, meta: { buffer: this.buffer, known: [...this.known] } };
  }

  loadState(state: MethodState): void {
    this.stack.load(state, this.id, 0);
    for (const m of this.markers) this.env.ctx.release(m.value);
    this.markers.length = 0;
    const C = this.env.model.config.n_embd;
    for (let e = 0; e < this.stack.pool.size; e++) {
      const v = state.tensors.get(`expert${e}.markers`);
      if (!v || v.length !== 2 * C) throw new Error(`see state: expert${e}.markers missing or of the wrong size`);
      this.markers.push(new Parameter(this.env.ctx.upload(v, [2, C], 'f32', `see.expert${e}.markers`), `see.expert${e}.markers`, false));
    }
    const meta = state.meta as { buffer: { task: number; prompt: string }[]; known?: [string, number[]][] };
    this.buffer = meta.buffer.map((b) => ({ task: b.task, prompt: b.prompt }));
    this.known = new Map(meta.known ?? []);
    this.finished = this.stack.pool.size;
  }

  dispose(): void {
    for (const m of this.markers) this.env.ctx.release(m.value);
    this.markers.length = 0;
    this.env.model.tokenRows = null;
    this.stack.dispose();
  }
}

/** Queries handled by each of K experts, then by the base (a row of the confusion matrix). */
function handlerCounts(handler: readonly (number | null)[], K: number): number[] {
  const row = new Array<number>(K + 1).fill(0);
  for (const h of handler) row[h === null ? K : h]++;
  return row;
}

export const see: MethodDefinition = {
  id: 'see',
  summary: 'A new LoRA expert per task that decides itself whether to answer (no router); unanswered queries go to the base.',
  stages: 'sequential',
  settings: SPECS,
  create: (env, given) => new See(env, resolveSettings('see', SPECS, given)),
};

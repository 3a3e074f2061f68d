import { Parameter } from '../autograd/tape';
import type { GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import { rng, uniform } from '../util/random';
import type { GptConfig } from './config';

/** Projections LoRA can attach to, by their GPT-2 module names inside a block. */
export const LORA_TARGETS = ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'] as const;
export type LoraModule = (typeof LORA_TARGETS)[number];

/**
 * Column slices of GPT-2's fused qkv projection: a pair on `attn.c_attn.q` changes only the
 * query columns of c_attn's output. TRACE puts LoRA on the query and value projections
 * (`['attn.c_attn.q', 'attn.c_attn.v']` here), which GPT-2 keeps inside one Conv1D.
 */
export const LORA_SLICE_TARGETS = ['attn.c_attn.q', 'attn.c_attn.k', 'attn.c_attn.v'] as const;
export type LoraSliceTarget = (typeof LORA_SLICE_TARGETS)[number];
export type LoraTarget = LoraModule | LoraSliceTarget;

export function isLoraTarget(t: unknown): t is LoraTarget {
  return (LORA_TARGETS as readonly unknown[]).includes(t) || (LORA_SLICE_TARGETS as readonly unknown[]).includes(t);
}

/** The module a target adapts (a slice's fused projection). */
export function targetModule(t: LoraTarget): LoraModule {
  return t.startsWith('attn.c_attn.') ? 'attn.c_attn' : (t as LoraModule);
}

/** First output column of the module that a target writes (0 unless a q/k/v slice). */
export function targetColumn(config: GptConfig, t: LoraTarget): number {
  const slice = ['attn.c_attn.q', 'attn.c_attn.k', 'attn.c_attn.v'].indexOf(t);
  return slice < 0 ? 0 : slice * config.n_embd;
}

export interface LoraSettings {
  rank: number;
  alpha: number;
  /** Module names inside each block; GPT-2's fused qkv projection by default. */
  targets: readonly LoraTarget[];
  seed: number;
  /** Dropout on the low-rank branch's input while training (PEFT's lora_dropout); 0 = off. */
  dropout?: number;
}

/** PEFT's defaults for rank and alpha's ratio; dropout off, as in PEFT's LoraConfig. */
export const DEFAULT_LORA: LoraSettings = { rank: 8, alpha: 16, targets: ['attn.c_attn'], seed: 0, dropout: 0 };

/**
 * A set of LoRA pairs, one per targeted projection of every block, stored apart from the
 * base weights (PEFT's layout: A [r, in], B [out, r], B = 0 at initialisation so a new
 * adapter leaves the model's outputs unchanged).
 */
export class LoraAdapter {
  private constructor(
    readonly settings: LoraSettings,
    /** Keyed by the projection's full name, e.g. "transformer.h.0.attn.c_attn". */
    readonly pairs: Map<string, LoraPairParams>,
  ) {}

  /** A new adapter: PEFT's initialisation, A ~ U(-1/sqrt(in), 1/sqrt(in)) from the seed, B = 0. */
  static create(ctx: GpuContext, config: GptConfig, settings: LoraSettings): LoraAdapter {
    validateLoraSettings(settings);
    const random = rng(settings.seed);
    const values = new Map<string, LoraValues>();
    for (const [name, t] of loraProjections(config, settings.targets)) {
      const [fanIn, fanOut] = loraDims(config, t);
      const bound = 1 / Math.sqrt(fanIn);
      values.set(name, { A: uniform(settings.rank * fanIn, random, -bound, bound), B: new Float32Array(fanOut * settings.rank) });
    }
    return LoraAdapter.fromTensors(ctx, config, settings, values);
  }

  /** An adapter with given values (an imported file, say), keyed by projection name. */
  static fromTensors(ctx: GpuContext, config: GptConfig, settings: LoraSettings, values: ReadonlyMap<string, LoraValues>): LoraAdapter {
    validateLoraSettings(settings);
    const { rank } = settings;
    const pairs = new Map<string, LoraPairParams>();
    for (const [name, t] of loraProjections(config, settings.targets)) {
      const v = values.get(name);
      const [fanIn, fanOut] = loraDims(config, t);
      if (!v) throw new ShapeError('LoRA', `no values for ${name}`);
      if (v.A.length !== rank * fanIn) throw new ShapeError('LoRA', `${name}.lora_A has ${v.A.length} values, expected [${rank}, ${fanIn}]`);
      if (v.B.length !== fanOut * rank) throw new ShapeError('LoRA', `${name}.lora_B has ${v.B.length} values, expected [${fanOut}, ${rank}]`);
      const A = new Parameter(ctx.upload(v.A, [rank, fanIn]), `${name}.lora_A`);
      const B = new Parameter(ctx.upload(v.B, [fanOut, rank]), `${name}.lora_B`);
      pairs.set(name, { A, B });
    }
    return new LoraAdapter(settings, pairs);
  }

  /** alpha / r: the factor of every pair's B A. */
  get scale(): number {
    return this.settings.alpha / this.settings.rank;
  }

  /** Reads the current A and B of every pair back from the GPU (for export). */
  async toTensors(ctx: GpuContext): Promise<Map<string, LoraValues>> {
    const out = new Map<string, LoraValues>();
    for (const [name, p] of this.pairs) out.set(name, { A: await ctx.readF32(p.A.value), B: await ctx.readF32(p.B.value) });
    return out;
  }

  parameters(): Parameter[] {
    return [...this.pairs.values()].flatMap((p) => [p.A, p.B]);
  }

  dispose(ctx: GpuContext): void {
    for (const p of this.parameters()) {
      ctx.release(p.value);
      if (p.grad) ctx.release(p.grad);
      p.grad = null;
    }
    this.pairs.clear();
  }
}

/** One pair's parameters on the GPU: A [r, in], B [out, r]; delta W = (alpha / r) (B A)^T. */
export interface LoraPairParams {
  A: Parameter;
  B: Parameter;
}

/** One pair's values: A [r, in] and B [out, r], row-major (PEFT's lora_A / lora_B weights). */
export interface LoraValues {
  A: Float32Array;
  B: Float32Array;
}

export function validateLoraSettings(settings: LoraSettings): void {
  const { rank, alpha } = settings;
  if (!Number.isInteger(rank) || rank < 1) throw new ShapeError('LoRA', `rank must be a positive integer, got ${rank}`);
  if (!(alpha > 0)) throw new ShapeError('LoRA', `alpha must be > 0, got ${alpha}`);
  const dropout = settings.dropout ?? 0;
  if (!(dropout >= 0 && dropout < 1)) throw new ShapeError('LoRA', `dropout must be in [0, 1), got ${dropout}`);
  if (settings.targets.length === 0) throw new ShapeError('LoRA', 'no target projections');
  for (const t of settings.targets) {
    if (!isLoraTarget(t)) {
      throw new ShapeError('LoRA', `unknown target "${t}" (known: ${[...LORA_TARGETS, ...LORA_SLICE_TARGETS].join(', ')})`);
    }
  }
  if (new Set(settings.targets).size !== settings.targets.length) {
    throw new ShapeError('LoRA', `targets list a projection twice: ${settings.targets.join(', ')}`);
  }
  if (settings.targets.includes('attn.c_attn') && settings.targets.some((t) => t.startsWith('attn.c_attn.'))) {
    throw new ShapeError('LoRA', 'targets overlap: attn.c_attn already covers its q, k and v slices');
  }
}

/** [in, out] of a target (GPT-2 Conv1D layout; a q/k/v slice has n_embd outputs). */
export function loraDims(config: GptConfig, target: LoraTarget): [number, number] {
  const d = config.n_embd;
  const h = config.n_inner ?? 4 * d;
  const dims: Record<LoraModule, [number, number]> = {
    'attn.c_attn': [d, 3 * d],
    'attn.c_proj': [d, d],
    'mlp.c_fc': [d, h],
    'mlp.c_proj': [h, d],
  };
  return target === targetModule(target) ? dims[target as LoraModule] : [d, d];
}

/**
 * (pair name, target) for every block, in model order. A pair is named after its projection
 * ("transformer.h.0.attn.c_attn"), a slice's pair after the slice ("...attn.c_attn.q").
 */
export function loraProjections(config: GptConfig, targets: readonly LoraTarget[]): [string, LoraTarget][] {
  const out: [string, LoraTarget][] = [];
  for (let i = 0; i < config.n_layer; i++) for (const t of targets) out.push([`transformer.h.${i}.${t}`, t]);
  return out;
}

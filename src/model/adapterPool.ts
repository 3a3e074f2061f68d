import { MergedWeights, type PoolPair, type ProjectionPool, type Slots } from '../autograd/adapterOps';
import type { Parameter } from '../autograd/tape';
import type { GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import { NO_ADAPTER } from '../kernels/multiLora';
import type { Routing } from '../kernels/topkRouting';
import type { GptConfig } from './config';
import { loraProjections, targetColumn, targetModule, type LoraAdapter, type LoraSettings } from './lora';

/**
 * How the pool's adapters combine in a forward pass (DESIGN.md, "Adapters compose"):
 * - `all`: every adapter at weight 1. One adapter is plain LoRA; O-LoRA keeps its frozen
 *   earlier adapters in the pool beside the one it trains.
 * - `one`: adapter `adapter` alone (null: the base model), on the fused kernels of a pool
 *   of one: SEE trains its newest expert and answers with the one that accepted.
 * - `perRow`: batch row b goes through adapter adapterOfRow[b] alone, or the base model
 *   when it is null: SEE asks all its experts in one batched prefill.
 * - `routed`: per token, a router per projection chooses the top k adapters with softmax
 *   gates (MoSEs: adapters are sub-experts, one router per task). `routers` maps every
 *   adapted projection's name ("transformer.h.0.attn.c_attn") to its router weight
 *   [n_in, E'], which scores the pool's first E' adapters; `onRouting` sees each
 *   projection's indices and gates (GPU tensors owned by the forward's tape).
 */
export type Gating =
  | { kind: 'all' }
  | { kind: 'one'; adapter: number | null }
  | { kind: 'perRow'; adapterOfRow: readonly (number | null)[] }
  | { kind: 'routed'; routers: ReadonlyMap<string, Parameter>; topK: number; onRouting?: (projection: string, routing: Routing) => void };

/**
 * An ordered pool of LoRA adapters that share targets, rank, alpha and dropout, applied to
 * the model through one autograd op (adaptedLinear). Adapters keep their own parameters
 * (so each can be frozen, trained, saved in PEFT's format or dropped on its own); the pool
 * only says how they combine. It owns the adapters it holds.
 */
export class AdapterPool {
  private readonly list: LoraAdapter[] = [];
  /** Base weights with the frozen adapters merged in, for `all` gating (adaptedLinear). */
  private readonly merged = new MergedWeights();
  gating: Gating = { kind: 'all' };

  constructor(
    readonly config: GptConfig,
    adapters: readonly LoraAdapter[] = [],
  ) {
    for (const a of adapters) this.add(a);
  }

  get adapters(): readonly LoraAdapter[] {
    return this.list;
  }

  get size(): number {
    return this.list.length;
  }

  /** The settings every adapter of the pool shares (those of the first one added). */
  get settings(): LoraSettings | null {
    return this.list[0]?.settings ?? null;
  }

  /** Appends an adapter; returns its index. It must match the pool's targets, rank, alpha and dropout. */
  add(adapter: LoraAdapter): number {
    const s = this.settings;
    if (s) {
      const a = adapter.settings;
      const same = (x: readonly string[], y: readonly string[]) => x.length === y.length && x.every((t, i) => t === y[i]);
      if (a.rank !== s.rank || a.alpha !== s.alpha || (a.dropout ?? 0) !== (s.dropout ?? 0) || !same(a.targets, s.targets)) {
        throw new ShapeError(
          'AdapterPool',
          `adapter (rank ${a.rank}, alpha ${a.alpha}, dropout ${a.dropout ?? 0}, targets ${a.targets.join(', ')}) does not match the pool ` +
            `(rank ${s.rank}, alpha ${s.alpha}, dropout ${s.dropout ?? 0}, targets ${s.targets.join(', ')})`,
        );
      }
    }
    if (this.list.includes(adapter)) throw new ShapeError('AdapterPool', 'this adapter is already in the pool');
    this.list.push(adapter);
    return this.list.length - 1;
  }

  /** Every adapter's parameters (frozen or not). */
  parameters(): Parameter[] {
    return this.list.flatMap((a) => a.parameters());
  }

  /** Names of the projections the pool adapts, in model order. */
  projections(): string[] {
    const s = this.settings;
    if (!s) return [];
    const names = loraProjections(this.config, s.targets).map(([name, t]) => name.slice(0, name.length - t.length) + targetModule(t));
    return [...new Set(names)];
  }

  /** The pairs on one projection ("transformer.h.0.attn.c_attn"), or null when it is not adapted. */
  projection(name: string): ProjectionPool | null {
    const s = this.settings;
    if (!s) return null;
    const prefix = /^transformer\.h\.\d+\./.exec(name)?.[0];
    if (!prefix) return null;
    const module = name.slice(prefix.length);
    const targets = s.targets.filter((t) => targetModule(t) === module);
    if (targets.length === 0) return null;
    const g = this.gating;
    if (g.kind === 'one' && g.adapter !== null && !(Number.isInteger(g.adapter) && g.adapter >= 0 && g.adapter < this.size)) {
      throw new ShapeError('AdapterPool', `gating.adapter = ${g.adapter} is not an adapter of the pool (0..${this.size - 1}) nor null (the base)`);
    }
    if (g.kind === 'one' && g.adapter === null) return null;
    const considered = g.kind === 'one' && g.adapter !== null ? [this.list[g.adapter]] : this.list;
    const pairs: PoolPair[][] = considered.map((a) =>
      targets.map((t) => {
        const p = a.pairs.get(prefix + t);
        if (!p) throw new ShapeError('AdapterPool', `adapter has no pair ${prefix + t}`);
        return { A: p.A, B: p.B, column: targetColumn(this.config, t) };
      }),
    );
    return { pairs, scale: s.alpha / s.rank, dropout: s.dropout ?? 0, merged: this.merged };
  }

  /**
   * The gates of this pool's `gating` for one projection of a forward pass over B rows of
   * T tokens. Throws a ShapeError naming the setting when the gating does not fit.
   */
  slots(projection: string, B: number, T: number): Slots {
    const g = this.gating;
    if (g.kind === 'all' || g.kind === 'one') return { kind: 'all' };
    if (g.kind === 'perRow') {
      if (g.adapterOfRow.length !== B) {
        throw new ShapeError('AdapterPool', `gating.adapterOfRow has ${g.adapterOfRow.length} entries for a batch of ${B} rows`);
      }
      const adapterOfToken = new Uint32Array(B * T);
      g.adapterOfRow.forEach((e, b) => {
        if (e !== null && !(Number.isInteger(e) && e >= 0 && e < this.size)) {
          throw new ShapeError('AdapterPool', `gating.adapterOfRow[${b}] = ${e} is not an adapter of the pool (0..${this.size - 1}) nor null (the base)`);
        }
        adapterOfToken.fill(e === null ? NO_ADAPTER : e, b * T, (b + 1) * T);
      });
      return { kind: 'perToken', adapterOfToken };
    }
    const router = g.routers.get(projection);
    if (!router) throw new ShapeError('AdapterPool', `gating.routers has no router for ${projection}`);
    const onRouting = g.onRouting;
    return { kind: 'routed', router, topK: g.topK, onRouting: onRouting && ((r) => onRouting(projection, r)) };
  }

  /** Removes an adapter (and frees it); indices of later adapters shift down by one. */
  remove(ctx: GpuContext, index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.size) {
      throw new ShapeError('AdapterPool', `index ${index} is outside the pool (0..${this.size - 1})`);
    }
    const [a] = this.list.splice(index, 1);
    a.dispose(ctx);
    this.merged.dispose(ctx);
  }

  dispose(ctx: GpuContext): void {
    this.merged.dispose(ctx);
    for (const a of this.list) a.dispose(ctx);
    this.list.length = 0;
  }
}

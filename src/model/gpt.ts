import { adaptedLinear } from '../autograd/adapterOps';
import { add, gelu, layerNorm, linear } from '../autograd/ops';
import { Parameter, Tape, type Variable } from '../autograd/tape';
import { causalSelfAttention, embed, linearTransposed, replaceRows, selectRows } from '../autograd/transformerOps';
import { expectedGpt2Tensors } from '../checkpoint/gpt2Checkpoint';
import type { GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import type { GpuTensor } from '../gpu/tensor';
import { appendKv, attentionDecode } from '../kernels/attentionDecode';
import { expectDType, expectRank } from '../kernels/check';
import { embedding } from '../kernels/embedding';
import { matmul } from '../kernels/matmul';
import { normal, rng } from '../util/random';
import { type GptConfig } from './config';
import type { KvCache } from './kvCache';
import type { AdapterPool } from './adapterPool';

/**
 * GPT-2 (pre-LayerNorm blocks, learned positions, tanh-GELU MLP, tied input/output
 * embeddings) on the GPU, any size from its config. Parameters carry Hugging Face's names
 * and layouts (Conv1D weights [in, out]), so checkpoints map one to one.
 */
export class GptModel {
  readonly params: Map<string, Parameter>;
  /**
   * The adapters applied in forward and generation, if any (owned by the caller): a pool of
   * LoRA adapters combined as its gating says (one LoRA is a pool of one).
   */
  adapters: AdapterPool | null = null;
  /**
   * Embedding rows that replace the table's rows `ids` in forward and generation, input and
   * tied head alike (owned by the caller): a SEE expert's own accept/reject marker rows.
   */
  tokenRows: { ids: readonly number[]; rows: Parameter } | null = null;

  private constructor(
    readonly ctx: GpuContext,
    readonly config: GptConfig,
    params: Map<string, Parameter>,
  ) {
    this.params = params;
  }

  /** Uploads weights given by Hugging Face name (as a checkpoint loader returns them). */
  static fromTensors(ctx: GpuContext, config: GptConfig, tensors: ReadonlyMap<string, Float32Array>): GptModel {
    if (!config.tie_word_embeddings) {
      throw new ShapeError('GptModel', 'untied input/output embeddings (tie_word_embeddings: false) are not supported');
    }
    const params = new Map<string, Parameter>();
    for (const spec of expectedGpt2Tensors(config)) {
      const data = tensors.get(spec.name);
      if (!data) throw new ShapeError('GptModel', `missing tensor ${spec.name} ${spec.dims}`);
      params.set(spec.name, new Parameter(ctx.upload(data, spec.shape, 'f32', spec.name), spec.name));
    }
    return new GptModel(ctx, config, params);
  }

  /**
   * GPT-2's initialisation: weights N(0, initializer_range), residual output projections
   * scaled by 1/sqrt(2 n_layer), LayerNorm gains 1, biases 0. Deterministic from the seed.
   */
  static init(ctx: GpuContext, config: GptConfig, seed: number): GptModel {
    const random = rng(seed);
    const tensors = new Map<string, Float32Array>();
    for (const spec of expectedGpt2Tensors(config)) {
      const n = spec.shape.reduce((a, d) => a * d, 1);
      const leaf = spec.name.split('.').slice(-2).join('.');
      let data: Float32Array;
      if (/^ln_\w+\.weight$/.test(leaf)) data = new Float32Array(n).fill(1);
      else if (spec.name.endsWith('.bias')) data = new Float32Array(n);
      else {
        const residual = /c_proj\.weight$/.test(spec.name);
        data = normal(n, random, config.initializer_range / (residual ? Math.sqrt(2 * config.n_layer) : 1));
      }
      tensors.set(spec.name, data);
    }
    return GptModel.fromTensors(ctx, config, tensors);
  }

  p(name: string): Parameter {
    const v = this.params.get(`transformer.${name}`);
    if (!v) throw new Error(`GptModel: no parameter transformer.${name}`);
    return v;
  }

  /**
   * Logits [B*T, vocab] for token ids (u32 [B, T]) at positions (u32 [B, T], usually
   * 0..T-1 per row); with `rows` (u32 [L], indices b*T + t) only those positions' logits
   * [L, vocab]: the final LayerNorm and the LM head skip the rest. Every op is recorded on
   * the tape for backward.
   */
  forward(tape: Tape, ids: GpuTensor, positions: GpuTensor, B: number, T: number, rows?: GpuTensor): Variable {
    const wte = this.tokenTable(tape);
    return linearTransposed(tape, this.finalHidden(tape, ids, positions, B, T, rows, wte), wte);
  }

  /**
   * The final LayerNorm's output [B*T, n_embd] (or [L, n_embd] at `rows`), before the LM
   * head: what forward multiplies by the token table. A caller that scores a few tokens
   * against several tables (SEE's experts' marker rows) reads this once.
   */
  finalHidden(tape: Tape, ids: GpuTensor, positions: GpuTensor, B: number, T: number, rows?: GpuTensor, wte: Variable = this.tokenTable(tape)): Variable {
    const c = this.config;
    if (T > c.n_positions) {
      throw new ShapeError('GptModel', `sequence length ${T} exceeds n_positions ${c.n_positions}; truncate the input first`);
    }
    let x = embed(tape, ids, positions, wte, this.p('wpe.weight'));
    for (let i = 0; i < c.n_layer; i++) {
      const h = (n: string) => this.p(`h.${i}.${n}`);
      const ln1 = layerNorm(tape, x, h('ln_1.weight'), h('ln_1.bias'), c.layer_norm_epsilon);
      const proj = (input: Variable, module: string) => this.projection(tape, input, i, module, B, T);
      const qkv = proj(ln1, 'attn.c_attn');
      const att = causalSelfAttention(tape, qkv, B, T, c.n_head);
      x = add(tape, x, proj(att, 'attn.c_proj'));
      const ln2 = layerNorm(tape, x, h('ln_2.weight'), h('ln_2.bias'), c.layer_norm_epsilon);
      const up = gelu(tape, proj(ln2, 'mlp.c_fc'));
      x = add(tape, x, proj(up, 'mlp.c_proj'));
    }
    const picked = rows ? selectRows(tape, x, rows) : x;
    return layerNorm(tape, picked, this.p('ln_f.weight'), this.p('ln_f.bias'), c.layer_norm_epsilon);
  }

  /** The token table as this forward sees it: the checkpoint's, with tokenRows in place when set. */
  private tokenTable(tape: Tape): Variable {
    const wte = this.p('wte.weight');
    return this.tokenRows ? replaceRows(tape, wte, this.tokenRows.ids, this.tokenRows.rows) : wte;
  }

  /**
   * Inference over new tokens with a KV cache (no gradients): ids u32 [B, S] go at times
   * cache.lengths[b] + s of each row, their keys and values are appended to the cache, and
   * each query attends to everything its row holds up to itself. Returns the logits
   * [B, vocab] of token last[b] of each row (default S - 1; a right-padded prompt passes
   * its own last real token) and advances cache.lengths[b] by last[b] + 1. The caller
   * owns the returned tensor. The adapter pool, when set, applies exactly as in forward.
   */
  forwardCached(cache: KvCache, ids: GpuTensor, last?: readonly number[]): GpuTensor {
    const K = 'GptModel.forwardCached';
    const { ctx, config: c } = this;
    const B = cache.batch;
    expectDType(K, 'ids', ids, 'u32');
    expectRank(K, 'ids', ids, 2);
    const S = ids.shape[1];
    if (ids.shape[0] !== B || S < 1) {
      throw new ShapeError(K, `ids has shape [${ids.shape.join(', ')}], expected [${B}, S] with S >= 1 for this cache`);
    }
    if (cache.k.length !== c.n_layer || cache.k[0].shape[1] !== c.n_head || cache.k[0].shape[3] * c.n_head !== c.n_embd) {
      throw new ShapeError(K, 'the cache was made for another model configuration');
    }
    const lastRow = last ?? new Array<number>(B).fill(S - 1);
    if (lastRow.length !== B || lastRow.some((t) => !Number.isInteger(t) || t < 0 || t >= S)) {
      throw new ShapeError(K, `last must hold ${B} token indices in 0..${S - 1}, got [${lastRow.join(', ')}]`);
    }
    cache.expectRoom(S);

    const start = cache.lengths;
    const positions = new Uint32Array(B * S);
    for (let b = 0; b < B; b++) for (let s = 0; s < S; s++) positions[b * S + s] = start[b] + s;
    const tPositions = ctx.upload(positions, [B, S], 'u32', 'forwardCached.positions');
    const tStart = ctx.upload(Uint32Array.from(start), [B], 'u32', 'forwardCached.start');
    const tLast = ctx.upload(Uint32Array.from(lastRow, (t, b) => b * S + t), [B], 'u32', 'forwardCached.last');
    // The tape only reuses the ops' forward code and owns the intermediates; nothing calls
    // backward on it.
    const tape = new Tape(this.ctx);
    try {
      const wte = this.tokenTable(tape);
      let x = embed(tape, ids, tPositions, wte, this.p('wpe.weight'));
      for (let i = 0; i < c.n_layer; i++) {
        const h = (n: string) => this.p(`h.${i}.${n}`);
        const proj = (input: Variable, module: string) => this.projection(tape, input, i, module, B, S);
        const ln1 = layerNorm(tape, x, h('ln_1.weight'), h('ln_1.bias'), c.layer_norm_epsilon);
        const qkv = proj(ln1, 'attn.c_attn');
        const q = tape.save(appendKv(ctx, qkv.value, cache.k[i], cache.v[i], tStart, S));
        const att = attentionDecode(ctx, q, cache.k[i], cache.v[i], tStart);
        const attV = tape.variable({ ...att, shape: [B * S, c.n_embd] }, false, 'attention');
        x = add(tape, x, proj(attV, 'attn.c_proj'));
        const ln2 = layerNorm(tape, x, h('ln_2.weight'), h('ln_2.bias'), c.layer_norm_epsilon);
        const up = gelu(tape, proj(ln2, 'mlp.c_fc'));
        x = add(tape, x, proj(up, 'mlp.c_proj'));
      }
      // Only the rows whose logits are wanted go through the final LayerNorm and LM head.
      const picked = tape.variable(embedding(ctx, tLast, x.value), false, 'picked');
      const xf = layerNorm(tape, picked, this.p('ln_f.weight'), this.p('ln_f.bias'), c.layer_norm_epsilon);
      const logits = matmul(ctx, xf.value, wte.value, { transB: true });
      for (let b = 0; b < B; b++) start[b] += lastRow[b] + 1;
      return logits;
    } finally {
      // Safe right after encoding: the pool only hands these buffers to later work.
      tape.dispose();
      ctx.release(tPositions, tStart, tLast);
    }
  }

  /** One projection of block i, through the adapter pool when it adapts that projection. */
  private projection(tape: Tape, input: Variable, i: number, module: string, B: number, T: number): Variable {
    const name = `transformer.h.${i}.${module}`;
    const W = this.p(`h.${i}.${module}.weight`);
    const b = this.p(`h.${i}.${module}.bias`);
    const pool = this.adapters;
    const site = pool?.projection(name);
    return pool && site ? adaptedLinear(tape, input, W, b, site, pool.slots(name, B, T)) : linear(tape, input, W, b);
  }

  /** Frees the weights and any gradients. */
  dispose(): void {
    for (const p of this.params.values()) {
      this.ctx.release(p.value);
      if (p.grad) this.ctx.release(p.grad);
      p.grad = null;
    }
    this.params.clear();
  }
}

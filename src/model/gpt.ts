import { loraLinear } from '../autograd/loraOps';
import { add, gelu, layerNorm, linear } from '../autograd/ops';
import { Parameter, type Tape, type Variable } from '../autograd/tape';
import { causalSelfAttention, embed, linearTransposed } from '../autograd/transformerOps';
import { expectedGpt2Tensors } from '../checkpoint/gpt2Checkpoint';
import type { GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import type { GpuTensor } from '../gpu/tensor';
import { normal, rng } from '../reference/rng';
import { type GptConfig } from './config';
import type { LoraAdapter } from './lora';

/**
 * GPT-2 (pre-LayerNorm blocks, learned positions, tanh-GELU MLP, tied input/output
 * embeddings) on the GPU, any size from its config. Parameters carry Hugging Face's names
 * and layouts (Conv1D weights [in, out]), so checkpoints map one to one.
 */
export class GptModel {
  readonly params: Map<string, Parameter>;
  /** The LoRA adapter applied in forward, if any (owned by the caller). */
  lora: LoraAdapter | null = null;

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
   * 0..T-1 per row). Every op is recorded on the tape for backward.
   */
  forward(tape: Tape, ids: GpuTensor, positions: GpuTensor, B: number, T: number): Variable {
    const c = this.config;
    if (T > c.n_positions) {
      throw new ShapeError('GptModel', `sequence length ${T} exceeds n_positions ${c.n_positions}; truncate the input first`);
    }
    const wte = this.p('wte.weight');
    let x = embed(tape, ids, positions, wte, this.p('wpe.weight'));
    for (let i = 0; i < c.n_layer; i++) {
      const h = (n: string) => this.p(`h.${i}.${n}`);
      const ln1 = layerNorm(tape, x, h('ln_1.weight'), h('ln_1.bias'), c.layer_norm_epsilon);
      const proj = (input: Variable, module: string) => {
        const pair = this.lora?.pairs.get(`transformer.h.${i}.${module}`);
        const W = h(`${module}.weight`);
        const b = h(`${module}.bias`);
        return pair ? loraLinear(tape, input, W, b, pair) : linear(tape, input, W, b);
      };
      const qkv = proj(ln1, 'attn.c_attn');
      const att = causalSelfAttention(tape, qkv, B, T, c.n_head);
      x = add(tape, x, proj(att, 'attn.c_proj'));
      const ln2 = layerNorm(tape, x, h('ln_2.weight'), h('ln_2.bias'), c.layer_norm_epsilon);
      const up = gelu(tape, proj(ln2, 'mlp.c_fc'));
      x = add(tape, x, proj(up, 'mlp.c_proj'));
    }
    const xf = layerNorm(tape, x, this.p('ln_f.weight'), this.p('ln_f.bias'), c.layer_norm_epsilon);
    return linearTransposed(tape, xf, wte);
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

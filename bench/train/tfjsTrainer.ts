// TensorFlow.js in the training benchmark: the GPT-2 training step written with
// @tensorflow/tfjs-core ops on the webgpu backend, gradients from tf.variableGrads, global-norm
// clipping and AdamW as tf ops (TF.js ships Adam but no AdamW), all inside one tf.tidy.
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone registers no gradients; the union package @tensorflow/tfjs imports this.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-webgpu';
import { initTfjsWebgpu } from '../peers';
import type { TrainCase, TrainContender, Trainer } from './trainer';

export async function createTfjsTrainer(): Promise<TrainContender> {
  return {
    lib: 'tfjs',
    memorySource: 'tf.memory().numBytesAllocatedInGPU (the whole webgpu backend: live plus pooled buffers)',
    adapterInfo: await initTfjsWebgpu(),
    prepare: async (c) => prepareTfjs(c),
  };
}

/** What the webgpu backend adds to tf.memory(). */
interface WebGpuMemoryInfo extends tf.MemoryInfo {
  numBytesInGPU?: number;
  numBytesAllocatedInGPU?: number;
}

interface AdamSlot {
  param: tf.Variable;
  m: tf.Variable;
  v: tf.Variable;
  decays: boolean;
}

function prepareTfjs(c: TrainCase): Trainer {
  const { config, B, T } = c;
  const C = config.n_embd;
  const H = config.n_head;
  const D = C / H;
  const V = config.vocab_size;
  const R = B * T;
  const lora = c.mode === 'lora';
  const { lr, beta1, beta2, eps, weightDecay, maxGradNorm } = c.optimizer;

  // Everything this trainer owns, so dispose() can free it all.
  const owned: tf.Tensor[] = [];
  const own = <X extends tf.Tensor>(t: X): X => {
    owned.push(t);
    return t;
  };
  // Constants as tensors made here, once: a JS number passed to an op becomes a new scalar
  // tensor (and a GPU upload) on every call. (TF.js's own gradient functions still make a few
  // such scalars inside every backward pass; no user code can avoid those.)
  const num = (value: number): tf.Scalar => own(tf.scalar(value));

  // Base weights: variables when they train, plain tensors (never differentiated) under LoRA.
  // tf.variable shares the initial tensor's data, so the initial tensor goes with the tidy.
  const params = new Map<string, tf.Tensor>();
  const slots: AdamSlot[] = [];
  const addVariable = (data: Float32Array, shape: readonly number[]): tf.Variable => {
    const param = own(tf.tidy(() => tf.variable(tf.tensor(data, shape as number[]), true)));
    const m = own(tf.tidy(() => tf.variable(tf.zeros(shape as number[]), false)));
    const v = own(tf.tidy(() => tf.variable(tf.zeros(shape as number[]), false)));
    slots.push({ param, m, v, decays: shape.length >= 2 });
    return param;
  };
  for (const [name, data] of c.weights) {
    const shape = c.shapes.get(name)!;
    params.set(name, lora ? own(tf.tensor(data, shape as number[])) : addVariable(data, shape));
  }
  const loraA = new Map<string, tf.Variable>();
  const loraB = new Map<string, tf.Variable>();
  if (lora) {
    const r = c.lora.rank;
    for (const [name, A] of c.lora.A) {
      const [fanIn, out] = c.shapes.get(`${name}.weight`)!;
      loraA.set(name, addVariable(A, [r, fanIn]));
      loraB.set(name, addVariable(c.lora.B.get(name)!, [out, r]));
    }
  }
  const varList = slots.map((s) => s.param);
  const loraScale = num(c.lora.alpha / c.lora.rank);
  const lnEps = num(config.layer_norm_epsilon);
  const one = num(1);
  const half = num(0.5);
  const geluC = num(Math.sqrt(2 / Math.PI));
  const geluK = num(0.044715);
  const attnScale = num(1 / Math.sqrt(D));
  const maxNorm = num(maxGradNorm);
  const normEps = num(1e-6);
  const beta1T = num(beta1);
  const beta2T = num(beta2);
  const oneMinusBeta1 = num(1 - beta1);
  const oneMinusBeta2 = num(1 - beta2);
  const epsT = num(eps);
  const decay = num(1 - lr * weightDecay);

  // The batch, uploaded once as the step's inputs.
  const ids = own(tf.tensor1d(c.ids, 'int32'));
  const labels = own(tf.tidy(() => tf.oneHot(tf.tensor1d(c.targets, 'int32'), V, 1, 0, 'float32')));
  const mask = own(tf.tensor1d(c.mask));
  const causal = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) causal[i * T + j] = -1e9;
  const causalBias = own(tf.tensor2d(causal, [T, T]));

  const w = (n: string) => params.get(`transformer.${n}`)!;
  const layerNorm = (x: tf.Tensor2D, n: string): tf.Tensor2D => {
    const { mean, variance } = tf.moments(x, -1, true);
    const xhat = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, lnEps)));
    return tf.add(tf.mul(xhat, w(`${n}.weight`)), w(`${n}.bias`));
  };
  // Full mode uses the fused matmul + bias kernel. Under LoRA the base weight is frozen, and the
  // fused op's gradient (a customGrad) would still compute the weight's gradient and throw it
  // away, whereas the plain matMul's registered gradient is only taken for inputs on the path
  // to the trained variables.
  const linear = (x: tf.Tensor2D, n: string): tf.Tensor2D => {
    const W = w(`${n}.weight`) as tf.Tensor2D;
    const b = w(`${n}.bias`);
    const y = (lora ? tf.add(tf.matMul(x, W), b) : tf.fused.matMul({ a: x, b: W, bias: b })) as tf.Tensor2D;
    const A = loraA.get(`transformer.${n}`);
    if (!A) return y;
    // Scaling the rank-wide product is the cheapest place for alpha / rank.
    const xa = tf.mul(tf.matMul(x, A, false, true), loraScale);
    return tf.add(y, tf.matMul(xa, loraB.get(`transformer.${n}`)!, false, true));
  };
  const gelu = (x: tf.Tensor2D): tf.Tensor2D => {
    const inner = tf.mul(tf.mul(x, geluC), tf.add(one, tf.mul(tf.square(x), geluK)));
    return tf.mul(tf.mul(x, half), tf.add(one, tf.tanh(inner)));
  };
  const heads = (t: tf.Tensor): tf.Tensor4D => tf.transpose(tf.reshape(t, [B, T, H, D]), [0, 2, 1, 3]);

  const loss = (): tf.Scalar => {
    const wpe = w('wpe.weight');
    const pos = T === config.n_positions ? wpe : tf.slice(wpe, [0, 0], [T, C]);
    const emb = tf.add(tf.reshape(tf.gather(w('wte.weight'), ids), [B, T, C]), pos);
    let x = tf.reshape(emb, [R, C]) as tf.Tensor2D;
    for (let l = 0; l < config.n_layer; l++) {
      const p = `h.${l}`;
      const qkv = linear(layerNorm(x, `${p}.ln_1`), `${p}.attn.c_attn`);
      const [q, key, v] = tf.split(qkv, 3, 1).map(heads);
      const scores = tf.add(tf.matMul(tf.mul(q, attnScale), key, false, true), causalBias);
      const att = tf.matMul(tf.softmax(scores), v);
      const merged = tf.reshape(tf.transpose(att, [0, 2, 1, 3]), [R, C]) as tf.Tensor2D;
      x = tf.add(x, linear(merged, `${p}.attn.c_proj`));
      const up = gelu(linear(layerNorm(x, `${p}.ln_2`), `${p}.mlp.c_fc`));
      x = tf.add(x, linear(up, `${p}.mlp.c_proj`));
    }
    const logits = tf.matMul(layerNorm(x, 'ln_f'), w('wte.weight') as tf.Tensor2D, false, true);
    return tf.losses.softmaxCrossEntropy(labels, logits, mask, 0, tf.Reduction.MEAN) as tf.Scalar;
  };

  // The bias corrections change every step: lr / (1 - beta1^t) and sqrt(1 - beta2^t), folded
  // in float64 on the host as our AdamW and jax-js's step get them. Rather than a new scalar
  // per step, a table of them for the first steps is uploaded here and each step slices its
  // row on the GPU (accumulating beta^t on the GPU in float32, as tf.train.adam does, would
  // change the values). The table doubles if a trainer ever runs past it.
  let t = 0;
  let corrections: tf.Tensor2D | null = null;
  const correctionsFor = (steps: number): tf.Tensor2D => {
    if (corrections && corrections.shape[0] >= steps) return corrections;
    const rows = Math.max(1024, 2 * (corrections?.shape[0] ?? 0));
    const table = new Float32Array(2 * rows);
    for (let i = 1; i <= rows; i++) {
      table[2 * i - 2] = lr / (1 - beta1 ** i);
      table[2 * i - 1] = Math.sqrt(1 - beta2 ** i);
    }
    corrections?.dispose();
    corrections = tf.tensor2d(table, [rows, 2]);
    return corrections;
  };
  correctionsFor(1);

  // One step's GPU work; returns the loss tensor, still on the GPU.
  const step = (): tf.Scalar => {
    t += 1;
    const table = correctionsFor(t);
    return tf.tidy(() => {
      const { value, grads } = tf.variableGrads(loss, varList);
      const gs = varList.map((p) => grads[p.name]);
      // tf.stack, not tf.addN: the webgpu addN binds every input in one shader and fails past
      // the device's storage-buffer limit (8 on SwiftShader), where concat splits the inputs.
      const norm = tf.sqrt(tf.sum(tf.stack(gs.map((g) => tf.sum(tf.square(g))))));
      const clip = tf.minimum(one, tf.div(maxNorm, tf.add(norm, normEps)));
      const stepT = tf.reshape(tf.slice(table, [t - 1, 0], [1, 1]), []);
      const bc2T = tf.reshape(tf.slice(table, [t - 1, 1], [1, 1]), []);
      slots.forEach((s, i) => {
        const g = tf.mul(gs[i], clip);
        const m = tf.add(tf.mul(s.m, beta1T), tf.mul(g, oneMinusBeta1));
        const v = tf.add(tf.mul(s.v, beta2T), tf.mul(tf.square(g), oneMinusBeta2));
        const update = tf.div(tf.mul(m, stepT), tf.add(tf.div(tf.sqrt(v), bc2T), epsT));
        s.m.assign(m);
        s.v.assign(v);
        s.param.assign(tf.sub(s.decays ? tf.mul(s.param, decay) : s.param, update));
      });
      return value;
    });
  };

  const run = async (n: number): Promise<number> => {
    let last: tf.Scalar | null = null;
    for (let i = 0; i < n; i++) {
      const next = step();
      // Freed buffers go back to TF.js's pool; work already queued on them still runs in order.
      last?.dispose();
      last = next;
    }
    const [value] = await last!.data();
    last!.dispose();
    return value;
  };

  return {
    step: () => run(1),
    steps: run,
    // numBytesAllocatedInGPU counts every buffer the backend's pool holds, live or free for
    // reuse (numBytesInGPU only the live ones). It covers the whole backend, not only this
    // trainer, and TF.js has no public way to shrink the pool.
    gpuBytes: () => (tf.memory() as WebGpuMemoryInfo).numBytesAllocatedInGPU ?? null,
    dispose() {
      tf.dispose(owned);
      owned.length = 0;
      corrections?.dispose();
      corrections = null;
    },
  };
}

// jax-js (webgpu device) in the training benchmark: the GPT-2 loss written in jax-js numpy,
// differentiated with valueAndGrad, and the whole step (loss, gradients, global-norm clip,
// AdamW) compiled with one jit, which is jax-js's documented fast path. Parameters and the
// AdamW moments live as pytrees of arrays that each step consumes and returns anew.
import { jit, nn, numpy as np, tree, valueAndGrad } from '@jax-js/jax';
import { initJaxjsWebgpu } from '../peers';
import type { TrainCase, TrainContender, Trainer } from './trainer';

type JArray = np.Array;
/** Arrays keyed by Hugging Face name (LoRA pairs as "<projection>.A" / ".B"). */
type Tensors = { [name: string]: JArray };
type Batch = { ids: JArray; targets: JArray; mask: JArray };

export async function createJaxjsTrainer(): Promise<TrainContender> {
  // No memory figure: see gpuBytes below.
  return { lib: 'jaxjs', memorySource: null, adapterInfo: await initJaxjsWebgpu(), prepare: async (c) => prepareJaxjs(c) };
}

// Every jax-js call consumes its array arguments; in the functions below each traced array is
// passed on exactly once, and `.ref` marks the uses that must leave it alive for a later one.

/** LayerNorm over the last axis with the two-pass variance: nn.standardize uses
 *  E[x^2] - E[x]^2, which loses float32 digits on residual streams with a large mean. */
function layerNorm(x: JArray, gamma: JArray, beta: JArray, eps: number): JArray {
  const centred = x.ref.sub(x.mean(-1, { keepdims: true }));
  const variance = np.square(centred.ref).mean(-1, { keepdims: true });
  return centred.div(np.sqrt(variance.add(eps))).mul(gamma).add(beta);
}

/** GPT-2's mean masked next-token cross-entropy of `weights` (+ LoRA pairs when given). */
function gptLoss(c: TrainCase, weights: Tensors, lora: Tensors | null, batch: Batch): JArray {
  const { n_embd: C, n_head: H, n_layer: L, vocab_size: V, layer_norm_epsilon: eps } = c.config;
  const { B, T } = c;
  const R = B * T;
  const w = (name: string) => weights[`transformer.${name}`];
  const loraScale = c.lora.alpha / c.lora.rank;
  const linear = (x: JArray, name: string): JArray => {
    const y = np.matmul(x.ref, w(`${name}.weight`)).add(w(`${name}.bias`));
    const A = lora?.[`transformer.${name}.A`];
    if (!A) {
      x.dispose();
      return y;
    }
    const Bm = lora![`transformer.${name}.B`];
    return y.add(np.matmul(np.matmul(x, A.transpose()), Bm.transpose()).mul(loraScale));
  };

  // A frozen wte is looked up with np.take (one indexed load per element). A trained one goes
  // through one-hot rows times wte: take's gradient is a Scatter routine, and jax-js 0.1.25's
  // jit rejects it inside a compiled step ("routine primitive scatter input is not imm"); the
  // one-hot product and its transpose are plain matmuls, small with a 261-byte vocabulary.
  const wte = w('wte.weight');
  const tokens = lora ? np.take(wte.ref, batch.ids, 0) : np.matmul(nn.oneHot(batch.ids, V), wte.ref);
  let x = tokens.reshape([B, T, C]).add(w('wpe.weight').slice([0, T])).reshape([R, C]);
  for (let l = 0; l < L; l++) {
    const p = `h.${l}`;
    const qkv = linear(layerNorm(x.ref, w(`${p}.ln_1.weight`), w(`${p}.ln_1.bias`), eps), `${p}.attn.c_attn`);
    const [q, k, v] = np.split(qkv.reshape([B, T, 3 * C]), 3, -1).map((t) => t.reshape([B, T, H, C / H]));
    const att = nn.dotProductAttention(q, k, v, { isCausal: true }).reshape([R, C]);
    x = x.add(linear(att, `${p}.attn.c_proj`));
    const up = nn.gelu(linear(layerNorm(x.ref, w(`${p}.ln_2.weight`), w(`${p}.ln_2.bias`), eps), `${p}.mlp.c_fc`));
    x = x.add(linear(up, `${p}.mlp.c_proj`));
  }
  const logits = np.matmul(layerNorm(x, w('ln_f.weight'), w('ln_f.bias'), eps), wte.transpose());
  const targetLogit = nn.oneHot(batch.targets, V).mul(logits.ref).sum(-1);
  const rowLoss = nn.logsumexp(logits, -1).sub(targetLogit);
  const count = c.mask.reduce((n, m) => n + m, 0);
  return rowLoss.mul(batch.mask).sum().mul(1 / count);
}

function upload(data: Float32Array, shape: readonly number[]): JArray {
  return np.array(data, { shape: [...shape] });
}

async function prepareJaxjs(c: TrainCase): Promise<Trainer> {
  const { lr, beta1, beta2, eps, weightDecay, maxGradNorm } = c.optimizer;
  const lora = c.mode === 'lora';

  const base: Tensors = {};
  for (const [name, data] of c.weights) base[name] = upload(data, c.shapes.get(name)!);
  let params: Tensors;
  let frozen: Tensors;
  if (lora) {
    params = {};
    const { rank } = c.lora;
    for (const [name, A] of c.lora.A) {
      const [fanIn, fanOut] = c.shapes.get(`${name}.weight`)!;
      params[`${name}.A`] = upload(A, [rank, fanIn]);
      params[`${name}.B`] = upload(c.lora.B.get(name)!, [fanOut, rank]);
    }
    frozen = base;
  } else {
    params = base;
    frozen = {};
  }
  const names = Object.keys(params);
  // Decoupled decay only on matrices (wte, wpe, Conv1D weights, LoRA A and B).
  const decays = new Set(names.filter((n) => params[n].ndim >= 2));
  let m: Tensors = Object.fromEntries(names.map((n) => [n, np.zerosLike(params[n].ref)]));
  let v: Tensors = Object.fromEntries(names.map((n) => [n, np.zerosLike(params[n].ref)]));
  const batch: Batch = {
    ids: np.array(c.ids, { shape: [c.B * c.T], dtype: np.int32 }),
    targets: np.array(c.targets, { shape: [c.B * c.T], dtype: np.int32 }),
    mask: np.array(c.mask, { shape: [c.B * c.T] }),
  };

  const lossOf = (trainable: Tensors, fixed: Tensors, b: Batch): JArray =>
    lora ? gptLoss(c, fixed, trainable, b) : gptLoss(c, trainable, null, b);

  // stepSize = lr / (1 - beta1^t) and bc2Sqrt = sqrt(1 - beta2^t) come in as traced scalars
  // (folded on the host in float64, as PyTorch does) so one compiled step serves every t.
  const trainStep = jit((p: Tensors, fixed: Tensors, mIn: Tensors, vIn: Tensors, b: Batch, stepSize: JArray, bc2Sqrt: JArray) => {
    const [loss, g] = valueAndGrad(lossOf)(tree.ref(p), fixed, b);
    const sumSq = names.map((n) => np.square(g[n].ref).sum()).reduce((a, s) => a.add(s));
    const clip = np.minimum(np.reciprocal(np.sqrt(sumSq).add(1e-6)).mul(maxGradNorm), 1);
    const pOut: Tensors = {};
    const mOut: Tensors = {};
    const vOut: Tensors = {};
    for (const n of names) {
      const grad = g[n].mul(clip.ref);
      const mi = mIn[n].mul(beta1).add(grad.ref.mul(1 - beta1));
      const vi = vIn[n].mul(beta2).add(np.square(grad).mul(1 - beta2));
      const denom = np.sqrt(vi.ref).div(bc2Sqrt.ref).add(eps);
      const decayed = decays.has(n) ? p[n].mul(1 - lr * weightDecay) : p[n];
      pOut[n] = decayed.sub(mi.ref.mul(stepSize.ref).div(denom));
      mOut[n] = mi;
      vOut[n] = vi;
    }
    clip.dispose();
    stepSize.dispose();
    bc2Sqrt.dispose();
    return [loss, pOut, mOut, vOut] as [JArray, Tensors, Tensors, Tensors];
  });

  let t = 0;
  const enqueue = (): JArray => {
    t++;
    const stepSize = lr / (1 - beta1 ** t);
    const bc2Sqrt = Math.sqrt(1 - beta2 ** t);
    const [loss, p2, m2, v2] = trainStep(params, tree.ref(frozen), m, v, tree.ref(batch), stepSize, bc2Sqrt);
    params = p2;
    m = m2;
    v = v2;
    return loss;
  };
  const run = async (n: number): Promise<number> => {
    // jax-js is lazy: a jitted call only records its kernels, and they keep every buffer of the
    // step alive until they are dispatched. So each step is dispatched as soon as it is
    // recorded (blockUntilReady submits it), and the loop waits only for the step before it:
    // the queue never runs dry, and at most two steps' buffers are alive at once.
    let previous: { loss: JArray; done: Promise<unknown> } | null = null;
    for (let i = 0; i < n - 1; i++) {
      const loss = enqueue();
      const done = loss.blockUntilReady();
      if (previous) {
        await previous.done;
        previous.loss.dispose();
      }
      previous = { loss, done };
    }
    // Reading the last loss dispatches the last step, its update included, since every output
    // of a jitted call shares one list of pending kernels.
    const last = enqueue().data();
    if (previous) {
      await previous.done;
      previous.loss.dispose();
    }
    const [loss] = await last;
    return loss;
  };

  return {
    step: () => run(1),
    steps: run,
    // jax-js keeps its buffer table and pool inside the WebGPU backend, which its public API
    // does not expose (no memory or buffer statistics), so there is no figure to report.
    gpuBytes: () => null,
    dispose() {
      tree.dispose([params, frozen, m, v, batch]);
      trainStep.dispose();
    },
  };
}

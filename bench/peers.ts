// The two peer libraries, driven through their public APIs the way their users would: TF.js
// with its constants made once as tensors, jax-js's multi-op LoRA cases under jit (its
// README's advice for long sequences of ops on the GPU; single matmuls stay eager, where jit
// has nothing to fuse).
//
// Synchronisation matches ours: a batch of calls ends with a full readback of the last
// call's output (TensorFlow.js `data()`, jax-js `data()`). jax-js evaluates lazily, so its
// batches first force every call with blockUntilReady; otherwise calls whose results are
// never read would not run at all.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
import { blockUntilReady, defaultDevice, getWebGPUDevice, init, jit, numpy as np } from '@jax-js/jax';
import { describeDevice, type Contender } from './contender';
import type { Prepared } from './harness';
import type { LoraInputs, LoraShape, MatmulShape } from './reference';

// ---------------------------------------------------------------- TensorFlow.js

/** Puts TensorFlow.js on its webgpu backend (both benchmarks); returns its adapter description. */
export async function initTfjsWebgpu(): Promise<() => string> {
  // Small ops may otherwise run on the CPU; the comparison is about the GPU path.
  tf.env().set('WEBGPU_CPU_FORWARD', false);
  const ok = await tf.setBackend('webgpu');
  await tf.ready();
  if (!ok || tf.getBackend() !== 'webgpu') throw new Error(`TensorFlow.js webgpu backend unavailable (got ${tf.getBackend()})`);
  return () => describeDevice((tf.backend() as unknown as { device?: GPUDevice }).device);
}

export async function createTfjs(): Promise<Contender> {
  const adapterInfo = await initTfjsWebgpu();
  return {
    lib: 'tfjs',
    variants: [''],
    adapterInfo,
    matmul: (s, a, b) => {
      const [ta, tb] = [tf.tensor2d(a, [s.m, s.k]), tf.tensor2d(b, bShape(s))];
      return tfPrepared([ta, tb], () => [tf.matMul(ta, tb, false, s.transB)]);
    },
    lora: (s, t) => {
      const [x, W, A, B, dy] = tfLoraInputs(s, t);
      // A JS number passed to an op becomes a new scalar tensor, uploaded, on every call.
      const scale = tf.scalar(s.scale);
      return tfPrepared([x, W, A, B, dy, scale], () => tfLora(scale, x, W, A, B, dy));
    },
    pair: (s, t) => {
      const ins = tfLoraInputs(s, t);
      const [x, W, , , dy] = ins;
      return tfPrepared(ins, () => [tf.matMul(x, W, false, true), tf.matMul(dy, W)]);
    },
  };
}

function bShape(s: MatmulShape): [number, number] {
  return s.transB ? [s.n, s.k] : [s.k, s.n];
}

function tfLoraInputs(s: LoraShape, t: LoraInputs): tf.Tensor2D[] {
  const { m, k, n, r } = s;
  return [tf.tensor2d(t.x, [m, k]), tf.tensor2d(t.W, [n, k]), tf.tensor2d(t.A, [r, k]), tf.tensor2d(t.B, [n, r]), tf.tensor2d(t.dy, [m, n])];
}

function tfLora(scale: tf.Scalar, x: tf.Tensor2D, W: tf.Tensor2D, A: tf.Tensor2D, B: tf.Tensor2D, dy: tf.Tensor2D): tf.Tensor[] {
  return tf.tidy(() => {
    const xa = tf.matMul(x, A, false, true);
    const y = tf.add(tf.matMul(x, W, false, true), tf.mul(tf.matMul(xa, B, false, true), scale));
    const dyB = tf.matMul(dy, B);
    const dx = tf.add(tf.matMul(dy, W), tf.mul(tf.matMul(dyB, A), scale));
    const dA = tf.mul(tf.matMul(dyB, x, true, false), scale);
    const dB = tf.mul(tf.matMul(dy, xa, true, false), scale);
    return [y, dx, dA, dB];
  });
}

/** `owned`: the tensors made at preparation (inputs and constants), freed by dispose(). */
function tfPrepared(owned: tf.Tensor[], call: () => tf.Tensor[]): Prepared {
  return {
    async once() {
      const outs = call();
      const data = await Promise.all(outs.map((o) => o.data() as Promise<Float32Array>));
      tf.dispose(outs);
      return data;
    },
    async batch(n) {
      const all: tf.Tensor[][] = [];
      for (let i = 0; i < n; i++) all.push(call());
      const last = all[n - 1];
      await last[last.length - 1].data();
      tf.dispose(all.flat());
    },
    dispose() {
      tf.dispose(owned);
    },
  };
}

// ---------------------------------------------------------------- jax-js

type JArray = np.Array;

/** Makes jax-js's webgpu device the default (both benchmarks); returns its adapter description. */
export async function initJaxjsWebgpu(): Promise<() => string> {
  const devices = await init('webgpu');
  if (!devices.includes('webgpu')) throw new Error(`jax-js webgpu device unavailable (got ${devices.join(', ') || 'none'})`);
  defaultDevice('webgpu');
  return () => describeDevice(getWebGPUDevice());
}

export async function createJaxjs(): Promise<Contender> {
  const adapterInfo = await initJaxjsWebgpu();
  return {
    lib: 'jaxjs',
    variants: [''],
    adapterInfo,
    matmul: (s, a, b) => {
      const [ja, jb] = [np.array(a, { shape: [s.m, s.k] }), np.array(b, { shape: bShape(s) })];
      return jaxPrepared([ja, jb], () => [np.matmul(ja.ref, s.transB ? jb.ref.transpose() : jb.ref)]);
    },
    lora: (s, t) => {
      const ins = jaxLoraInputs(s, t);
      const [x, W, A, B, dy] = ins;
      // Traced once per prepared case (compiled on the check's call, before any timing); the
      // scale is a constant of the trace, as a literal in the user's function would be.
      const f = jit(jaxLora(s.scale));
      return jaxPrepared(ins, () => f(x.ref, W.ref, A.ref, B.ref, dy.ref), f);
    },
    pair: (s, t) => {
      const ins = jaxLoraInputs(s, t);
      const [x, W, , , dy] = ins;
      // Under jit as well, so that LoRA over the plain pair compares like with like.
      const f = jit(jaxPair);
      return jaxPrepared(ins, () => f(x.ref, W.ref, dy.ref), f);
    },
  };
}

function jaxLoraInputs(s: LoraShape, t: LoraInputs): JArray[] {
  const { m, k, n, r } = s;
  return [
    np.array(t.x, { shape: [m, k] }),
    np.array(t.W, { shape: [n, k] }),
    np.array(t.A, { shape: [r, k] }),
    np.array(t.B, { shape: [n, r] }),
    np.array(t.dy, { shape: [m, n] }),
  ];
}

// jax-js arrays are reference counted and every call, a jitted one included, consumes its
// arguments: `.ref` keeps an array alive for a later use. The prepared inputs go into every
// call as new references, so they outlive all of them.

/** Forward and backward of a LoRA layer; consumes each argument exactly once, as jit requires. */
const jaxLora = (scale: number) => (x: JArray, W: JArray, A: JArray, B: JArray, dy: JArray): JArray[] => {
  const xa = np.matmul(x.ref, A.ref.transpose());
  const y = np.matmul(x.ref, W.ref.transpose()).add(np.matmul(xa.ref, B.ref.transpose()).mul(scale));
  const dyB = np.matmul(dy.ref, B);
  const dx = np.matmul(dy.ref, W).add(np.matmul(dyB.ref, A).mul(scale));
  const dA = np.matmul(dyB.transpose(), x).mul(scale);
  const dB = np.matmul(dy.transpose(), xa).mul(scale);
  return [y, dx, dA, dB];
};

/** The two plain matmuls a LoRA layer adds to: x W^T and dy W. */
const jaxPair = (x: JArray, W: JArray, dy: JArray): JArray[] => [np.matmul(x, W.ref.transpose()), np.matmul(dy, W)];

/** `inputs`: the arrays made at preparation; `compiled`: a jitted function to free with them. */
function jaxPrepared(inputs: JArray[], call: () => JArray[], compiled?: { dispose(): void }): Prepared {
  return {
    async once() {
      const outs = call();
      // data() realises the array, reads it and releases it.
      return Promise.all(outs.map((o) => o.data() as Promise<Float32Array>));
    },
    async batch(n) {
      const all: JArray[] = [];
      for (let i = 0; i < n; i++) all.push(...call());
      await blockUntilReady(all);
      const last = all.pop()!;
      await last.data();
      for (const o of all) o.dispose();
    },
    dispose() {
      for (const a of inputs) a.dispose();
      compiled?.dispose();
    },
  };
}

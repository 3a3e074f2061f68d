import { describe, expect, it } from 'vitest';
import { add, gelu, layerNorm, linear } from '../../src/autograd/ops';
import { Parameter, Tape, Variable, zeroGrad } from '../../src/autograd/tape';
import { geluRef } from '../../src/reference/gelu';
import { layerNormRef } from '../../src/reference/layernorm';
import { matmulRef } from '../../src/reference/matmul';
import { rng, uniform } from '../../src/util/random';
import { expectGradientMatchesFiniteDifference, f64 } from '../helpers/compare';
import { useGpu } from '../helpers/gpu';

const gpu = useGpu();

// A pre-LayerNorm MLP block with a residual, the shape of half a GPT block:
//   y = x + linear(gelu(linear(layerNorm(x), W1, b1)), W2, b2);  loss = sum(y * G)
const [M, C, H] = [7, 5, 9];

interface Weights {
  x: Float32Array;
  gamma: Float32Array;
  beta: Float32Array;
  W1: Float32Array;
  b1: Float32Array;
  W2: Float32Array;
  b2: Float32Array;
}
type Name = keyof Weights;
const NAMES: Name[] = ['x', 'gamma', 'beta', 'W1', 'b1', 'W2', 'b2'];
const SHAPES: Record<Name, number[]> = { x: [M, C], gamma: [C], beta: [C], W1: [C, H], b1: [H], W2: [H, C], b2: [C] };

function lossRef(w: Record<Name, Float64Array>, G: Float64Array): number {
  const h = layerNormRef(w.x, w.gamma, w.beta, M, C).y;
  const a = matmulRef(h, [M, C], w.W1, [C, H]);
  for (let i = 0; i < M * H; i++) a[i] += w.b1[i % H];
  const g = geluRef(a);
  const y = matmulRef(g, [M, H], w.W2, [H, C]);
  let loss = 0;
  for (let i = 0; i < M * C; i++) loss += (y[i] + w.b2[i % C] + w.x[i]) * G[i];
  return loss;
}

function forward(tape: Tape, p: Record<Name, Variable>): Variable {
  const h = layerNorm(tape, p.x, p.gamma, p.beta);
  const a = gelu(tape, linear(tape, h, p.W1, p.b1));
  return add(tape, p.x, linear(tape, a, p.W2, p.b2));
}

describe('autograd tape', () => {
  const r = rng(11);
  const w = Object.fromEntries(NAMES.map((n) => [n, uniform(SHAPES[n].reduce((a, d) => a * d, 1), r)])) as unknown as Weights;
  const G = uniform(M * C, r);

  it('gives every parameter the finite-difference gradient of the float64 reference', async () => {
    const ctx = gpu();
    const live = ctx.poolStats().live;
    const params = Object.fromEntries(NAMES.map((n) => [n, new Parameter(ctx.upload(w[n], SHAPES[n]), n)])) as Record<
      Name,
      Parameter
    >;
    const tape = new Tape(ctx);
    const y = forward(tape, params);
    y.grad = ctx.upload(G, [M, C]);
    tape.backward();
    const grads = Object.fromEntries(
      await Promise.all(NAMES.map(async (n) => [n, await ctx.readF32(params[n].grad!)] as const)),
    ) as Record<Name, Float32Array>;
    tape.dispose();

    const w64 = Object.fromEntries(NAMES.map((n) => [n, f64(w[n])])) as Record<Name, Float64Array>;
    for (const n of NAMES) {
      expectGradientMatchesFiniteDifference(
        (v) => lossRef({ ...w64, [n]: v }, f64(G)),
        w64[n],
        grads[n],
        `d loss / d ${n}`,
        { eps: 1e-5, rtol: 1e-4, samples: 64 },
      );
    }
    zeroGrad(ctx, Object.values(params));
    ctx.release(...Object.values(params).map((p) => p.value));
    expect(ctx.poolStats().live, 'tape and gradients returned everything to the pool').toBe(live);
  });

  it('leaves frozen parameters without gradients and still trains the rest', async () => {
    const ctx = gpu();
    const params = Object.fromEntries(NAMES.map((n) => [n, new Parameter(ctx.upload(w[n], SHAPES[n]), n)])) as Record<
      Name,
      Parameter
    >;
    for (const n of ['x', 'gamma', 'beta', 'W1', 'b1'] as Name[]) params[n].trainable = false;
    const tape = new Tape(ctx);
    const y = forward(tape, params);
    y.grad = ctx.upload(G, [M, C]);
    tape.backward();
    for (const n of ['x', 'gamma', 'beta', 'W1', 'b1'] as Name[]) expect(params[n].grad, n).toBeNull();
    expect(params.W2.grad).not.toBeNull();
    expect(params.b2.grad).not.toBeNull();
    const db2 = await ctx.readF32(params.b2.grad!);
    // d loss / d b2[c] = sum over rows of G[m, c]
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let m = 0; m < M; m++) s += G[m * C + c];
      expect(db2[c]).toBeCloseTo(s, 4);
    }
    tape.dispose();
    zeroGrad(ctx, Object.values(params));
    ctx.release(...Object.values(params).map((p) => p.value));
  });

  it('refuses a second backward on the same tape', () => {
    const ctx = gpu();
    const tape = new Tape(ctx);
    tape.backward();
    expect(() => tape.backward()).toThrow(/already ran/);
    expect(() => tape.onBackward(() => {})).toThrow(/already ran/);
  });
});

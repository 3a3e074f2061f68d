import type { GpuTensor } from '../gpu/tensor';
import { add as addKernel } from '../kernels/add';
import { gelu as geluKernel, geluBackward } from '../kernels/gelu';
import { layerNorm as layerNormKernel, layerNormBackward, layerNormParamGrads } from '../kernels/layernorm';
import { matmul } from '../kernels/matmul';
import type { Tape, Variable } from './tape';

/**
 * Differentiable ops over the kernel library. Each runs its forward kernels at once and
 * records a backward that turns the output's gradient into its inputs' gradients, all on
 * the GPU. Shapes are row-major; x is [rows, features].
 */

const onesByTape = new WeakMap<Tape, Map<number, GpuTensor>>();

/** A column of ones [rows, 1] for bias sums via matmul, made once per tape and row count. */
export function ones(tape: Tape, rows: number): GpuTensor {
  let byRows = onesByTape.get(tape);
  if (!byRows) onesByTape.set(tape, (byRows = new Map()));
  let t = byRows.get(rows);
  if (!t) {
    t = tape.save(tape.ctx.empty([rows, 1], 'f32', 'ones'));
    tape.ctx.fill(t, 1);
    byRows.set(rows, t);
  }
  return t;
}

/**
 * y = x W (+ b), with W stored [in, out] as in GPT-2's Conv1D layers. The bias is added in
 * the matmul's store (no pass of its own); its gradient is ones^T dy, a thin matmul.
 */
export function linear(tape: Tape, x: Variable, W: Variable, b?: Variable): Variable {
  const { ctx } = tape;
  const M = x.shape[0];
  const N = W.shape[1];
  const y = matmul(ctx, x.value, W.value, { bias: b?.value });
  const out = tape.variable(y, tape.needsGrad(x, W, ...(b ? [b] : [])), 'linear');
  tape.onBackward(() => {
    const dy = out.grad;
    if (!dy) return;
    if (x.requiresGrad) tape.addGrad(x, matmul(ctx, dy, W.value, { transB: true }));
    if (W.requiresGrad) tape.addGrad(W, matmul(ctx, x.value, dy, { transA: true }));
    if (b && b.requiresGrad) tape.addGrad(b, reshape(matmul(ctx, ones(tape, M), dy, { transA: true }), [N]));
  });
  return out;
}

export function add(tape: Tape, a: Variable, b: Variable): Variable {
  const out = tape.variable(addKernel(tape.ctx, a.value, b.value), tape.needsGrad(a, b), 'add');
  tape.onBackward(() => {
    const dy = out.grad;
    if (!dy) return;
    // Both inputs receive dy itself; each needs its own copy, since addGrad takes ownership.
    for (const v of [a, b]) if (v.requiresGrad) tape.addGrad(v, tape.ctx.clone(dy, 'grad'));
  });
  return out;
}

export function gelu(tape: Tape, x: Variable): Variable {
  const out = tape.variable(geluKernel(tape.ctx, x.value), x.requiresGrad, 'gelu');
  tape.onBackward(() => {
    if (out.grad && x.requiresGrad) tape.addGrad(x, geluBackward(tape.ctx, x.value, out.grad));
  });
  return out;
}

export function layerNorm(tape: Tape, x: Variable, gamma: Variable, beta: Variable, eps = 1e-5): Variable {
  const { ctx } = tape;
  const r = layerNormKernel(ctx, x.value, gamma.value, beta.value, { eps });
  tape.save(r.mean);
  tape.save(r.rstd);
  const out = tape.variable(r.y, tape.needsGrad(x, gamma, beta), 'layerNorm');
  tape.onBackward(() => {
    const dy = out.grad;
    if (!dy) return;
    if (x.requiresGrad) tape.addGrad(x, layerNormBackward(ctx, x.value, gamma.value, r.mean, r.rstd, dy));
    if (gamma.requiresGrad || beta.requiresGrad) {
      const g = layerNormParamGrads(ctx, x.value, r.mean, r.rstd, dy);
      tape.addGrad(gamma, g.dgamma);
      tape.addGrad(beta, g.dbeta);
    }
  });
  return out;
}

/** The same buffer seen with another shape of the same size (no copy). */
export function reshape(t: GpuTensor, shape: readonly number[]): GpuTensor {
  const size = shape.reduce((a, d) => a * d, 1);
  if (size !== t.size) throw new Error(`reshape: [${t.shape.join(', ')}] has ${t.size} elements, not ${size}`);
  return { ...t, shape: [...shape] };
}

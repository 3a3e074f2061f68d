import { matmul } from '../kernels/matmul';
import { ones, reshape } from './ops';
import type { Tape, Variable } from './tape';

/** A LoRA pair on one projection: delta W = scale * (B A)^T in Conv1D's [in, out] layout. */
export interface LoraPair {
  /** [r, in] */
  A: Variable;
  /** [out, r]; zero at initialisation, so an untrained adapter changes nothing. */
  B: Variable;
  /** alpha / r */
  scale: number;
}

/**
 * y = x W + b + scale * (x A^T) B^T for W stored [in, out] (GPT-2's Conv1D). The low-rank
 * term is added inside the tiles of the big matmul (its epilogue), forward and backward:
 * dx = dy W^T + scale * (dy B) A, dA = scale * (dy B)^T x, dB = scale * dy^T (x A^T).
 */
export function loraLinear(tape: Tape, x: Variable, W: Variable, b: Variable | undefined, lora: LoraPair): Variable {
  const { ctx } = tape;
  const M = x.shape[0];
  const N = W.shape[1];
  const { A, B, scale } = lora;
  const xa = tape.save(matmul(ctx, x.value, A.value, { transB: true }));
  const y = matmul(ctx, x.value, W.value, { lowRank: { u: xa, v: B.value, scale } });
  const col = b ? ones(tape, M) : null;
  if (b && col) matmul(ctx, col, reshape(b.value, [1, N]), { out: y, accumulate: true });
  const out = tape.variable(y, tape.needsGrad(x, W, A, B, ...(b ? [b] : [])), 'loraLinear');
  tape.onBackward(() => {
    const dy = out.grad;
    if (!dy) return;
    const dyb = matmul(ctx, dy, B.value); // [M, r]
    if (x.requiresGrad) {
      tape.addGrad(x, matmul(ctx, dy, W.value, { transB: true, lowRank: { u: dyb, v: A.value, vTransposed: true, scale } }));
    }
    if (A.requiresGrad) tape.addGrad(A, matmul(ctx, dyb, x.value, { transA: true, alpha: scale }));
    if (B.requiresGrad) tape.addGrad(B, matmul(ctx, dy, xa, { transA: true, alpha: scale }));
    if (W.requiresGrad) tape.addGrad(W, matmul(ctx, x.value, dy, { transA: true }));
    if (b && col && b.requiresGrad) tape.addGrad(b, reshape(matmul(ctx, col, dy, { transA: true }), [N]));
    ctx.release(dyb);
  });
  return out;
}

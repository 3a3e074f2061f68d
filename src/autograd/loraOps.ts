import { accumulate } from '../kernels/accumulate';
import { dropout } from '../kernels/dropout';
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
  /** PEFT's lora_dropout: rate of dropout on the input of the low-rank branch only. It
   *  applies on training tapes (those with a seed) and is the identity elsewhere. */
  dropout?: number;
}

/**
 * y = x W + b + scale * (d(x) A^T) B^T for W stored [in, out] (GPT-2's Conv1D), where d is
 * the pair's dropout on training tapes and the identity otherwise. The low-rank term is
 * added inside the tiles of the big matmul (its epilogue), forward and backward:
 * dx = dy W^T + scale * d'((dy B) A), dA = scale * (dy B)^T d(x), dB = scale * dy^T (d(x) A^T),
 * where d' applies the same mask as d (same seed), so without dropout dx is one fused matmul.
 */
export function loraLinear(tape: Tape, x: Variable, W: Variable, b: Variable | undefined, lora: LoraPair): Variable {
  const { ctx } = tape;
  const M = x.shape[0];
  const N = W.shape[1];
  const { A, B, scale } = lora;
  const rate = lora.dropout ?? 0;
  const seed = rate > 0 ? tape.nextSeed() : null;
  const xl = seed === null ? x.value : tape.save(dropout(ctx, x.value, rate, seed));
  const xa = tape.save(matmul(ctx, xl, A.value, { transB: true }));
  const y = matmul(ctx, x.value, W.value, { lowRank: { u: xa, v: B.value, scale } });
  const col = b ? ones(tape, M) : null;
  if (b && col) matmul(ctx, col, reshape(b.value, [1, N]), { out: y, accumulate: true });
  const out = tape.variable(y, tape.needsGrad(x, W, A, B, ...(b ? [b] : [])), 'loraLinear');
  tape.onBackward(() => {
    const dy = out.grad;
    if (!dy) return;
    const dyb = matmul(ctx, dy, B.value); // [M, r]
    if (x.requiresGrad && seed === null) {
      tape.addGrad(x, matmul(ctx, dy, W.value, { transB: true, lowRank: { u: dyb, v: A.value, vTransposed: true, scale } }));
    } else if (x.requiresGrad && seed !== null) {
      const dx = matmul(ctx, dy, W.value, { transB: true });
      const low = matmul(ctx, dyb, A.value, { alpha: scale });
      const masked = dropout(ctx, low, rate, seed);
      accumulate(ctx, dx, masked);
      ctx.release(low, masked);
      tape.addGrad(x, dx);
    }
    if (A.requiresGrad) tape.addGrad(A, matmul(ctx, dyb, xl, { transA: true, alpha: scale }));
    if (B.requiresGrad) tape.addGrad(B, matmul(ctx, dy, xa, { transA: true, alpha: scale }));
    if (W.requiresGrad) tape.addGrad(W, matmul(ctx, x.value, dy, { transA: true }));
    if (b && col && b.requiresGrad) tape.addGrad(b, reshape(matmul(ctx, col, dy, { transA: true }), [N]));
    ctx.release(dyb);
  });
  return out;
}

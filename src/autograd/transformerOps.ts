import type { GpuTensor } from '../gpu/tensor';
import { attentionBackward, attentionForward } from '../kernels/attention';
import { crossEntropyLossAndGrad } from '../kernels/crossEntropy';
import { embedding, embeddingBackward } from '../kernels/embedding';
import { mergeHeads, mergeHeadsBackward, splitQkv, splitQkvBackward } from '../kernels/heads';
import { matmul } from '../kernels/matmul';
import { ShapeError } from '../gpu/errors';
import type { Tape, Variable } from './tape';

/**
 * Token plus learned position embeddings: x[b*T + t] = wte[ids] + wpe[positions].
 * ids and positions are u32 tensors [B, T] (data, not variables).
 */
export function embed(tape: Tape, ids: GpuTensor, positions: GpuTensor, wte: Variable, wpe: Variable): Variable {
  const { ctx } = tape;
  const C = wte.shape[1];
  const rows = ids.size;
  const x = embedding(ctx, ids, wte.value);
  embedding(ctx, positions, wpe.value, { out: x, accumulate: true });
  const out = tape.variable({ ...x, shape: [rows, C] }, tape.needsGrad(wte, wpe), 'embed');
  tape.onBackward(() => {
    const dx = out.grad;
    if (!dx) return;
    const d = { ...dx, shape: [...ids.shape, C] };
    for (const [table, which] of [
      [wte, ids],
      [wpe, positions],
    ] as const) {
      if (!table.requiresGrad) continue;
      const g = ctx.zeros(table.shape, 'f32', 'embed.grad');
      embeddingBackward(ctx, which, d, g);
      tape.addGrad(table, g);
    }
  });
  return out;
}

/**
 * Rows `rows` (u32 [L]) of x [R, C] as a new [L, C] variable (the positions whose logits a
 * loss needs). Backward scatters the gradient back into zeros of x's shape.
 */
export function selectRows(tape: Tape, x: Variable, rows: GpuTensor): Variable {
  const { ctx } = tape;
  const out = tape.variable(embedding(ctx, rows, x.value), x.requiresGrad, 'selectRows');
  tape.onBackward(() => {
    if (!out.grad || !x.requiresGrad) return;
    const g = ctx.zeros(x.shape, 'f32', 'selectRows.grad');
    embeddingBackward(ctx, rows, out.grad, g);
    tape.addGrad(x, g);
  });
  return out;
}

/** y = x W^T with W [N, K]: the LM head over the (tied) token embedding table. */
export function linearTransposed(tape: Tape, x: Variable, W: Variable): Variable {
  const { ctx } = tape;
  const out = tape.variable(matmul(ctx, x.value, W.value, { transB: true }), tape.needsGrad(x, W), 'linearT');
  tape.onBackward(() => {
    const dy = out.grad;
    if (!dy) return;
    if (x.requiresGrad) tape.addGrad(x, matmul(ctx, dy, W.value));
    if (W.requiresGrad) tape.addGrad(W, matmul(ctx, dy, x.value, { transA: true }));
  });
  return out;
}

/**
 * GPT-2 causal self-attention core: qkv [B*T, 3C] (q, k, v blocks, heads inside each) ->
 * [B*T, C], before the output projection.
 */
export function causalSelfAttention(tape: Tape, qkv: Variable, B: number, T: number, H: number): Variable {
  const { ctx } = tape;
  const C = qkv.shape[1] / 3;
  const heads = splitQkv(ctx, { ...qkv.value, shape: [B, T, 3 * C] }, B, T, H);
  const att = attentionForward(ctx, heads.q, heads.k, heads.v);
  const merged = mergeHeads(ctx, att.out);
  for (const t of [heads.q, heads.k, heads.v, att.out, att.lse]) tape.save(t);
  if (att.probs) tape.save(att.probs);
  const out = tape.variable({ ...merged, shape: [B * T, C] }, qkv.requiresGrad, 'attention');
  tape.onBackward(() => {
    const dy = out.grad;
    if (!dy || !qkv.requiresGrad) return;
    const dOut = mergeHeadsBackward(ctx, dy, B, T, H);
    const g = attentionBackward(ctx, { ...att, q: heads.q, k: heads.k, v: heads.v }, dOut);
    const dqkv = splitQkvBackward(ctx, g.dq, g.dk, g.dv);
    ctx.release(dOut, g.dq, g.dk, g.dv);
    tape.addGrad(qkv, { ...dqkv, shape: [B * T, 3 * C] });
  });
  return out;
}

/**
 * Masked cross-entropy of logits [rows, V] against targets (u32 [rows]) weighted by mask
 * (f32 [rows], 1 on answer tokens). Returns the mean loss as a GPU tensor [1] (read it
 * asynchronously); the logits' gradient is computed in the same kernel and handed over at
 * backward. `gradScale` scales it (1 / micro-batches under gradient accumulation).
 */
export function maskedCrossEntropy(
  tape: Tape,
  logits: Variable,
  targets: GpuTensor,
  mask: GpuTensor,
  gradScale = 1,
): GpuTensor {
  const { ctx } = tape;
  const r = crossEntropyLossAndGrad(ctx, logits.value, targets, mask, { gradScale });
  tape.save(r.losses);
  tape.save(r.meanLoss);
  // Owned by the tape until backward hands it over, so an evaluation-only tape frees it.
  tape.save(r.dlogits);
  tape.onBackward(() => {
    if (!logits.requiresGrad) return;
    tape.unsave(r.dlogits);
    tape.addGrad(logits, r.dlogits);
  });
  return r.meanLoss;
}

/**
 * The table with rows `ids` replaced by `rows` [ids.length, C] (the others copied): SEE's
 * experts own the embedding rows of their accept/reject markers, which feed both the input
 * embedding and the tied LM head. The copy is a few copy commands, no dispatch. Backward
 * gives `rows` the gradient of their rows and the table the gradient of all others.
 */
export function replaceRows(tape: Tape, table: Variable, ids: readonly number[], rows: Variable): Variable {
  const { ctx } = tape;
  const [V, C] = table.shape;
  if (rows.shape.length !== 2 || rows.shape[0] !== ids.length || rows.shape[1] !== C) {
    throw new ShapeError('replaceRows', `rows has shape [${rows.shape.join(', ')}]; expected [${ids.length}, ${C}]`);
  }
  if (ids.some((id) => !Number.isInteger(id) || id < 0 || id >= V) || new Set(ids).size !== ids.length) {
    throw new ShapeError('replaceRows', `ids [${ids.join(', ')}] must be distinct rows of a ${V}-row table`);
  }
  const out = ctx.clone(table.value, 'replaceRows');
  ids.forEach((id, i) => ctx.copy(rows.value, out, { srcOffset: i * C, dstOffset: id * C, count: C }));
  const v = tape.variable(out, tape.needsGrad(table, rows), 'replaceRows');
  tape.onBackward(() => {
    const g = v.grad;
    if (!g) return;
    if (rows.requiresGrad) {
      const gr = ctx.empty([ids.length, C], 'f32', 'replaceRows.rowsGrad');
      ids.forEach((id, i) => ctx.copy(g, gr, { srcOffset: id * C, dstOffset: i * C, count: C }));
      tape.addGrad(rows, gr);
    }
    if (table.requiresGrad) {
      const gt = ctx.clone(g, 'replaceRows.tableGrad');
      const zero = ctx.zeros([C], 'f32', 'replaceRows.zero');
      for (const id of ids) ctx.copy(zero, gt, { dstOffset: id * C });
      ctx.release(zero);
      tape.addGrad(table, gt);
    }
  });
  return v;
}

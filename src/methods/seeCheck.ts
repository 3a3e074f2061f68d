import { Tape, type Parameter } from '../autograd/tape';
import { promptIds, rightPadded } from '../eval/evaluate';
import { ShapeError } from '../gpu/errors';
import type { GpuTensor } from '../gpu/tensor';
import { matmul } from '../kernels/matmul';
import type { GptModel } from '../model/gpt';
import type { Tokenizer } from '../tokenizer/tokenizer';

/**
 * SEE's acceptance check: P(<accept>) of every expert for every prompt, read at the
 * prompt's last token, in one batched prefill per chunk of rows. Each row of the batch is
 * (prompt, expert) and runs through its own expert by the adapter pool's per-row gating;
 * the final hidden state is read once and scored against the base token table and against
 * every expert's own marker rows, so row (q, e) gets exactly the distribution expert e
 * alone would give (its marker rows in place of the table's).
 */

/** Room the prompt gets in the context, so the check sees the prompt exactly as the answering pass will. */
export function checkRoom(model: GptModel, maxAnswerTokens: number): number {
  const budget = Math.min(maxAnswerTokens, model.config.n_positions - 2);
  return model.config.n_positions - budget - 1;
}

/** The marker ids of a tokenizer, or a clear error where its vocabulary has none. */
export function markerIds(tokenizer: Tokenizer): { accept: number; reject: number } {
  const { accept, reject } = tokenizer.specials;
  if (accept === undefined || reject === undefined) {
    throw new ShapeError('SEE', `the ${tokenizer.name} tokenizer has no <accept>/<reject> tokens; SEE needs a vocabulary with its markers (the byte-level base)`);
  }
  return { accept, reject };
}

/**
 * acceptance[q][e] = P(<accept> | prompt q) under expert e (pool adapter e with its marker
 * rows markerRows[e], [2, n_embd]: accept then reject). `rowsPerBatch` bounds a prefill.
 * `wanted(q, e)` leaves out rows the caller knows already (their entries stay NaN).
 * The model's gating and token rows are restored afterwards.
 */
export async function acceptanceProbabilities(
  model: GptModel,
  tokenizer: Tokenizer,
  markerRows: readonly Parameter[],
  prompts: readonly string[],
  maxAnswerTokens: number,
  rowsPerBatch = 64,
  wanted: (q: number, e: number) => boolean = () => true,
): Promise<number[][]> {
  const { ctx } = model;
  const pool = model.adapters;
  const K = markerRows.length;
  if (!pool || pool.size !== K) throw new ShapeError('SEE', `the pool holds ${pool?.size ?? 0} experts but ${K} marker-row sets were given`);
  const out = prompts.map(() => new Array<number>(K).fill(NaN));
  if (K === 0 || prompts.length === 0) return out;
  const { accept, reject } = markerIds(tokenizer);
  const C = model.config.n_embd;
  const V = model.config.vocab_size;
  const room = checkRoom(model, maxAnswerTokens);
  const encoded = prompts.map((p) => promptIds(tokenizer, p, room).ids);
  // Rows (prompt, expert), prompts by length so a batch pads little.
  const order = encoded.map((_, i) => i).sort((a, b) => encoded[a].length - encoded[b].length || a - b);
  const rows: { q: number; e: number }[] = order.flatMap((q) => Array.from({ length: K }, (_, e) => ({ q, e }))).filter((r) => wanted(r.q, r.e));
  if (rows.length === 0) return out;

  const stacked = ctx.empty([2 * K, C], 'f32', 'see.markers');
  markerRows.forEach((m, e) => ctx.copy(m.value, stacked, { dstOffset: 2 * e * C }));
  const saved = { gating: pool.gating, tokenRows: model.tokenRows };
  model.tokenRows = null;
  try {
    for (let at = 0; at < rows.length; at += rowsPerBatch) {
      const chunk = rows.slice(at, at + rowsPerBatch);
      const { ids, positions, last, B, T } = rightPadded(
        chunk.map((r) => encoded[r.q]),
        tokenizer.specials.pad,
      );
      pool.gating = { kind: 'perRow', adapterOfRow: chunk.map((r) => r.e) };
      const tIds = ctx.upload(ids, [B, T], 'u32', 'see.ids');
      const tPos = ctx.upload(positions, [B, T], 'u32', 'see.positions');
      const tLast = ctx.upload(last, [B], 'u32', 'see.last');
      const tape = new Tape(ctx);
      let logits: GpuTensor;
      let marks: GpuTensor;
      try {
        const xf = model.finalHidden(tape, tIds, tPos, B, T, tLast);
        logits = matmul(ctx, xf.value, model.params.get('transformer.wte.weight')!.value, { transB: true });
        marks = matmul(ctx, xf.value, stacked, { transB: true });
      } finally {
        tape.dispose();
        ctx.release(tIds, tPos, tLast);
      }
      const [l, mk] = await Promise.all([ctx.readF32(logits), ctx.readF32(marks)]).finally(() => ctx.release(logits, marks));
      chunk.forEach((r, b) => {
        const row = l.subarray(b * V, (b + 1) * V);
        const la = mk[b * 2 * K + 2 * r.e];
        const lr = mk[b * 2 * K + 2 * r.e + 1];
        let max = Math.max(la, lr);
        for (let v = 0; v < V; v++) if (v !== accept && v !== reject && row[v] > max) max = row[v];
        let sum = Math.exp(la - max) + Math.exp(lr - max);
        for (let v = 0; v < V; v++) if (v !== accept && v !== reject) sum += Math.exp(row[v] - max);
        out[r.q][r.e] = Math.exp(la - max) / sum;
      });
    }
  } finally {
    pool.gating = saved.gating;
    model.tokenRows = saved.tokenRows;
    ctx.release(stacked);
  }
  return out;
}

/** The expert that answers: the newest whose acceptance exceeds tau, or null (the base model). */
export function handlerOf(acceptance: readonly number[], tau: number): number | null {
  for (let e = acceptance.length - 1; e >= 0; e--) if (acceptance[e] > tau) return e;
  return null;
}

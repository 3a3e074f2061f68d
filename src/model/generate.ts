import { Tape } from '../autograd/tape';
import type { GptModel } from './gpt';

export interface GenerateOptions {
  maxNewTokens: number;
  /** Generation of a row stops after this token (it is included in the output). */
  endId: number;
  /** Token used to pad shorter rows of the batch (never attended to by the rows' last token). */
  padId: number;
}

/**
 * Greedy decoding for a batch of prompts (token ids). Rows are right-padded, so under the
 * causal mask each row's last real token sees only its own prompt and output. Returns the
 * new tokens of each row. This version re-runs the whole sequence per token.
 */
export async function generateGreedy(model: GptModel, prompts: readonly number[][], opts: GenerateOptions): Promise<number[][]> {
  const { ctx, config } = model;
  const V = config.vocab_size;
  const seqs = prompts.map((p) => [...p]);
  const outs: number[][] = prompts.map(() => []);
  const done = prompts.map(() => false);
  for (let step = 0; step < opts.maxNewTokens && done.some((d) => !d); step++) {
    const T = Math.max(...seqs.map((s) => s.length));
    if (T > config.n_positions) {
      throw new Error(`generateGreedy: sequence length ${T} exceeds n_positions ${config.n_positions}`);
    }
    const B = seqs.length;
    const ids = new Uint32Array(B * T).fill(opts.padId);
    const positions = new Uint32Array(B * T);
    seqs.forEach((s, b) => {
      for (let t = 0; t < T; t++) positions[b * T + t] = t;
      s.forEach((id, t) => (ids[b * T + t] = id));
    });
    const tIds = ctx.upload(ids, [B, T], 'u32');
    const tPos = ctx.upload(positions, [B, T], 'u32');
    const tape = new Tape(ctx);
    const logits = await ctx.readF32(model.forward(tape, tIds, tPos, B, T).value);
    tape.dispose();
    ctx.release(tIds, tPos);
    seqs.forEach((s, b) => {
      if (done[b]) return;
      const row = (b * T + s.length - 1) * V;
      let best = 0;
      for (let v = 1; v < V; v++) if (logits[row + v] > logits[row + best]) best = v;
      s.push(best);
      outs[b].push(best);
      if (best === opts.endId) done[b] = true;
    });
  }
  return outs;
}

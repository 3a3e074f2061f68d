import type { GpuTensor } from '../gpu/tensor';
import { ShapeError } from '../gpu/errors';
import { accumulate } from '../kernels/accumulate';
import { dropout } from '../kernels/dropout';
import { loraBackward, loraForward } from '../kernels/lora';
import { matmul } from '../kernels/matmul';
import { multiLoraBackward, multiLoraForward, NO_ADAPTER } from '../kernels/multiLora';
import { topkRoute, topkRouteBackward, type Routing } from '../kernels/topkRouting';
import { ones, reshape } from './ops';
import { Variable, type Tape } from './tape';

/**
 * The adapter pool's one autograd op. A projection y = x W + b (W stored [K, N], GPT-2's
 * Conv1D) gets the gate-weighted sum of low-rank updates from a pool of LoRA pairs:
 *
 *   y[m] = x[m] W + b + sum_j g_j(m) s B_j A_j d(x[m])
 *
 * with s = alpha / r, d the pool's dropout on training tapes (identity elsewhere), and the
 * gates g from `slots`:
 *   - `all`:      every pair, g = 1 (one LoRA; O-LoRA's frozen earlier pairs plus a new one);
 *   - `perToken`: one adapter per token, g = 1 (SEE's batched check: each batch row with its
 *                 own expert; NO_ADAPTER leaves a row on the base);
 *   - `routed`:   per token, g = top-k of softmax(x R) renormalised (MoSEs' task router R).
 * A pool of one full-width pair under `all` runs the fused LoRA kernels (src/kernels/lora.ts:
 * the rank-r term in the matmul epilogue). Under `all`, frozen full-width pairs beside at
 * most one trainable pair are merged into the base weight once (MergedWeights) and the
 * trainable pair runs on the fused kernels over it: O-LoRA's forward then costs SeqLoRA's
 * however many tasks it has frozen. Everything else runs the multi-adapter kernels
 * (src/kernels/multiLora.ts) on the pairs stacked for the call. Frozen pairs (and routers)
 * get no gradient; trainable ones get theirs copied out of the stacked gradients.
 */

/** One LoRA pair: A [r, K], B [n, r] writing output columns [column, column + n). */
export interface PoolPair {
  A: Variable;
  B: Variable;
  column: number;
}

export interface ProjectionPool {
  /** pairs[e][s]: adapter e's pair on slice s (a single full-width slice unless q/k/v parts). */
  pairs: readonly (readonly PoolPair[])[];
  /** alpha / r, shared by the pool. */
  scale: number;
  /** PEFT's lora_dropout on the branch input (training tapes only). */
  dropout: number;
  /** Where the pool keeps base weights with its frozen pairs merged in (absent: never merge). */
  merged?: MergedWeights;
}

const tensorIds = new WeakMap<GpuTensor, number>();
let nextTensorId = 0;
const tensorId = (t: GpuTensor) => tensorIds.get(t) ?? (tensorIds.set(t, nextTensorId), nextTensorId++);

/**
 * Base weights with frozen LoRA pairs merged in, W + s sum_j A_j^T B_j^T ([K, N], Conv1D),
 * one per base weight, rebuilt when the frozen pairs change (they are read-only while
 * frozen). The merge changes only the order of the float sums, not what is computed.
 */
export class MergedWeights {
  private readonly entries = new Map<GpuTensor, { key: string; merged: GpuTensor }>();

  get(ctx: Tape['ctx'], W: GpuTensor, frozen: readonly PoolPair[], scale: number): GpuTensor {
    const key = `${scale}:${frozen.map((p) => `${tensorId(p.A.value)}/${tensorId(p.B.value)}`).join(',')}`;
    const hit = this.entries.get(W);
    if (hit?.key === key) return hit.merged;
    if (hit) ctx.release(hit.merged);
    const merged = ctx.clone(W, 'pool.mergedW');
    for (const p of frozen) matmul(ctx, p.A.value, p.B.value, { transA: true, transB: true, alpha: scale, out: merged, accumulate: true });
    this.entries.set(W, { key, merged });
    return merged;
  }

  dispose(ctx: Tape['ctx']): void {
    for (const e of this.entries.values()) ctx.release(e.merged);
    this.entries.clear();
  }
}

export type Slots =
  | { kind: 'all' }
  | { kind: 'perToken'; adapterOfToken: Uint32Array }
  | { kind: 'routed'; router: Variable; topK: number; onRouting?: (routing: Routing) => void };

export function adaptedLinear(tape: Tape, x: Variable, W: Variable, b: Variable | undefined, pool: ProjectionPool, slots: Slots): Variable {
  const N = W.shape[1];
  const [first] = pool.pairs;
  if (!first || first.length === 0) throw new ShapeError('adaptedLinear', 'the pool has no pairs on this projection');
  const fullWidth = pool.pairs.every((slices) => slices.length === 1 && slices[0].column === 0 && slices[0].B.shape[0] === N);
  if (slots.kind === 'all' && fullWidth) {
    if (pool.pairs.length === 1) return fusedLora(tape, x, W, b, first[0], pool);
    const pairs = pool.pairs.map((slices) => slices[0]);
    const live = pairs.filter((p) => p.A.requiresGrad || p.B.requiresGrad);
    if (pool.merged && live.length <= 1 && pool.dropout === 0 && !W.requiresGrad) {
      const frozen = pairs.filter((p) => !live.includes(p));
      const merged = new Variable(pool.merged.get(tape.ctx, W.value, frozen, pool.scale), false, 'pool.mergedW');
      return live.length === 1 ? fusedLora(tape, x, merged, b, live[0], pool) : frozenLinear(tape, x, merged, b);
    }
  }
  return pooledLora(tape, x, W, b, pool, slots);
}

/** y = x W + b with W frozen: the merged base of a pool with nothing left to train. */
function frozenLinear(tape: Tape, x: Variable, W: Variable, b: Variable | undefined): Variable {
  const { ctx } = tape;
  const out = tape.variable(matmul(ctx, x.value, W.value, { bias: b?.value }), tape.needsGrad(x, ...(b ? [b] : [])), 'adaptedLinear');
  tape.onBackward(() => {
    const dy = out.grad;
    if (!dy) return;
    if (x.requiresGrad) tape.addGrad(x, matmul(ctx, dy, W.value, { transB: true }));
    baseGrads(tape, x, W, b, dy);
  });
  return out;
}

/** Gradients of the base weight and bias (full fine-tuning under an adapter). */
function baseGrads(tape: Tape, x: Variable, W: Variable, b: Variable | undefined, dy: GpuTensor): void {
  const { ctx } = tape;
  const [M] = x.shape;
  const N = W.shape[1];
  if (W.requiresGrad) tape.addGrad(W, matmul(ctx, x.value, dy, { transA: true }));
  if (b && b.requiresGrad) tape.addGrad(b, reshape(matmul(ctx, ones(tape, M), dy, { transA: true }), [N]));
}

/** A pool of one: the fused kernels, five dispatches for forward and backward. */
function fusedLora(tape: Tape, x: Variable, W: Variable, b: Variable | undefined, pair: PoolPair, pool: ProjectionPool): Variable {
  const { ctx } = tape;
  const { A, B } = pair;
  const { scale } = pool;
  const seed = pool.dropout > 0 ? tape.nextSeed() : null;
  const xBranch = seed === null ? undefined : tape.save(dropout(ctx, x.value, pool.dropout, seed));
  const { y, xa } = loraForward(ctx, x.value, W.value, A.value, B.value, scale, { conv1d: true, xBranch, bias: b?.value });
  tape.save(xa);
  const out = tape.variable(y, tape.needsGrad(x, W, A, B, ...(b ? [b] : [])), 'adaptedLinear');
  tape.onBackward(() => {
    const dy = out.grad;
    if (!dy) return;
    const branchDropout = seed === null ? undefined : { rate: pool.dropout, seed };
    if (A.requiresGrad || B.requiresGrad) {
      const g = loraBackward(ctx, x.value, W.value, A.value, B.value, scale, xa, dy, {
        conv1d: true,
        xBranch,
        branchDropout,
        skipDx: !x.requiresGrad,
      });
      if (g.dx) tape.addGrad(x, g.dx);
      tape.addGrad(A, g.dA);
      tape.addGrad(B, g.dB);
    } else if (x.requiresGrad) {
      // A frozen adapter (evaluated, not trained): only the input's gradient.
      const dyb = matmul(ctx, dy, B.value);
      const dx = matmul(ctx, dy, W.value, { transB: true, lowRank: branchDropout ? undefined : { u: dyb, v: A.value, vTransposed: true, scale } });
      if (branchDropout) {
        const low = matmul(ctx, dyb, A.value, { alpha: scale });
        const masked = dropout(ctx, low, branchDropout.rate, branchDropout.seed);
        accumulate(ctx, dx, masked);
        ctx.release(low, masked);
      }
      ctx.release(dyb);
      tape.addGrad(x, dx);
    }
    baseGrads(tape, x, W, b, dy);
  });
  return out;
}

/** Stacks every considered pair into A [P, r, K] and B [P, N, r] (slices at their columns). */
function stackPairs(tape: Tape, pairs: readonly PoolPair[], N: number): { A: GpuTensor; B: GpuTensor } {
  const { ctx } = tape;
  const [r, K] = pairs[0].A.shape;
  const P = pairs.length;
  const fullWidth = pairs.every((p) => p.column === 0 && p.B.shape[0] === N);
  const A = tape.save(ctx.empty([P, r, K], 'f32', 'pool.A'));
  const B = tape.save(fullWidth ? ctx.empty([P, N, r], 'f32', 'pool.B') : ctx.zeros([P, N, r], 'f32', 'pool.B'));
  pairs.forEach((p, i) => {
    if (p.A.shape[0] !== r || p.A.shape[1] !== K || p.B.shape[1] !== r || p.column + p.B.shape[0] > N) {
      throw new ShapeError('adaptedLinear', `pair ${i} has A [${p.A.shape}] and B [${p.B.shape}] at column ${p.column}; the pool needs A [${r}, ${K}] and B [n, ${r}] within ${N} columns`);
    }
    ctx.copy(p.A.value, A, { dstOffset: i * r * K });
    ctx.copy(p.B.value, B, { dstOffset: (i * N + p.column) * r });
  });
  return { A, B };
}

function pooledLora(tape: Tape, x: Variable, W: Variable, b: Variable | undefined, pool: ProjectionPool, slots: Slots): Variable {
  const { ctx } = tape;
  const [M, K] = x.shape;
  const N = W.shape[1];
  const S = pool.pairs[0].length;
  if (pool.pairs.some((slices) => slices.length !== S)) throw new ShapeError('adaptedLinear', 'every adapter of a pool must have the same slices');

  // Which adapters this call can reach: a router sees only the pool as it was when it was made.
  let E = pool.pairs.length;
  let routing: Routing | null = null;
  let logits: GpuTensor | null = null;
  if (slots.kind === 'routed') {
    if (S !== 1) throw new ShapeError('adaptedLinear', 'routed gates need whole-projection pairs, not q/k/v slices');
    const { router, topK } = slots;
    if (router.shape.length !== 2 || router.shape[0] !== K || !(router.shape[1] >= 1 && router.shape[1] <= E)) {
      throw new ShapeError('adaptedLinear', `router has shape [${router.shape}], expected [${K}, E] with E in 1..${E} (the pool's size)`);
    }
    E = router.shape[1];
    if (!Number.isInteger(topK) || topK < 1 || topK > E) throw new ShapeError('adaptedLinear', `topK must be an integer in 1..${E}, got ${topK}`);
    logits = tape.save(matmul(ctx, x.value, router.value));
    routing = topkRoute(ctx, logits, topK);
    tape.save(routing.indices);
    tape.save(routing.gates);
    tape.save(routing.probs);
    slots.onRouting?.(routing);
  }
  const pairs = pool.pairs.slice(0, E).flat();
  const stack = stackPairs(tape, pairs, N);

  let idx: GpuTensor;
  let w: GpuTensor;
  if (routing) {
    idx = routing.indices;
    w = routing.gates;
  } else {
    const k = slots.kind === 'all' ? pairs.length : S;
    const ids = new Uint32Array(M * k);
    if (slots.kind === 'all') {
      for (let m = 0; m < M; m++) for (let j = 0; j < k; j++) ids[m * k + j] = j;
    } else if (slots.kind === 'perToken') {
      if (slots.adapterOfToken.length !== M) {
        throw new ShapeError('adaptedLinear', `adapterOfToken has ${slots.adapterOfToken.length} entries for ${M} tokens`);
      }
      for (let m = 0; m < M; m++) {
        const e = slots.adapterOfToken[m];
        if (e !== NO_ADAPTER && !(e < E)) throw new ShapeError('adaptedLinear', `token ${m} asks for adapter ${e}; the pool holds 0..${E - 1}`);
        for (let s = 0; s < S; s++) ids[m * k + s] = e === NO_ADAPTER ? NO_ADAPTER : e * S + s;
      }
    }
    idx = tape.save(ctx.upload(ids, [M, k], 'u32', 'pool.idx'));
    w = tape.save(ctx.upload(new Float32Array(M * k).fill(1), [M, k], 'f32', 'pool.w'));
  }

  const seed = pool.dropout > 0 ? tape.nextSeed() : null;
  const xBranch = seed === null ? x.value : tape.save(dropout(ctx, x.value, pool.dropout, seed));
  const y = matmul(ctx, x.value, W.value, { bias: b?.value });
  const { xa } = multiLoraForward(ctx, xBranch, stack.A, stack.B, idx, w, pool.scale, { base: y, out: y });
  tape.save(xa);

  const router = slots.kind === 'routed' ? slots.router : null;
  const trainable = pairs.filter((p) => p.A.requiresGrad || p.B.requiresGrad);
  const out = tape.variable(y, tape.needsGrad(x, W, ...(b ? [b] : []), ...(router ? [router] : [])) || trainable.length > 0, 'adaptedLinear');
  tape.onBackward(() => {
    const dy = out.grad;
    if (!dy) return;
    const needLow = x.requiresGrad || trainable.length > 0 || !!router?.requiresGrad;
    let dx: GpuTensor | null = x.requiresGrad ? matmul(ctx, dy, W.value, { transB: true }) : null;
    if (needLow) {
      const g = multiLoraBackward(ctx, xBranch, stack.A, stack.B, idx, w, pool.scale, xa, dy);
      if (dx) {
        const low = seed === null ? g.dx : dropout(ctx, g.dx, pool.dropout, seed);
        accumulate(ctx, dx, low);
        if (low !== g.dx) ctx.release(low);
      }
      const [r] = pairs[0].A.shape;
      pairs.forEach((p, i) => {
        if (p.A.requiresGrad) {
          const dA = ctx.empty(p.A.shape, 'f32', 'pool.dA');
          ctx.copy(g.dA, dA, { srcOffset: i * r * K, count: dA.size });
          tape.addGrad(p.A, dA);
        }
        if (p.B.requiresGrad) {
          const dB = ctx.empty(p.B.shape, 'f32', 'pool.dB');
          ctx.copy(g.dB, dB, { srcOffset: (i * N + p.column) * r, count: dB.size });
          tape.addGrad(p.B, dB);
        }
      });
      if (routing && router && (router.requiresGrad || dx)) {
        const dlogits = topkRouteBackward(ctx, routing.probs, routing.indices, routing.gates, g.dw);
        if (router.requiresGrad) tape.addGrad(router, matmul(ctx, x.value, dlogits, { transA: true }));
        if (dx) matmul(ctx, dlogits, router.value, { transB: true, out: dx, accumulate: true });
        ctx.release(dlogits);
      }
      ctx.release(g.dx, g.dA, g.dB, g.dw);
    }
    if (dx) tape.addGrad(x, dx);
    baseGrads(tape, x, W, b, dy);
  });
  return out;
}

import type { GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import { grid1d } from '../gpu/grid';
import { Params } from '../gpu/params';
import { shapeToString, type GpuTensor } from '../gpu/tensor';
import { expectDType, expectFinite, expectNoAlias, expectRank, expectShape } from './check';

const WG = 64;
const ARGMAX = { name: 'select_tokens.argmax', shader: 'select_tokens', entryPoint: 'argmax_tokens', constants: { WG } };
const SAMPLE = { name: 'select_tokens.sample', shader: 'select_tokens', entryPoint: 'sample_tokens', constants: { WG } };

export interface SelectTokensOptions {
  /** 0 (the default) picks the largest logit; > 0 samples from softmax(logits / temperature). */
  temperature?: number;
  /** f32 (B) in [0, 1): one uniform draw per row, required when temperature > 0. */
  uniforms?: GpuTensor;
  out?: GpuTensor;
}

/**
 * One token per row of logits (B, V) -> u32 (B): the first largest logit (greedy), or a
 * draw from softmax(logits / temperature) by inverse CDF at uniforms[b], so a seeded
 * host RNG makes sampling reproducible and only the token ids need to come back.
 */
export function selectTokens(ctx: GpuContext, logits: GpuTensor, opts: SelectTokensOptions = {}): GpuTensor {
  const K = 'selectTokens';
  expectDType(K, 'logits', logits, 'f32');
  expectRank(K, 'logits', logits, 2);
  const [B, V] = logits.shape;
  if (B === 0 || V === 0) throw new ShapeError(K, `logits has an empty shape ${shapeToString(logits.shape)}`);
  const temperature = opts.temperature ?? 0;
  expectFinite(K, 'temperature', temperature);
  if (temperature < 0) throw new ShapeError(K, `temperature must be >= 0 (0 is greedy), got ${temperature}`);
  const invT = temperature > 0 ? Math.LOG2E / temperature : 0;
  if (!(invT <= 3.4e38)) {
    throw new ShapeError(K, `temperature ${temperature} is too small to represent in f32; use 0 for greedy decoding`);
  }
  if (temperature > 0) {
    if (!opts.uniforms) throw new ShapeError(K, 'uniforms (f32 [B]) are required when temperature > 0');
    expectDType(K, 'uniforms', opts.uniforms, 'f32');
    expectShape(K, 'uniforms', opts.uniforms, [B]);
  }
  if (opts.out) {
    expectDType(K, 'out', opts.out, 'u32');
    expectShape(K, 'out', opts.out, [B]);
    expectNoAlias(K, { out: opts.out }, { logits, ...(opts.uniforms ? { uniforms: opts.uniforms } : {}) });
  }
  const out = opts.out ?? ctx.empty([B], 'u32', 'selectTokens.out');
  const params = new Params().u32(B).u32(V).f32(invT).bytes();
  const workgroups = grid1d(ctx, B, WG);
  if (temperature > 0 && opts.uniforms) {
    ctx.dispatch(SAMPLE, { params, buffers: [logits, out, opts.uniforms], workgroups });
  } else {
    ctx.dispatch(ARGMAX, { params, buffers: [logits, out], workgroups });
  }
  return out;
}

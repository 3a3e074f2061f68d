#!/usr/bin/env node
// Runs every test layer (unit and kernel tests under Vitest, end-to-end under Playwright)
// and ends with one line that totals them: "N passed, N failed, N skipped".
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';

const outDir = 'test-results/summary';
rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });

function run(label, cmd, args, env = {}) {
  console.log(`\n=== ${label}: ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, ...env } });
  return r.status ?? 1;
}

function readJson(path) {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return null;
  }
}

const layers = [];

const vitestCode = run('unit + kernel tests (Vitest)', 'npx', [
  'vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${outDir}/vitest.json`,
]);
const v = readJson(`${outDir}/vitest.json`);
layers.push({
  name: 'vitest',
  code: vitestCode,
  passed: v?.numPassedTests ?? 0,
  failed: v ? v.numFailedTests + (v.numFailedTestSuites ?? 0) : 0,
  skipped: v ? (v.numPendingTests ?? 0) + (v.numTodoTests ?? 0) : 0,
  parsed: v !== null,
});

const pwCode = run('end-to-end tests (Playwright, Chromium)', 'npx', ['playwright', 'test', '--reporter=list,json'], {
  PLAYWRIGHT_JSON_OUTPUT_NAME: `${outDir}/playwright.json`,
});
const p = readJson(`${outDir}/playwright.json`);
layers.push({
  name: 'playwright',
  code: pwCode,
  passed: p?.stats?.expected ?? 0,
  failed: p ? (p.stats.unexpected ?? 0) + (p.stats.flaky ?? 0) + (p.errors?.length ?? 0) : 0,
  skipped: p?.stats?.skipped ?? 0,
  parsed: p !== null,
});

let passed = 0, failed = 0, skipped = 0;
console.log('');
for (const l of layers) {
  // A runner that crashed or wrote no report counts as one failure, so a broken layer
  // can never read as green.
  const broken = l.code !== 0 && l.failed === 0;
  if (!l.parsed || broken) l.failed += 1;
  console.log(`${l.name}: ${l.passed} passed, ${l.failed} failed, ${l.skipped} skipped (exit ${l.code})`);
  passed += l.passed;
  failed += l.failed;
  skipped += l.skipped;
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 ? 1 : 0);

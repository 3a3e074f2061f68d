#!/usr/bin/env node
// Runs every test layer (unit and kernel tests under Vitest, the production build, end-to-end
// under Playwright against the dev server and against `vite preview` of the build) and ends
// with one line that totals them: "N passed, N failed, N skipped".
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';

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
  // Failed tests, plus files that failed without a failed test (an import or setup error):
  // Vitest also counts a failed test's describe block and file as failed suites.
  failed: v ? v.numFailedTests + (v.testResults ?? []).filter((f) => f.status === 'failed' && !f.assertionResults?.some((a) => a.status === 'failed')).length : 0,
  skipped: v ? (v.numPendingTests ?? 0) + (v.numTodoTests ?? 0) : 0,
  parsed: v !== null,
});

// The build is a layer of its own: one check, so a bundle that does not build is a failure
// in the total even though no test file describes it.
const buildCode = run('production build', 'npm', ['run', 'build']);
layers.push({
  name: 'build',
  code: buildCode,
  passed: buildCode === 0 ? 1 : 0,
  failed: buildCode === 0 ? 0 : 1,
  skipped: 0,
  parsed: true,
});

function playwrightLayer(name, label, args, env, report) {
  const code = run(label, 'npx', ['playwright', 'test', ...args, '--reporter=list,json'], {
    ...env,
    // Absolute, because Playwright resolves a relative name against the config's folder.
    PLAYWRIGHT_JSON_OUTPUT_NAME: resolve(report),
  });
  const p = readJson(report);
  layers.push({
    name,
    code,
    passed: p?.stats?.expected ?? 0,
    failed: p ? (p.stats.unexpected ?? 0) + (p.stats.flaky ?? 0) + (p.errors?.length ?? 0) : 0,
    skipped: p?.stats?.skipped ?? 0,
    parsed: p !== null,
  });
}

/** A port nobody is listening on now, so parallel runs on one machine do not collide. */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

playwrightLayer('playwright (dev server)', 'end-to-end tests (Playwright, Chromium, dev server)', [], {}, `${outDir}/playwright.json`);

if (buildCode === 0) {
  playwrightLayer(
    'playwright (production build)',
    'end-to-end tests (Playwright, Chromium, vite preview of dist/)',
    ['-c', 'e2e/production.config.ts'],
    { E2E_PREVIEW_PORT: String(await freePort()) },
    `${outDir}/playwright-production.json`,
  );
} else {
  // dist/ is missing or stale after a failed build; testing it would prove nothing. The
  // build layer above already counts the failure.
  console.log('\n=== end-to-end tests (vite preview of dist/): not run, the build failed');
  layers.push({ name: 'playwright (production build)', code: null, passed: 0, failed: 0, skipped: 0, parsed: true, note: 'not run, the build failed' });
}

let passed = 0, failed = 0, skipped = 0;
console.log('');
for (const l of layers) {
  // A runner that crashed or wrote no report counts as one failure, so a broken layer
  // can never read as green.
  const broken = l.code !== null && l.code !== 0 && l.failed === 0;
  if (!l.parsed || broken) l.failed += 1;
  console.log(`${l.name}: ${l.passed} passed, ${l.failed} failed, ${l.skipped} skipped (${l.note ?? `exit ${l.code}`})`);
  passed += l.passed;
  failed += l.failed;
  skipped += l.skipped;
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 ? 1 : 0);

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from '@playwright/test';
import base from '../playwright.config';

const PORT = Number(process.env.E2E_PREVIEW_PORT ?? 4174);
const root = fileURLToPath(new URL('..', import.meta.url));

// `vite preview` happily serves a missing dist/ as an empty site, so say what to do instead
// of failing every test with a blank page.
if (!existsSync(fileURLToPath(new URL('../dist/index.html', import.meta.url)))) {
  throw new Error('dist/ has no index.html: run `npm run build` first (or `npm run test:e2e:production`).');
}

// The same browser and limits as the dev-server tests, but against the production bundle in
// dist/ served as plain static files, so that a build that only works under the dev server
// (worker format, shaders, public files) fails here. The lab's path runs here as well: it
// needs the worker chunk, the shaders bundled into it and the shipped base model, and it
// measures the page's responsiveness on the bundle people run.
export default defineConfig({
  ...base,
  testDir: '.',
  testIgnore: [],
  testMatch: ['production.spec.ts', 'lab.spec.ts'],
  outputDir: '../test-results/production',
  use: { ...base.use, baseURL: `http://127.0.0.1:${PORT}` },
  webServer: {
    command: `npx vite preview --host 127.0.0.1 --port ${PORT} --strictPort`,
    cwd: root,
    url: `http://127.0.0.1:${PORT}`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'ignore',
  },
});

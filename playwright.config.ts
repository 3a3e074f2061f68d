import { defineConfig } from '@playwright/test';
// @ts-expect-error plain JS module shared with the benchmark scripts
import { chromiumArgs, chromiumExecutable } from './scripts/chromium.mjs';

const PORT = Number(process.env.E2E_PORT ?? 5174);

// End-to-end tests drive a real Chromium with WebGPU (SwiftShader when there is no GPU)
// against the Vite dev server on 127.0.0.1: navigator.gpu needs a secure context.
export default defineConfig({
  testDir: 'e2e',
  // Checks of the built bundle only make sense against `vite preview`: e2e/production.config.ts.
  // The lab's path runs there too: its responsiveness target is about the bundle people run
  // (`npm start`), and React's development build does several times the work per redraw.
  testIgnore: ['production.spec.ts', 'lab.spec.ts'],
  timeout: 120_000,
  expect: { timeout: 30_000 },
  workers: 1,
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${PORT}`,
    launchOptions: { executablePath: chromiumExecutable(), args: chromiumArgs() },
    viewport: { width: 1280, height: 800 },
  },
  webServer: {
    command: `npx vite --host 127.0.0.1 --port ${PORT} --strictPort`,
    url: `http://127.0.0.1:${PORT}`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'ignore',
  },
});

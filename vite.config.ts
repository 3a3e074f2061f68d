import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// One config for the app (vite) and the two Node test layers (vitest projects); the
// benchmark page is built by scripts/bench-kernels.mjs with its own settings. Tests that
// need a GPU run in the `kernels` project one file at a time, because the software
// adapter already spreads each dispatch over every core.
export default defineConfig({
  plugins: [react()],
  server: { host: '127.0.0.1', port: 5173, strictPort: true },
  preview: { host: '127.0.0.1', port: 4173, strictPort: true },
  build: { target: 'es2022' },
  // The training worker is started as a module worker ({ type: 'module' }) and its code
  // splits (the tokenizers load on demand), which the default 'iife' worker format cannot
  // express; every browser with WebGPU also runs module workers.
  worker: { format: 'es' },
  test: {
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'], environment: 'node' },
      },
      {
        extends: true,
        test: {
          name: 'kernels',
          include: ['test/kernels/**/*.test.ts'],
          environment: 'node',
          pool: 'forks',
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});

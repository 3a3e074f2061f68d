import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, test } from '@playwright/test';

// Runs against `vite preview` of dist/ (see production.config.ts): what a static host serves.
const shaderDir = fileURLToPath(new URL('../shaders/', import.meta.url));
const baseModelDir = fileURLToPath(new URL('../public/models/base/', import.meta.url));

test('the built page loads from its bundle and shows the WebGPU adapter', async ({ page }) => {
  const errors: string[] = [];
  const failed: string[] = [];
  const requested: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => requested.push(new URL(r.url()).pathname));
  page.on('response', (r) => {
    if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`);
  });
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Continual Lab' })).toBeVisible();
  await expect(page.getByTestId('adapter-panel')).toBeVisible();
  await expect(page.getByTestId('adapter-vendor')).not.toBeEmpty();
  await expect(page.getByTestId('adapter-architecture')).not.toBeEmpty();
  // The page tunes matmul on load, so it has compiled shaders by the time this shows.
  await expect(page.getByTestId('matmul-tuning')).toContainText('measured', { timeout: 60_000 });
  // Sources, Vite's client or loose .wgsl files would mean this is not the static bundle.
  expect(requested.filter((p) => /^\/(src|node_modules|@vite|@id|@fs|@react-refresh)\b|\.wgsl$/.test(p))).toEqual([]);
  expect(requested.some((p) => /^\/assets\/index-[\w-]+\.js$/.test(p))).toBe(true);
  expect(failed).toEqual([]);
  expect(errors).toEqual([]);
});

test('the worker chunk is served as JavaScript and carries every shader', async ({ page, request }) => {
  await page.goto('/');
  const entry = await page.locator('script[type="module"][src]').first().getAttribute('src');
  expect(entry).toMatch(/^\/assets\//);
  const entryCode = await (await request.get(entry!)).text();
  const workerPath = entryCode.match(/\/assets\/trainingWorker-[\w-]+\.js/)?.[0];
  expect(workerPath, 'the page bundle names a built training worker').toBeTruthy();
  const res = await request.get(workerPath!);
  expect(res.ok()).toBe(true);
  // A module worker is refused unless it comes with a JavaScript MIME type.
  expect(res.headers()['content-type']).toMatch(/javascript/);
  const workerCode = await res.text();
  const shaders = readdirSync(shaderDir).filter((f) => f.endsWith('.wgsl'));
  expect(shaders.length).toBeGreaterThan(0);
  const missing = shaders.filter((f) => !workerCode.includes(`/shaders/${f}`));
  expect(missing, 'shaders missing from the worker chunk').toEqual([]);
});

test('the shipped base model files are in the bundle, byte for byte', async ({ request }) => {
  const files = readdirSync(baseModelDir);
  expect(files).toEqual(expect.arrayContaining(['config.json', 'model.safetensors', 'training.json']));
  for (const f of files) {
    const res = await request.get(`/models/base/${f}`);
    expect(res.ok(), f).toBe(true);
    // The preview server falls back to index.html for unknown paths, so compare contents.
    expect(Buffer.compare(await res.body(), readFileSync(`${baseModelDir}${f}`)), f).toBe(0);
  }
});

import { expect, test } from '@playwright/test';

test('the shell shows the WebGPU adapter it got', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Continual Lab' })).toBeVisible();
  const panel = page.getByTestId('adapter-panel');
  await expect(panel).toBeVisible();
  await expect(page.getByTestId('adapter-vendor')).not.toBeEmpty();
  await expect(page.getByTestId('adapter-architecture')).not.toBeEmpty();
  await expect(panel).toContainText('maxStorageBufferBindingSize');
  const arch = (await page.getByTestId('adapter-architecture').textContent()) ?? '';
  if (/swiftshader/i.test(arch)) await expect(page.getByTestId('software-warning')).toBeVisible();
  // The matmul variant is measured on the first visit and remembered on the next.
  await expect(page.getByTestId('matmul-tuning')).toContainText('measured just now', { timeout: 60_000 });
  await page.reload();
  await expect(page.getByTestId('matmul-tuning')).toContainText('measured on an earlier visit', { timeout: 60_000 });
  expect(errors).toEqual([]);
});

test('kernels run from the page match the CPU reference', async ({ page }) => {
  await page.goto('/');
  await page.getByRole('button', { name: 'Check kernels' }).click();
  const summary = page.getByTestId('kernel-check-summary');
  await expect(summary).toBeVisible({ timeout: 90_000 });
  const rows = page.locator('[data-testid^="check-"]');
  const n = await rows.count();
  expect(n).toBeGreaterThan(0);
  await expect(summary).toHaveText(`${n} of ${n} kernels match the CPU reference`);
  await page.screenshot({ path: 'test-results/shell.png', fullPage: true });
});

test('a browser without WebGPU gets a page saying what works, not a blank screen', async ({ page }) => {
  await page.addInitScript(() => {
    delete (Navigator.prototype as unknown as { gpu?: unknown }).gpu;
  });
  await page.goto('/');
  const notice = page.getByTestId('no-webgpu');
  await expect(notice).toBeVisible();
  await expect(notice).toContainText('navigator.gpu is missing');
  await expect(notice).toContainText('Chrome');
  await expect(notice).toContainText('--enable-unsafe-webgpu');
});

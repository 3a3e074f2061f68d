import { expect, test } from '@playwright/test';

test('the training engine fine-tunes the shipped base in a Web Worker: progress with ETA, then a correct result', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/');
  const panel = page.getByTestId('engine-check');
  await panel.getByRole('button', { name: 'Run' }).click();
  await expect(page.getByTestId('engine-progress')).toContainText(/step \d+ \/ 60/, { timeout: 60_000 });
  await expect(page.getByTestId('engine-progress')).toContainText('ETA');
  await expect(page.getByTestId('engine-result')).toContainText('Exact match 100%', { timeout: 110_000 });
  await page.screenshot({ path: 'test-results/engine.png', fullPage: true });
  expect(errors).toEqual([]);
});

import { expect, test } from '@playwright/test';

test('the shipped base model loads in the worker and continues a prompt', async ({ page }) => {
  await page.goto('/');
  const panel = page.getByTestId('base-model');
  await expect(page.getByTestId('base-model-facts')).toContainText('bits/byte', { timeout: 60_000 });
  await panel.getByRole('button', { name: 'Sample' }).click();
  const sample = page.getByTestId('base-model-sample');
  await expect(sample).toContainText('Call me Ishmael.', { timeout: 90_000 });
  const text = (await sample.textContent()) ?? '';
  expect(text.length).toBeGreaterThan('Call me Ishmael. '.length + 20);
  await page.screenshot({ path: 'test-results/base-model.png', fullPage: true });
});

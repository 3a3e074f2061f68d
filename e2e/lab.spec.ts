import { expect, test, type Page } from '@playwright/test';

/** Keeps the first `keep` tasks of the built-in stream. */
async function keepTasks(page: Page, keep: string[]) {
  const panel = page.getByTestId('stream-panel');
  await expect(panel).toContainText('8 tasks');
  for (const name of ['sentiment', 'capitals', 'arithmetic', 'past_tense', 'elements', 'lodash', 'country_de', 'pronounce']) {
    if (!keep.includes(name)) await panel.getByRole('button', { name: `remove ${name}` }).click();
  }
  await expect(panel).toContainText(`${keep.length} tasks`);
}

test('a newcomer runs two methods on two built-in tasks to the end, sees the matrices, and finds them after a reload', async ({ page }) => {
  test.setTimeout(600_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const longTasks: number[] = [];
  await page.addInitScript(() => {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) ((window as unknown as { __long: number[] }).__long ??= []).push(e.duration);
    }).observe({ type: 'longtask', buffered: true });
  });
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Continual Lab' })).toBeVisible();
  await keepTasks(page, ['sentiment', 'capitals']);
  const methods = page.getByTestId('methods-panel');
  await expect(methods).toBeVisible({ timeout: 60_000 });
  await page.getByTestId('preset').selectOption('tiny');
  for (const id of ['seqft', 'replay', 'ewc', 'olora', 'mtl', 'moses']) await expect(page.getByTestId(`method-${id}`)).not.toBeChecked();
  await expect(page.getByTestId('method-seqlora')).toBeChecked();
  await expect(page.getByTestId('method-see')).toBeChecked();

  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.getByTestId('run-status')).toContainText('ETA', { timeout: 120_000 });
  await expect(page.getByTestId('loss-chart').locator('.recharts-line')).not.toHaveCount(0, { timeout: 120_000 });
  await expect(page.getByTestId('run-state')).toHaveText('done', { timeout: 540_000 });
  // Base row and two stages, two tasks, two methods: every cell has a number.
  for (const m of ['seqlora', 'see']) {
    const matrix = page.getByTestId(`matrix-${m}`);
    await expect(matrix.getByTestId('cell-score')).toHaveCount(6);
    await expect(matrix.getByTestId('cell-pending')).toHaveCount(0);
  }
  await expect(page.getByTestId('metrics-table')).toContainText('seqlora');
  await page.screenshot({ path: 'test-results/lab-done.png', fullPage: true });
  const long = await page.evaluate(() => (window as unknown as { __long?: number[] }).__long ?? []);
  longTasks.push(...long);

  await page.reload();
  await expect(page.getByTestId('run-state')).toHaveText('done', { timeout: 60_000 });
  await expect(page.getByTestId('stream-panel')).toContainText('2 tasks');
  await expect(page.getByTestId('matrix-see').getByTestId('cell-score')).toHaveCount(6);
  expect(errors).toEqual([]);
  console.log(`long tasks over 50 ms during the run: ${longTasks.length}, longest ${Math.max(0, ...longTasks).toFixed(0)} ms`);
});

import { readFileSync } from 'node:fs';
import { expect, test, type Page } from '@playwright/test';

// A newcomer's path through the lab on the software adapter: the built-in stream, an upload
// (one file bad), a run of two methods to the end, the matrices, the routing inspector, a
// reload that keeps everything, a run interrupted by a reload that resumes, and the export.

const BUILTIN = ['sentiment', 'capitals', 'arithmetic', 'past_tense', 'elements', 'lodash', 'country_de', 'pronounce'];
const HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> Say hi:';

function goodTask(): Buffer {
  const rows = Array.from({ length: 20 }, (_, i) => JSON.stringify({ prompt: i === 0 ? HOSTILE : `Echo ${i}:`, answer: ` ${i}` }));
  return Buffer.from(rows.join('\n'));
}

async function keepTasks(page: Page, keep: string[]) {
  const panel = page.getByTestId('stream-panel');
  await expect(panel).toContainText('8 tasks');
  for (const name of BUILTIN) if (!keep.includes(name)) await panel.getByRole('button', { name: `remove ${name}` }).click();
  await expect(panel).toContainText(`${keep.length} tasks`);
}

/** Long main-thread tasks, recorded from page load by a PerformanceObserver. */
async function longTasks(page: Page): Promise<{ start: number; duration: number }[]> {
  return page.evaluate(() => (window as unknown as { __long?: { start: number; duration: number }[] }).__long ?? []);
}

test.beforeEach(async ({ page }) => {
  await page.addInitScript(() => {
    const w = window as unknown as { __long: { start: number; duration: number }[] };
    w.__long = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) w.__long.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: 'longtask', buffered: true });
  });
});

test('a newcomer uploads tasks, runs SeqLoRA and SEE to the end, inspects routing, reloads and exports', async ({ page, baseURL }) => {
  test.setTimeout(900_000);
  const errors: string[] = [];
  const foreign: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => {
    if (!r.url().startsWith(baseURL!) && !r.url().startsWith('blob:') && !r.url().startsWith('data:')) foreign.push(r.url());
  });
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Continual Lab' })).toBeVisible();
  await keepTasks(page, ['sentiment']);

  // One good file, one that is not JSON Lines: the bad one is refused beside its name, the good one loads.
  await page.getByTestId('pick-files').setInputFiles([
    { name: 'echo.jsonl', mimeType: 'application/jsonl', buffer: goodTask() },
    { name: 'broken.jsonl', mimeType: 'application/jsonl', buffer: Buffer.from('{"prompt": "a", "answer": "b"}\n{"prompt": "c" "answer": "d"}\n') },
  ]);
  const panel = page.getByTestId('stream-panel');
  await expect(panel).toContainText('2 tasks');
  await expect(page.getByTestId('upload-errors')).toContainText('broken.jsonl: line 2');
  // Uploaded text is text: the preview shows the markup and nothing runs.
  await panel.getByRole('button', { name: 'preview echo' }).click();
  await expect(page.getByTestId('preview-echo')).toContainText('<script>window.__pwned=2</script>');
  expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();

  await expect(page.getByTestId('methods-panel')).toBeVisible({ timeout: 60_000 });
  await page.getByTestId('preset').selectOption('tiny');
  await expect(page.getByTestId('method-seqlora')).toBeChecked();
  await expect(page.getByTestId('method-see')).toBeChecked();
  // The experiment lives in the address bar.
  await expect(page).toHaveURL(/methods=seqlora,see&preset=tiny&seed=0/);

  await page.getByRole('button', { name: 'Start' }).click();
  const trainingFrom = await page.evaluate(() => performance.now());
  await expect(page.getByTestId('run-status')).toContainText('step', { timeout: 180_000 });
  await expect(page.getByTestId('run-status')).toContainText('ETA');
  await expect(page.getByTestId('run-status')).toContainText('GPU memory');
  await expect(page.getByTestId('loss-chart').locator('.recharts-line')).not.toHaveCount(0, { timeout: 120_000 });
  // A full-page screenshot lays out and paints the whole page on its thread: the test's own
  // work, so long tasks inside it are not the lab's (they are printed below all the same).
  const shotFrom = await page.evaluate(() => performance.now());
  await page.screenshot({ path: 'test-results/lab-running.png', fullPage: true });
  const shotTo = await page.evaluate(() => performance.now());
  // Charts follow the run: within 2.5 s the step shown and the loss curve both change.
  const curve = page.getByTestId('loss-chart').locator('path.recharts-line-curve').first();
  const before = await page.getByTestId('run-status').textContent();
  const curveBefore = await curve.getAttribute('d');
  await page.waitForTimeout(2500);
  expect(await page.getByTestId('run-status').textContent()).not.toBe(before);
  expect(await curve.getAttribute('d')).not.toBe(curveBefore);

  await expect(page.getByTestId('run-state')).toHaveText('done', { timeout: 780_000 });
  const trainingTo = await page.evaluate(() => performance.now());
  for (const m of ['seqlora', 'see']) {
    const matrix = page.getByTestId(`matrix-${m}`);
    await expect(matrix.getByTestId('cell-score')).toHaveCount(6);
    await expect(matrix.getByTestId('cell-pending')).toHaveCount(0);
  }
  await expect(page.getByTestId('metrics-table')).toContainText('seqlora');
  // A cell lists the examples behind it.
  await page.getByTestId('matrix-seqlora').getByTestId('cell-score').nth(5).click();
  await expect(page.getByTestId('cell-examples')).toContainText('expected');
  await expect(page.getByTestId('cell-examples')).toContainText('Echo');
  await page.screenshot({ path: 'test-results/lab-results.png', fullPage: true });

  // SEE's gates: each expert's acceptance in asking order, who answered, and the answer.
  const inspector = page.getByTestId('inspector');
  await inspector.getByTestId('inspect-prompt').fill('Echo 7:');
  await inspector.getByRole('button', { name: 'Inspect' }).click();
  await expect(inspector.getByTestId('see-inspection')).toContainText('P(accept)', { timeout: 120_000 });
  await expect(inspector.getByTestId('inspect-handler')).not.toBeEmpty();
  await expect(inspector.getByTestId('see-confusion')).toBeVisible();
  await inspector.screenshot({ path: 'test-results/lab-inspector.png' });

  // Export the results and read the file back.
  const download = page.waitForEvent('download');
  await page.getByTestId('export-results').click();
  const file = await (await download).path();
  const exported = JSON.parse(readFileSync(file, 'utf8'));
  expect(Object.keys(exported.methods)).toEqual(['seqlora', 'see']);
  expect(exported.stream.map((t: { name: string }) => t.name)).toEqual(['sentiment', 'echo']);
  expect(exported.methods.see.routing.confusion).toBeTruthy();

  // Responsiveness while training: no main-thread task over 100 ms.
  const during = (await longTasks(page)).filter((t) => t.start >= trainingFrom && t.start <= trainingTo && t.duration > 100);
  const inShot = (t: { start: number; duration: number }) => t.start + t.duration >= shotFrom && t.start <= shotTo;
  const long = during.filter((t) => !inShot(t));
  const marks = await page.evaluate(() => performance.getEntriesByType('mark').filter((m) => m.name.startsWith('lab:')).map((m) => `${m.name}@${m.startTime.toFixed(0)}`));
  console.log(`long: ${during.map((t) => `${t.start.toFixed(0)}+${t.duration}${inShot(t) ? ' (screenshot)' : ''}`).join(' ')}\nscreenshot: ${shotFrom.toFixed(0)}-${shotTo.toFixed(0)}\nmarks: ${marks.join(' ')}`);
  expect(long, 'main-thread tasks over 100 ms during training').toEqual([]);

  // A reload restores the stream, the run and its matrices.
  await page.reload();
  await expect(page.getByTestId('run-state')).toHaveText('done', { timeout: 60_000 });
  await expect(page.getByTestId('stream-panel')).toContainText('2 tasks');
  await expect(page.getByTestId('matrix-see').getByTestId('cell-score')).toHaveCount(6);
  expect(errors).toEqual([]);
  expect(foreign).toEqual([]);
});

test('MoSEs after a run: gates per token and layer, sub-expert usage, and its matrix with the task id given', async ({ page }) => {
  test.setTimeout(600_000);
  await page.goto('/?methods=moses&preset=tiny&seed=0&tasks=sentiment,capitals');
  await expect(page.getByTestId('methods-panel')).toBeVisible({ timeout: 60_000 });
  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.getByTestId('run-state')).toHaveText('done', { timeout: 400_000 });

  const inspector = page.getByTestId('inspector');
  await inspector.getByTestId('inspect-prompt').fill('Capital of France:');
  await inspector.getByRole('button', { name: 'Inspect' }).click();
  const view = inspector.getByTestId('moses-inspection');
  await expect(view).toBeVisible({ timeout: 120_000 });
  await expect(inspector.getByTestId('inspect-inferred')).toHaveText(/sentiment|capitals/);
  // The shipped base has 4 blocks, and MoSEs routes all four projections of each.
  await expect(inspector.getByTestId('gate-map')).toHaveCount(16);
  await expect(inspector.getByTestId('gate-map').first()).toContainText('transformer.h.0.attn.c_attn');
  // A token's gates in every layer: top-k sub-experts with gates that sum to 1.
  await view.locator('p.tokens button').nth(3).click();
  const rows = inspector.getByTestId('token-gates').locator('tbody tr');
  await expect(rows).toHaveCount(16);
  const gates = (await rows.first().locator('td').textContent())!.match(/: ([\d.]+)/g)!.map((g) => Number(g.slice(2)));
  expect(gates.length).toBeGreaterThanOrEqual(1);
  expect(Math.abs(gates.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(0.02);
  await expect(inspector.getByTestId('moses-usage')).toContainText('balance');
  await inspector.screenshot({ path: 'test-results/lab-moses-inspector.png' });

  // With the task id given, a task has no router before it is trained: that cell has no score
  // (marked as such, not as waiting for an evaluation).
  await page.getByTestId('moses-til').check();
  await expect(page.getByTestId('matrix-moses (TIL)').getByTestId('cell-score')).toHaveCount(5);
  await expect(page.getByTestId('matrix-moses (TIL)').locator('td.na')).toHaveCount(1);
  await expect(page.getByTestId('matrix-moses (TIL)').getByTestId('cell-pending')).toHaveCount(0);
  await expect(page.getByTestId('matrix-moses').getByTestId('cell-score')).toHaveCount(0);
});

test('a run interrupted by a lost GPU device, then by a reload, goes on from its last finished task', async ({ page, browser }) => {
  test.setTimeout(600_000);
  await page.goto('/?methods=seqlora&preset=tiny&seed=1&tasks=sentiment,capitals');
  await expect(page.getByTestId('stream-panel')).toContainText('2 tasks');
  await expect(page.getByTestId('methods-panel')).toBeVisible({ timeout: 60_000 });
  await expect(page.getByTestId('method-see')).not.toBeChecked();
  await page.getByRole('button', { name: 'Start' }).click();
  const inSecondTask = /task 2\/2 capitals · step [2-9]/;
  await expect(page.getByTestId('run-status')).toContainText(inSecondTask, { timeout: 400_000 });

  // A real loss: the browser's GPU process is crashed, as a driver reset would.
  const cdp = await browser.newBrowserCDPSession();
  await cdp.send('Browser.crashGpuProcess');
  await expect(page.getByRole('alert').filter({ hasText: 'The GPU device was lost' })).toBeVisible({ timeout: 60_000 });
  await expect(page.getByTestId('run-state')).toHaveText('interrupted');
  await expect(page.getByTestId('matrix-seqlora').getByTestId('cell-score')).toHaveCount(4);
  await page.getByRole('button', { name: 'Reconnect' }).click();
  await expect(page.getByTestId('run-status')).toContainText(inSecondTask, { timeout: 400_000 });

  // Into the second task's training again: a reload keeps the first one's row and goes on.
  await page.reload();
  await expect(page.getByTestId('matrix-seqlora').getByTestId('cell-score')).toHaveCount(4, { timeout: 60_000 });
  await expect(page.getByTestId('run-state')).toHaveText(/running|done/);
  await expect(page.getByTestId('run-state')).toHaveText('done', { timeout: 400_000 });
  await expect(page.getByTestId('matrix-seqlora').getByTestId('cell-score')).toHaveCount(6);
});

test('files that are not what they claim are refused with the reason, and the lab stays as it was', async ({ page }) => {
  const base = readFileSync('public/models/base/model.safetensors');
  const config = readFileSync('public/models/base/config.json');
  const png = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex');
  await page.goto('/');
  await expect(page.getByTestId('base-model-facts')).toContainText('The shipped base', { timeout: 60_000 });
  const model = page.getByTestId('base-model');

  // A safetensors file whose header is not one, then one cut short: each refused by name.
  await page.getByTestId('pick-model').setInputFiles([
    { name: 'config.json', mimeType: 'application/json', buffer: config },
    { name: 'model.safetensors', mimeType: 'application/octet-stream', buffer: png },
  ]);
  await expect(model.getByTestId('model-error')).toContainText('model.safetensors');
  const wrongHeader = await model.getByTestId('model-error').textContent();
  await page.getByTestId('pick-model').setInputFiles([
    { name: 'config.json', mimeType: 'application/json', buffer: config },
    { name: 'model.safetensors', mimeType: 'application/octet-stream', buffer: base.subarray(0, Math.floor(base.length / 2)) },
  ]);
  await expect(model.getByTestId('model-error')).not.toHaveText(wrongHeader!);
  await expect(model.getByTestId('model-error')).toContainText('model.safetensors');
  console.log(`wrong header: ${wrongHeader}\ntruncated: ${await model.getByTestId('model-error').textContent()}`);
  await expect(page.getByTestId('base-model-facts')).toContainText('The shipped base');

  // A PNG named .jsonl is refused beside its name; the stream keeps its tasks.
  await page.getByTestId('pick-files').setInputFiles([{ name: 'pixels.jsonl', mimeType: 'application/jsonl', buffer: png }]);
  await expect(page.getByTestId('upload-errors')).toContainText('pixels.jsonl');
  await expect(page.getByTestId('stream-panel')).toContainText('8 tasks, built in');

  // A JSON file of another schema is not shown as results.
  await page.getByTestId('import-results').setInputFiles([{ name: 'package.json', mimeType: 'application/json', buffer: readFileSync('package.json') }]);
  await expect(page.getByTestId('status-line')).toContainText('package.json: not a Continual Lab results file');
  await expect(page.getByTestId('results-panel')).toHaveCount(0);
});

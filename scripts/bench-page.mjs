// What both benchmark runners share: build one bench page with Vite, serve it from
// http://127.0.0.1:<free port> (WebGPU needs a secure context; COOP/COEP give
// performance.now() microsecond resolution), open it in headless Chromium with the shared
// WebGPU flags, relay its log, and wait for window.__benchResult. A runner may open more
// pages of the same build afterwards, each in a fresh browser context.
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import { chromium } from 'playwright-core';
import { chromiumArgs, chromiumExecutable } from './chromium.mjs';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
};

/** A static file server for the built page, on 127.0.0.1 and a port the OS picks. */
function serve(dir) {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = normalize(join(dir, path.endsWith('/') ? `${path}index.html` : path));
    if (!file.startsWith(dir + sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, {
      'content-type': MIME[extname(file)] ?? 'application/octet-stream',
      'cache-control': 'no-store',
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
    });
    createReadStream(file).pipe(res);
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok(server));
  });
}

/** Installed version of a package, for the result's provenance. */
export function version(pkg) {
  try {
    return JSON.parse(readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

/** A plain-text table; align holds 'l' or 'r' per column. */
export function table(headers, rows, align) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const fmt = (r) => r.map((c, i) => (align[i] === 'l' ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  return [fmt(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(fmt)].join('\n');
}

export const times = (r) => (r === null || r === undefined ? '-' : `${r.toFixed(2)}x`);

/** Indented JSON with flat arrays and small leaf objects kept on one line each. */
export function compactJson(value) {
  return JSON.stringify(value, null, 2)
    .replace(/\[\s+([^[\]{}]*?)\s+\]/g, (_, body) => `[${body.split(/,\s+/).join(', ')}]`)
    .replace(/\{\s+([^[\]{}]*?)\s+\}/g, (_, body) => `{ ${body.split(/,\n\s+/).join(', ')} }`);
}

/**
 * Builds and opens `page` (a path under the repository, e.g. 'bench/index.html') with the
 * query, waits up to timeoutMin for its result, prints it with printTables, writes the JSON
 * to jsonPath and exits: 0 when the result says ok, 1 otherwise (page console errors are
 * printed then).
 *
 * `extend(result, openPage)`, when given, runs after the first page has closed and may amend
 * the result: `openPage(query, label)` opens the same page with another query in a fresh
 * browser context (so nothing of an earlier page's JavaScript state is shared) and resolves
 * with its result once the page has closed again.
 *
 * `expose` maps names to Node functions the page may call (Playwright's exposeFunction:
 * arguments and results pass as JSON); `onClose` runs at the end, whatever happened.
 */
export async function runBenchPage({ page: pagePath, query, timeoutMin, jsonPath, printTables, extend, expose = {}, onClose }) {
  const t0 = Date.now();
  const outDir = mkdtempSync(join(tmpdir(), 'bench-page-'));
  let server;
  let browser;
  const consoleErrors = [];
  let exitCode = 1;
  const cleanup = async () => {
    await onClose?.();
    await browser?.close().catch(() => {});
    await new Promise((r) => (server ? server.close(() => r()) : r()));
    rmSync(outDir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    cleanup().finally(() => process.exit(130));
  });

  try {
    console.log(`Building ${pagePath} ...`);
    await build({
      configFile: false,
      root,
      base: '/',
      logLevel: 'warn',
      build: {
        outDir,
        emptyOutDir: true,
        target: 'es2022',
        reportCompressedSize: false,
        chunkSizeWarningLimit: 1e9,
        rolldownOptions: { input: { bench: join(root, pagePath) } },
      },
    });
    server = await serve(outDir);
    browser = await chromium.launch({ executablePath: chromiumExecutable(), args: chromiumArgs(), headless: true });

    const openPage = async (pageQuery, label = '') => {
      const qs = new URLSearchParams(pageQuery);
      const url = `http://127.0.0.1:${server.address().port}/${pagePath}${qs.size ? `?${qs}` : ''}`;
      const tag = label ? `[${label}] ` : '';
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        for (const [name, fn] of Object.entries(expose)) await page.exposeFunction(name, fn);
        page.on('console', (msg) => {
          const text = msg.text();
          if (text.startsWith('[bench] ')) console.log(`  ${tag}${text.slice(8)}`);
          else if (msg.type() === 'error' || msg.type() === 'warning') {
            if (msg.type() === 'error') consoleErrors.push(`${tag}${text}`);
            console.log(`  ${tag}[page ${msg.type()}] ${text}`);
          }
        });
        page.on('pageerror', (err) => {
          consoleErrors.push(`${tag}${String(err?.stack ?? err)}`);
          console.log(`  ${tag}[page exception] ${err}`);
        });
        page.on('crash', () => consoleErrors.push(`${tag}page crashed`));

        console.log(`Opening ${url} in ${chromiumExecutable()} (Chromium ${browser.version()})`);
        await page.goto(url);
        const handle = await page.waitForFunction(() => window.__benchResult, null, { timeout: timeoutMin * 60_000, polling: 500 });
        return await handle.jsonValue();
      } finally {
        // Closing the context frees the page's GPU devices before the next page starts.
        await context.close().catch(() => {});
      }
    };

    const result = await openPage(query);
    if (extend && !result.fatal) await extend(result, openPage);
    result.browser = `Chromium ${browser.version()}`;
    result.versions = {
      tfjs: version('@tensorflow/tfjs-core'),
      tfjsWebgpu: version('@tensorflow/tfjs-backend-webgpu'),
      jaxjs: version('@jax-js/jax'),
    };
    result.wallSeconds = Math.round((Date.now() - t0) / 100) / 10;

    if (result.fatal) console.error(`\nBenchmark page failed: ${result.fatal}\n${result.stack ?? ''}`);
    else printTables(result);
    const json = compactJson(result);
    console.log('\nJSON:');
    console.log(json);
    mkdirSync(dirname(jsonPath), { recursive: true });
    writeFileSync(jsonPath, `${json}\n`);
    console.log(`\nWrote ${jsonPath} (${result.wallSeconds} s in all)`);
    if (result.ok) exitCode = 0;
    else console.error(`\nFAILED:\n${(result.failures ?? []).map((f) => `  - ${f}`).join('\n')}`);
  } catch (e) {
    console.error(`\nBenchmark failed: ${e?.stack ?? e}`);
  } finally {
    if (exitCode !== 0 && consoleErrors.length) console.error(`\nPage console errors:\n${consoleErrors.map((t) => `  ${t}`).join('\n')}`);
    await cleanup();
  }
  process.exit(exitCode);
}

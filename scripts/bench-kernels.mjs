// npm run bench:kernels [-- --quick] [-- --only matmul|lora] [-- --json PATH] [-- --timeout-min N]
//
// Builds bench/index.html with Vite, serves it from http://127.0.0.1:<free port> (WebGPU
// needs a secure context), opens it in headless Chromium with the shared WebGPU flags,
// waits for window.__benchResult, then prints a table and the JSON and writes the JSON to
// bench-results/kernels.json. Exits non-zero when the page fails, any implementation's
// result differs from the CPU reference, or a peer library cannot run.
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import { chromium } from 'playwright-core';
import { chromiumArgs, chromiumExecutable } from './chromium.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Case groups that `--only` can restrict a run to. */
const ONLY = ['matmul', 'lora'];

function parseArgs(argv) {
  const opts = { quick: false, only: null, json: join(root, 'bench-results', 'kernels.json'), timeoutMin: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') opts.quick = true;
    else if (a === '--only') {
      opts.only = argv[++i] ?? '';
      if (!ONLY.includes(opts.only)) {
        console.error(`--only takes one of ${ONLY.join(', ')}, got "${opts.only}"`);
        process.exit(2);
      }
    } else if (a === '--json') opts.json = resolve(argv[++i] ?? '');
    else if (a === '--timeout-min') opts.timeoutMin = Number(argv[++i]);
    else if (a === '--help' || a === '-h') {
      console.log(`usage: node scripts/bench-kernels.mjs [--quick] [--only ${ONLY.join('|')}] [--json PATH] [--timeout-min N]`);
      process.exit(0);
    } else {
      console.error(`unknown argument ${a}`);
      process.exit(2);
    }
  }
  opts.timeoutMin ??= opts.quick ? 5 : 20;
  return opts;
}

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
      // Cross-origin isolation gives performance.now() microsecond resolution instead of 100 us.
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

function version(pkg) {
  try {
    return JSON.parse(readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

// ---------------------------------------------------------------- printing

const isMeasured = (o) => o && typeof o.gflops === 'number';
const cell = (o) => (isMeasured(o) ? o.gflops.toFixed(2) : o?.check ? 'WRONG' : o ? 'ERR' : '-');
const ms = (o) => (isMeasured(o) ? o.ms.toFixed(2) : o?.check ? 'WRONG' : o ? 'ERR' : '-');
const times = (r) => (r === null || r === undefined ? '-' : `${r.toFixed(2)}x`);

function table(headers, rows, align) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const fmt = (r) => r.map((c, i) => (align[i] === 'l' ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  return [fmt(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(fmt)].join('\n');
}

function printTables(res) {
  const a = res.adapter ?? {};
  console.log(`\nAdapter: ${a.vendor} / ${a.architecture}${a.description ? ` / ${a.description}` : ''}${a.isSoftware ? ' (software)' : ''}`);
  for (const [lib, p] of Object.entries(res.peers ?? {})) console.log(`  ${lib}: ${p.adapter ?? `unavailable: ${p.error}`}`);
  console.log(
    `Browser: ${res.browser}   tfjs ${res.versions.tfjs}   jax-js ${res.versions.jaxjs}   mode: ${res.quick ? 'quick' : 'full'}` +
      `${res.only ? `, only ${res.only}` : ''}`,
  );
  if (res.tuning) console.log(`tuneMatmul: ${res.tuning.ok ? `chose ${JSON.stringify(res.tuning.chosen)} in ${res.tuning.seconds} s` : `failed: ${res.tuning.error}`}`);

  const variants = [...new Set((res.matmul ?? []).flatMap((r) => Object.keys(r.results.ours?.variants ?? {})))];
  const mmRows = (res.matmul ?? []).map((r) => [
    r.id,
    r.op,
    (r.flops / 1e6).toFixed(1),
    ...variants.map((v) => cell(r.results.ours?.variants[v])),
    r.ours_best_variant ? `${r.ours_gflops.toFixed(2)} ${r.ours_best_variant}` : '-',
    cell(r.results.tfjs?.variants.default),
    cell(r.results.jaxjs?.variants.default),
    times(r.ratio_vs_tfjs),
    times(r.ratio_vs_jaxjs),
  ]);
  console.log('\nMatmul, GFLOP/s (median; results read back; ratio = our best / theirs, higher is better)\n');
  console.log(
    table(
      ['case', 'op', 'MFLOP', ...variants.map((v) => `ours ${v}`), 'ours best', 'tfjs', 'jaxjs', 'vs tfjs', 'vs jaxjs'],
      mmRows,
      ['l', 'l', 'r', ...variants.map(() => 'r'), 'l', 'r', 'r', 'r', 'r'],
    ),
  );

  const libs = ['ours', 'tfjs', 'jaxjs'];
  const bestCell = (lib, entry) => {
    const o = entry?.best ? entry.variants[entry.best] : Object.values(entry?.variants ?? {})[0];
    return `${ms(o)}${lib === 'ours' && entry?.best ? ` ${entry.best}` : ''}`;
  };
  const loRows = (res.lora ?? []).map((r) => [
    r.id,
    r.op,
    ...libs.flatMap((lib) => {
      const e = r.results[lib];
      return [bestCell(lib, e?.lora), bestCell(lib, e?.pair), times(e?.lora_vs_pair)];
    }),
    times(r.ratio_vs_tfjs),
    times(r.ratio_vs_jaxjs),
  ]);
  console.log(
    '\nLoRA forward+backward vs the two plain matmuls it replaces (x·W^T and dy·W), median ms;\n' +
      'ratio = LoRA / plain pair (target <= 1.3); vs = our LoRA throughput / theirs\n',
  );
  console.log(
    table(
      ['case', 'shape', 'ours lora', 'ours pair', 'ratio', 'tfjs lora', 'tfjs pair', 'ratio', 'jaxjs lora', 'jaxjs pair', 'ratio', 'vs tfjs', 'vs jaxjs'],
      loRows,
      ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
  );
  for (const r of res.lora ?? []) {
    const per = Object.entries(r.results.ours?.lora_vs_pair_by_variant ?? {})
      .map(([v, x]) => `${v} ${times(x)}`)
      .join(', ');
    console.log(
      `  ${r.id}: ours LoRA/pair = ${times(r.ours_lora_vs_pair)} (target <= ${r.target_lora_vs_pair}): ${r.meets_target ? 'met' : 'NOT met'}; same variant: ${per}`,
    );
  }
  console.log(`\nTotal page time ${res.seconds} s`);
}

/** Indented JSON with flat arrays and small leaf objects kept on one line each. */
function compactJson(value) {
  return JSON.stringify(value, null, 2)
    .replace(/\[\s+([^[\]{}]*?)\s+\]/g, (_, body) => `[${body.split(/,\s+/).join(', ')}]`)
    .replace(/\{\s+([^[\]{}]*?)\s+\}/g, (_, body) => `{ ${body.split(/,\n\s+/).join(', ')} }`);
}

// ---------------------------------------------------------------- main

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  const outDir = mkdtempSync(join(tmpdir(), 'bench-kernels-'));
  let server;
  let browser;
  const consoleErrors = [];
  let exitCode = 1;
  const cleanup = async () => {
    await browser?.close().catch(() => {});
    await new Promise((r) => (server ? server.close(() => r()) : r()));
    rmSync(outDir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    cleanup().finally(() => process.exit(130));
  });

  try {
    console.log('Building bench/index.html ...');
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
        rolldownOptions: { input: { bench: join(root, 'bench/index.html') } },
      },
    });
    server = await serve(outDir);
    const query = new URLSearchParams();
    if (opts.quick) query.set('quick', '1');
    if (opts.only) query.set('only', opts.only);
    const url = `http://127.0.0.1:${server.address().port}/bench/index.html${query.size ? `?${query}` : ''}`;

    browser = await chromium.launch({ executablePath: chromiumExecutable(), args: chromiumArgs(), headless: true });
    const page = await browser.newPage();
    page.on('console', (msg) => {
      const text = msg.text();
      if (text.startsWith('[bench] ')) console.log(`  ${text.slice(8)}`);
      else if (msg.type() === 'error' || msg.type() === 'warning') {
        if (msg.type() === 'error') consoleErrors.push(text);
        console.log(`  [page ${msg.type()}] ${text}`);
      }
    });
    page.on('pageerror', (err) => {
      consoleErrors.push(String(err?.stack ?? err));
      console.log(`  [page exception] ${err}`);
    });
    page.on('crash', () => consoleErrors.push('page crashed'));

    console.log(`Opening ${url} in ${chromiumExecutable()} (Chromium ${browser.version()})`);
    await page.goto(url);
    const handle = await page.waitForFunction(() => window.__benchResult, null, {
      timeout: opts.timeoutMin * 60_000,
      polling: 500,
    });
    const result = await handle.jsonValue();
    result.browser = `Chromium ${browser.version()}`;
    result.versions = {
      tfjs: version('@tensorflow/tfjs-core'),
      tfjsWebgpu: version('@tensorflow/tfjs-backend-webgpu'),
      jaxjs: version('@jax-js/jax'),
    };
    result.wallSeconds = Math.round((Date.now() - t0) / 100) / 10;

    if (result.fatal) {
      console.error(`\nBenchmark page failed: ${result.fatal}\n${result.stack ?? ''}`);
    } else {
      printTables(result);
    }
    const json = compactJson(result);
    console.log('\nJSON:');
    console.log(json);
    mkdirSync(dirname(opts.json), { recursive: true });
    writeFileSync(opts.json, `${json}\n`);
    console.log(`\nWrote ${opts.json} (${result.wallSeconds} s in all)`);
    if (result.ok) {
      exitCode = 0;
    } else {
      console.error(`\nFAILED:\n${(result.failures ?? []).map((f) => `  - ${f}`).join('\n')}`);
    }
  } catch (e) {
    console.error(`\nBenchmark failed: ${e?.stack ?? e}`);
  } finally {
    if (exitCode !== 0 && consoleErrors.length) {
      console.error(`\nPage console errors:\n${consoleErrors.map((t) => `  ${t}`).join('\n')}`);
    }
    await cleanup();
  }
  process.exit(exitCode);
}

main();

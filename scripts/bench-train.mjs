// npm run bench:train [-- --quick] [-- --libs ours,tfjs,jaxjs] [-- --modes lora,full]
//                     [-- --json PATH] [-- --timeout-min N]
//
// Training tokens/s of the default base model (a LoRA step and a full fine-tune step on
// 16 x 128 tokens) for our engine, TensorFlow.js and jax-js in one headless Chromium page on
// one adapter (bench/train.html, see bench/train/main.ts for the method), then each
// library's GPU memory in a page of its own per mode. Prints a table and the JSON, writes the
// JSON to bench-results/train.json, and exits non-zero when a page or library fails or any
// library's losses disagree with the checks.
import { join, resolve } from 'node:path';
import { root, runBenchPage, table, times } from './bench-page.mjs';

const LIBS = ['ours', 'tfjs', 'jaxjs'];
const MODES = ['lora', 'full'];

function parseList(value, known, flag) {
  const items = (value ?? '').split(',').filter(Boolean);
  const bad = items.filter((x) => !known.includes(x));
  if (items.length === 0 || bad.length) {
    console.error(`${flag} takes a comma-separated subset of ${known.join(',')}, got "${value ?? ''}"`);
    process.exit(2);
  }
  return items.join(',');
}

function parseArgs(argv) {
  const opts = { quick: false, libs: null, modes: null, json: join(root, 'bench-results', 'train.json'), timeoutMin: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') opts.quick = true;
    else if (a === '--libs') opts.libs = parseList(argv[++i], LIBS, a);
    else if (a === '--modes') opts.modes = parseList(argv[++i], MODES, a);
    else if (a === '--json') opts.json = resolve(argv[++i] ?? '');
    else if (a === '--timeout-min') opts.timeoutMin = Number(argv[++i]);
    else if (a === '--help' || a === '-h') {
      console.log('usage: node scripts/bench-train.mjs [--quick] [--libs ours,tfjs,jaxjs] [--modes lora,full] [--json PATH] [--timeout-min N]');
      process.exit(0);
    } else {
      console.error(`unknown argument ${a}`);
      process.exit(2);
    }
  }
  opts.timeoutMin ??= opts.quick ? 5 : 30;
  return opts;
}

const mib = (b) => (b === null || b === undefined ? '-' : `${(b / 2 ** 20).toFixed(1)}`);
const num = (x, d = 0) => (x === null || x === undefined ? '-' : x.toFixed(d));

function printTables(res) {
  const a = res.adapter ?? {};
  console.log(`\nAdapter: ${a.vendor} / ${a.architecture}${a.description ? ` / ${a.description}` : ''}${a.isSoftware ? ' (software)' : ''}`);
  for (const [lib, p] of Object.entries(res.peers ?? {})) console.log(`  ${lib}: ${p.adapter ?? `unavailable: ${p.error}`}`);
  const m = res.model ?? {};
  console.log(
    `Model: ${m.dir} (${m.parameters} parameters, ${m.config?.n_layer} layers, width ${m.config?.n_embd})   ${res.browser}   ` +
      `tfjs ${res.versions.tfjs}   jax-js ${res.versions.jaxjs}   mode: ${res.quick ? 'quick' : 'full'}   our matmul: ${res.tuning?.chosen}`,
  );
  const libs = ['ours', 'tfjs', 'jaxjs'];
  const rows = [];
  for (const c of res.cases ?? []) {
    for (const lib of libs) {
      const o = c.results[lib];
      if (!o) continue;
      rows.push([
        lib === 'ours' ? `${c.mode} ${c.B}x${c.T}` : '',
        lib,
        o.ok ? num(o.tokensPerSecond) : o.error ? 'FAILED' : '-',
        num(o.msPerStep),
        mib(o.gpuBytes),
        mib(o.gpuBytesSharedPage),
        o.checkLosses.map((l) => l.toFixed(4)).join(' '),
        o.firstStepRelErr === null ? '-' : o.firstStepRelErr.toExponential(1),
        o.afterUpdateRelErr === null ? '-' : o.afterUpdateRelErr.toExponential(1),
        lib === 'ours' ? '' : times(lib === 'tfjs' ? c.ratio_vs_tfjs : c.ratio_vs_jaxjs),
      ]);
    }
  }
  console.log('\nTraining step throughput (median of timed steps; losses read back; ratio = our tokens/s over theirs)\n');
  console.log(
    table(
      ['case', 'lib', 'tokens/s', 'ms/step', 'GPU MiB', '(shared page)', 'check losses (steps 1-3)', 'step 1 vs f64', 'steps 2-3 vs ours', 'ours/them'],
      rows,
      ['l', 'l', 'r', 'r', 'r', 'r', 'l', 'r', 'r', 'r'],
    ),
  );
  for (const c of res.cases ?? []) {
    const met = (r, t) => (r === null ? 'not measured' : r >= t ? 'met' : 'NOT met');
    console.log(
      `  ${c.id}: vs TF.js ${times(c.ratio_vs_tfjs)} (target >= ${c.target.vs_tfjs}x: ${met(c.ratio_vs_tfjs, c.target.vs_tfjs)}), ` +
        `vs jax-js ${times(c.ratio_vs_jaxjs)} (target >= ${c.target.vs_jaxjs}x: ${met(c.ratio_vs_jaxjs, c.target.vs_jaxjs)})`,
    );
  }
  console.log(
    '\nGPU MiB: measured in a fresh page per (mode, library) after the checked steps; "(shared page)": the same figure in\n' +
      'the timing page, where earlier libraries and modes may have left buffers behind; jax-js exposes no figure.',
  );
  console.log(`Total page time ${res.seconds} s (timing page)`);
}

const relErr = (got, want) => Math.abs(got - want) / Math.max(Math.abs(want), 1e-12);

/**
 * Memory, after the timing page: one fresh page per (mode, library) that prepares only that
 * library's case, runs the checked steps and reads the library's figure. In the shared page a
 * figure could include what earlier libraries or modes left behind (TF.js's pool is
 * backend-wide and never shrinks). The memory page's losses must repeat the timing page's, so
 * the figure belongs to the computation that was checked and timed.
 */
async function measureMemory(res, openPage, quick) {
  const sources = res.memory?.sources ?? {};
  const pages = [];
  for (const c of res.cases ?? []) {
    for (const [lib, o] of Object.entries(c.results)) {
      // Libraries that failed their check are not measured, and one without a figure needs no page.
      if (!o.ok || !sources[lib]) continue;
      const query = { libs: lib, modes: c.mode, memoryOnly: '1', matmul: res.tuning?.chosen };
      if (quick) query.quick = '1';
      const entry = { case: c.id, lib, query: new URLSearchParams(query).toString(), gpuBytes: null, ok: false };
      pages.push(entry);
      const t0 = Date.now();
      try {
        const page = await openPage(query, `memory ${c.mode} ${lib}`);
        const m = page.cases?.find((x) => x.id === c.id)?.results?.[lib];
        if (!page.ok || !m) throw new Error(page.fatal || (page.failures ?? []).join('; ') || 'no result');
        entry.checkLosses = m.checkLosses;
        entry.lossesRelErrVsTimingPage = Number(Math.max(...m.checkLosses.map((l, i) => relErr(l, o.checkLosses[i]))).toPrecision(3));
        if (!(entry.lossesRelErrVsTimingPage <= res.tolerances.afterUpdateVsOurs)) {
          throw new Error(`losses ${m.checkLosses.join(', ')} differ from the timing page's ${o.checkLosses.join(', ')}`);
        }
        entry.gpuBytes = m.gpuBytes;
        entry.ok = true;
        o.gpuBytes = m.gpuBytes;
      } catch (e) {
        entry.error = String(e?.message ?? e);
        res.failures.push(`${c.id} ${lib} memory page: ${entry.error}`);
        res.ok = false;
      }
      entry.seconds = Math.round((Date.now() - t0) / 100) / 10;
    }
  }
  res.memory = {
    method:
      'gpuBytes: one fresh page per (mode, library) that prepares that case, runs the checked steps and then reads the figure; ' +
      'gpuBytesSharedPage: the same figure in the shared timing page after timing',
    ...res.memory,
    pages,
  };
}

const opts = parseArgs(process.argv.slice(2));
const query = {};
if (opts.quick) query.quick = '1';
if (opts.libs) query.libs = opts.libs;
if (opts.modes) query.modes = opts.modes;
runBenchPage({
  page: 'bench/train.html',
  query,
  timeoutMin: opts.timeoutMin,
  jsonPath: opts.json,
  printTables,
  extend: (res, openPage) => measureMemory(res, openPage, opts.quick),
});

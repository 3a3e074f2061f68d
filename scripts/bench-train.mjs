// npm run bench:train [-- --quick] [-- --libs ours,tfjs,jaxjs] [-- --modes lora,full]
//                     [-- --json PATH] [-- --timeout-min N]
//
// Training tokens/s of the default base model (a LoRA step and a full fine-tune step on
// 16 x 128 tokens) for our engine, TensorFlow.js and jax-js in one headless Chromium page on
// one adapter (bench/train.html, see bench/train/main.ts for the method). Prints a table
// and the JSON, writes the JSON to bench-results/train.json, and exits non-zero when a page
// or library fails or any library's losses disagree with the checks.
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
      ['case', 'lib', 'tokens/s', 'ms/step', 'GPU MiB', 'check losses (steps 1-3)', 'step 1 vs f64', 'steps 2-3 vs ours', 'ours/them'],
      rows,
      ['l', 'l', 'r', 'r', 'r', 'l', 'r', 'r', 'r'],
    ),
  );
  for (const c of res.cases ?? []) {
    const met = (r, t) => (r === null ? 'not measured' : r >= t ? 'met' : 'NOT met');
    console.log(
      `  ${c.id}: vs TF.js ${times(c.ratio_vs_tfjs)} (target >= ${c.target.vs_tfjs}x: ${met(c.ratio_vs_tfjs, c.target.vs_tfjs)}), ` +
        `vs jax-js ${times(c.ratio_vs_jaxjs)} (target >= ${c.target.vs_jaxjs}x: ${met(c.ratio_vs_jaxjs, c.target.vs_jaxjs)})`,
    );
  }
  console.log(`\nTotal page time ${res.seconds} s`);
}

const opts = parseArgs(process.argv.slice(2));
const query = {};
if (opts.quick) query.quick = '1';
if (opts.libs) query.libs = opts.libs;
if (opts.modes) query.modes = opts.modes;
runBenchPage({ page: 'bench/train.html', query, timeoutMin: opts.timeoutMin, jsonPath: opts.json, printTables });

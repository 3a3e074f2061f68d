// npm run bench:kernels [-- --quick] [-- --only matmul|lora] [-- --json PATH] [-- --timeout-min N]
//
// Builds bench/index.html with Vite, serves it from http://127.0.0.1:<free port> (WebGPU
// needs a secure context), opens it in headless Chromium with the shared WebGPU flags,
// waits for window.__benchResult, then prints a table and the JSON and writes the JSON to
// bench-results/kernels.json. Exits non-zero when the page fails, any implementation's
// result differs from the CPU reference, or a peer library cannot run.
import { join, resolve } from 'node:path';
import { root, runBenchPage, table, times } from './bench-page.mjs';

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

// ---------------------------------------------------------------- printing

const isMeasured = (o) => o && typeof o.gflops === 'number';
const cell = (o) => (isMeasured(o) ? o.gflops.toFixed(2) : o?.check ? 'WRONG' : o ? 'ERR' : '-');
const ms = (o) => (isMeasured(o) ? o.ms.toFixed(2) : o?.check ? 'WRONG' : o ? 'ERR' : '-');
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

// ---------------------------------------------------------------- main

const opts = parseArgs(process.argv.slice(2));
const query = {};
if (opts.quick) query.quick = '1';
if (opts.only) query.only = opts.only;
runBenchPage({ page: 'bench/index.html', query, timeoutMin: opts.timeoutMin, jsonPath: opts.json, printTables });

// npm run bench:train [-- --quick] [-- --libs ours,node,tfjs,jaxjs] [-- --modes lora,full,small]
//                     [-- --json PATH] [-- --timeout-min N]
//
// Training tokens/s of the default base model (a LoRA step and a full fine-tune step on
// 16 x 128 tokens, and the small step: 16 examples of ~35 tokens with LoRA on all four
// projections) for our engine in Chromium, our engine in Node (Dawn, in a child process this
// runner serves to the page), TensorFlow.js and jax-js, timed in the same rounds of one
// headless Chromium page on one adapter (bench/train.html, see bench/train/main.ts for the
// method), then each browser library's GPU memory in a page of its own per mode. Prints a
// table and the JSON, writes the JSON to bench-results/train.json, and exits non-zero when a
// page or library fails or any library's losses disagree with the checks.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join, resolve } from 'node:path';
import { root, runBenchPage, table, times } from './bench-page.mjs';

const LIBS = ['ours', 'node', 'tfjs', 'jaxjs'];
const MODES = ['lora', 'full', 'small'];

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
      console.log(`usage: node scripts/bench-train.mjs [--quick] [--libs ${LIBS.join(',')}] [--modes ${MODES.join(',')}] [--json PATH] [--timeout-min N]`);
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
  const libs = ['ours', 'node', 'tfjs', 'jaxjs'];
  const rows = [];
  for (const c of res.cases ?? []) {
    for (const lib of libs) {
      const o = c.results[lib];
      if (!o) continue;
      rows.push([
        lib === 'ours' ? `${c.kind} ${c.B}x${c.T}` : '',
        lib === 'node' ? 'ours (Node)' : lib,
        o.ok ? num(o.tokensPerSecond) : o.error ? 'FAILED' : '-',
        num(o.msPerStep),
        o.dispatchesPerStep === null || o.dispatchesPerStep === undefined ? '-' : num(o.dispatchesPerStep),
        mib(o.gpuBytes),
        mib(o.gpuBytesSharedPage),
        o.checkLosses.map((l) => l.toFixed(4)).join(' '),
        o.firstStepRelErr === null ? '-' : o.firstStepRelErr.toExponential(1),
        o.afterUpdateRelErr === null ? '-' : o.afterUpdateRelErr.toExponential(1),
        lib === 'ours' ? '' : lib === 'node' ? `${num(c.node_vs_chromium, 2)} (time)` : times(lib === 'tfjs' ? c.ratio_vs_tfjs : c.ratio_vs_jaxjs),
      ]);
    }
  }
  console.log('\nTraining step throughput (median of timed steps; losses read back; ratio = our tokens/s over theirs)\n');
  console.log(
    table(
      ['case', 'lib', 'tokens/s', 'ms/step', 'dispatches', 'GPU MiB', '(shared page)', 'check losses (steps 1-3)', 'step 1 vs f64', 'steps 2-3 vs ours', 'ours/them'],
      rows,
      ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'l', 'r', 'r', 'r'],
    ),
  );
  const below = (r, t) => (r === null || r === undefined ? 'not measured' : r <= t ? 'met' : 'NOT met');
  for (const c of res.cases ?? []) {
    if (c.node_vs_chromium !== null && c.node_vs_chromium !== undefined) {
      console.log(`  ${c.id}: node_vs_chromium ${num(c.node_vs_chromium, 3)} (step time, goal <= ${res.targets.node_vs_chromium}: ${below(c.node_vs_chromium, res.targets.node_vs_chromium)})`);
    }
  }
  for (const [lib, r] of Object.entries(res.small_vs_big ?? {})) {
    console.log(`  small_vs_big (${lib === 'node' ? 'ours in Node' : 'ours in Chromium'}): ${num(r, 3)} (goal <= ${res.targets.small_vs_big}: ${below(r, res.targets.small_vs_big)}; token share ${num(res.small_token_share, 3)})`);
  }
  for (const c of res.cases ?? []) {
    if (c.ratio_vs_tfjs === null && c.ratio_vs_jaxjs === null) continue;
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
      const query = { libs: lib, modes: c.kind, memoryOnly: '1', matmul: res.tuning?.chosen };
      if (quick) query.quick = '1';
      const entry = { case: c.id, lib, query: new URLSearchParams(query).toString(), gpuBytes: null, ok: false };
      pages.push(entry);
      const t0 = Date.now();
      try {
        const page = await openPage(query, `memory ${c.kind} ${lib}`);
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

/**
 * Our engine in Node for the page: bench/train/nodeEngine.ts in a child process (under tsx,
 * which runs the TypeScript sources as they are), started on the page's first request.
 * Requests and replies are JSON lines matched by id.
 */
function nodeEngineServer() {
  let child = null;
  let nextId = 1;
  const waiting = new Map();
  const start = () => {
    child = spawn(process.execPath, [join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(root, 'bench', 'train', 'nodeEngine.ts')], {
      cwd: root,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      const reply = JSON.parse(line);
      waiting.get(reply.id)?.(line);
      waiting.delete(reply.id);
    });
    // Dawn's and the Vulkan loader's chatter about drivers it skipped is not news.
    createInterface({ input: child.stderr }).on('line', (line) => {
      if (!/XDG_RUNTIME_DIR|shaderUniform|InitializeImpl|While initializing adapter|^\s*$/.test(line)) console.log(`  [node] ${line}`);
    });
    child.on('exit', (code) => {
      for (const [id, done] of waiting) done(JSON.stringify({ id, error: `the Node engine exited (code ${code})` }));
      waiting.clear();
      child = null;
    });
  };
  return {
    call: (request) =>
      new Promise((done) => {
        if (!child) start();
        const id = nextId++;
        waiting.set(id, done);
        child.stdin.write(`${JSON.stringify({ ...JSON.parse(request), id })}\n`);
      }),
    close: () => {
      if (!child) return;
      const c = child;
      return new Promise((done) => {
        c.once('exit', done);
        c.stdin.end();
        setTimeout(() => c.kill(), 5000).unref();
      });
    },
  };
}

const opts = parseArgs(process.argv.slice(2));
const nodeEngine = nodeEngineServer();
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
  expose: { __nodeEngine: (request) => nodeEngine.call(request) },
  onClose: () => nodeEngine.close(),
});

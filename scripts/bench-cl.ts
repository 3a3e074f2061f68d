// npm run bench:cl [-- run flags]
//
// The continual-learning benchmark: every method on the built-in stream with the default
// preset (any `continual-lab run` flag overrides: --methods, --preset, --max-tasks, --set,
// --seed, --resume), results in bench-results/cl.json (--out to change). Prints, per
// method, OP, BWT, FWT, the parameters it stores after the last task, training and
// evaluation time and training tokens/s; then evaluation's share of the wall time and the
// expectations the benchmark is read against (DESIGN.md): whether each holds.
import { mkdirSync } from 'node:fs';
import { runCommand } from '../src/cli/run';
import { createNodeContext, releaseNodeGpu } from '../src/gpu/node';
import { seeCheckBench } from './see-check-bench';

const argv = process.argv.slice(2);
const args = [...argv];
if (!args.includes('--out')) args.push('--out', 'bench-results/cl.json');
if (!args.includes('--preset')) args.push('--preset', 'default');
// SEE's out-of-distribution rejection is read on the shipped tasks no method trains on.
if (!args.includes('--ood')) args.push('--ood', 'builtin');
mkdirSync('bench-results', { recursive: true });
const tty = process.stderr.isTTY;
const started = performance.now();
const results = await runCommand(
  args,
  (s) => (tty ? process.stderr.write('\r\x1b[K') : 0, console.log(s)),
  (s) => (tty ? process.stderr.write(`\r\x1b[K${s}`) : console.error(s)),
);
const wall = (performance.now() - started) / 1000;

const f = (v: number | null, d = 1) => (v === null ? 'n/a' : v.toFixed(d));
const rows = Object.entries(results.methods).map(([id, m]) => {
  const stored = [...m.params.stored].reverse().find((v) => v !== null) ?? null;
  return `| ${id} | ${f(m.OP)} | ${f(m.BWT)} | ${f(m.FWT)} | ${stored === null ? 'n/a' : stored.toLocaleString('en-US')} | ${f(m.seconds.train, 0)} | ${f(m.seconds.eval, 0)} | ${f(m.tokensPerSecond, 0)} |`;
});
console.log('');
console.log(`stream ${results.streamName} (${results.stream.length} tasks), preset ${results.preset}, seed ${results.seed}, ${results.environment.adapter}`);
console.log('| method | OP | BWT | FWT | stored params | train s | eval s | train tokens/s |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of rows) console.log(r);
const evalSeconds = Object.values(results.methods).reduce((s, m) => s + m.seconds.eval, 0);
const trainSeconds = Object.values(results.methods).reduce((s, m) => s + m.seconds.train, 0);
console.log(`wall ${(wall / 60).toFixed(1)} min: training ${(trainSeconds / 60).toFixed(1)} min, evaluation ${(evalSeconds / 60).toFixed(1)} min (${((100 * evalSeconds) / wall).toFixed(0)}% of the wall time; goal under 50%)`);

const m = results.methods;
const checks: [string, boolean | null][] = [];
if (m.seqlora?.BWT != null) checks.push(['SeqLoRA forgets clearly (BWT <= -10)', m.seqlora.BWT <= -10]);
for (const id of ['replay', 'ewc', 'olora']) {
  if (m[id]?.BWT != null && m.seqlora?.BWT != null) checks.push([`${id} forgets less than SeqLoRA (BWT ${f(m[id].BWT)} > ${f(m.seqlora.BWT)})`, m[id].BWT! > m.seqlora.BWT]);
}
const baselines = ['seqft', 'seqlora', 'replay', 'ewc', 'olora'];
if (m.mtl?.OP != null) {
  const best = Math.max(...Object.entries(m).filter(([id]) => baselines.includes(id)).map(([, r]) => r.OP ?? -Infinity));
  checks.push([`MTL's OP is the highest of the baselines (${f(m.mtl.OP)} vs best other ${f(best)})`, m.mtl.OP >= best]);
}

const last = (xs: (number | null)[]) => [...xs].reverse().find((v) => v !== null) ?? null;
if (m.see?.done) {
  const r = m.see.routing as { oodRejection: Record<string, number>; confusion: Record<string, number[]>; handlers: string[] };
  const tasks = results.stream.map((t) => t.name);
  const own = tasks.map((t, i) => r.confusion[t]?.[i] ?? 0).reduce((a, b) => a + b, 0);
  const total = tasks.map((t) => (r.confusion[t] ?? []).reduce((a, b) => a + b, 0)).reduce((a, b) => a + b, 0);
  console.log(`SEE routing: ${((100 * own) / Math.max(1, total)).toFixed(1)}% of test queries answered by their own task's expert; confusion (true task x handler: ${r.handlers.join(', ')}):`);
  for (const t of tasks) console.log(`  ${t.padEnd(12)} ${(r.confusion[t] ?? []).join(' ')}`);
  for (const [t, v] of Object.entries(r.oodRejection)) {
    console.log(`SEE out-of-distribution rejection on ${t}: ${v.toFixed(1)}%`);
    checks.push([`SEE rejects at least 80% of the unseen task ${t}'s queries (${v.toFixed(1)}%)`, v >= 80]);
  }
  if (m.see.BWT != null) checks.push([`SEE forgets little (BWT ${f(m.see.BWT)} >= -3)`, m.see.BWT >= -3]);
  if (m.see.OP != null && m.replay?.OP != null) checks.push([`SEE's OP >= Replay's (${f(m.see.OP)} vs ${f(m.replay.OP)})`, m.see.OP >= m.replay.OP]);
  if (m.see.OP != null && m.mtl?.OP != null) checks.push([`SEE's OP within 1 point of MTL's or above (${f(m.see.OP)} vs ${f(m.mtl.OP)})`, m.see.OP >= m.mtl.OP - 1]);
}
if (m.moses?.done) {
  const r = { OP_til: m.moses.OP_til ?? null, BWT_til: m.moses.BWT_til ?? null, taskId: m.moses.taskId ?? [], capacity: m.moses.capacity ?? [], grew: m.moses.grew ?? [] };
  const ids = r.taskId.filter((v): v is number => v !== null);
  console.log(
    `MoSEs: with the task id OP ${f(r.OP_til)}, BWT ${f(r.BWT_til)}; task identification ${(ids.reduce((a, b) => a + b, 0) / Math.max(1, ids.length)).toFixed(1)}% ` +
      `(per task ${r.taskId.map((v) => f(v, 0)).join(' ')}); pool size after each task ${r.capacity.join(' ')} (grew: ${r.grew.map((g) => (g ? 'y' : 'n')).join('')})`,
  );
  if (r.BWT_til != null) checks.push([`MoSEs with the task id forgets nothing (BWT ${f(r.BWT_til)} = 0)`, r.BWT_til === 0]);
  if (m.moses.BWT != null) checks.push([`MoSEs task-agnostic forgets little (BWT ${f(m.moses.BWT)} >= -3)`, m.moses.BWT >= -3]);
  if (m.see?.done) {
    const ms = last(m.moses.params.stored)!;
    const ss = last(m.see.params.stored)!;
    checks.push([`MoSEs stores at most half of SEE's parameters (${ms.toLocaleString('en-US')} vs ${ss.toLocaleString('en-US')})`, ms <= ss / 2]);
    if (m.moses.OP != null && m.see.OP != null) checks.push([`MoSEs' OP within 2 points of SEE's (${f(m.moses.OP)} vs ${f(m.see.OP)})`, Math.abs(m.moses.OP - m.see.OP) <= 2 || m.moses.OP > m.see.OP]);
  }
}
if (m.see) {
  const ctx = await createNodeContext();
  try {
    for (const line of await seeCheckBench(ctx)) console.log(line);
  } finally {
    await releaseNodeGpu(ctx);
  }
}
for (const [what, ok] of checks) console.log(`${ok ? 'holds  ' : 'MISSES '} ${what}`);

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

const argv = process.argv.slice(2);
const args = [...argv];
if (!args.includes('--out')) args.push('--out', 'bench-results/cl.json');
if (!args.includes('--preset')) args.push('--preset', 'default');
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
if (m.mtl?.OP != null) {
  const best = Math.max(...Object.entries(m).filter(([id]) => id !== 'mtl').map(([, r]) => r.OP ?? -Infinity));
  checks.push([`MTL's OP is the highest (${f(m.mtl.OP)} vs best other ${f(best)})`, m.mtl.OP >= best]);
}
for (const [what, ok] of checks) console.log(`${ok ? 'holds  ' : 'MISSES '} ${what}`);

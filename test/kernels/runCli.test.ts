import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { MethodResult, RunResults } from '../../src/cl/results';
import { summariseTransfer } from '../../src/eval/transfer';

const dir = mkdtempSync(join(tmpdir(), 'continual-lab-run-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const CLI = join(process.cwd(), 'bin/continual-lab.mjs');
// The runs share one matmul measurement, as runs on one machine do (and not the user's cache).
const ENV = { ...process.env, CONTINUAL_LAB_CACHE_DIR: join(dir, 'cache') };
const RUN = ['run', '--preset', 'tiny', '--max-tasks', '2', '--methods', 'seqlora,replay', '--seed', '3'];

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 600_000, env: ENV });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Everything but wall-clock figures: a seeded run repeats these bit for bit. */
function deterministicPart(r: RunResults) {
  return {
    stream: r.stream,
    base: r.base,
    methods: Object.fromEntries(Object.entries(r.methods).map(([id, m]: [string, MethodResult]) => [id, { ...m, seconds: null, tokensPerSecond: null }])),
  };
}

describe('continual-lab run', () => {
  it('refuses bad input before any training, naming the file, line and reason', () => {
    const bad = join(dir, 'bad');
    mkdirSync(join(bad, 'capitals'), { recursive: true });
    writeFileSync(join(bad, 'capitals', 'train.jsonl'), '{"prompt":"Capital of France:","answer":" Paris"}\n{"prompt":"Capital of Peru:" "answer":" Lima"}\n');
    writeFileSync(join(bad, 'capitals', 'test.jsonl'), '{"prompt":"Capital of Chile:","answer":" Santiago"}\n');
    const r = cli(['run', '--stream', bad, '--out', join(dir, 'never.json')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/error: capitals\/train\.jsonl: line 2: not valid JSON/);
    expect(existsSync(join(dir, 'never.json'))).toBe(false);

    expect(cli(['run', '--stream', join(dir, 'missing')]).stderr).toMatch(/stream folder .*missing not found/);
    mkdirSync(join(dir, 'empty'));
    expect(cli(['run', '--stream', join(dir, 'empty')]).stderr).toMatch(/no tasks: expected one sub-folder per task/);
    const unknown = cli(['run', '--methods', 'seqlora,magic']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/unknown method "magic" \(methods: seqft, seqlora, replay, ewc, olora, mtl, see, moses\)/);
    expect(cli(['run', '--methods', 'ewc', '--set', 'ewc.lambda=-1']).stderr).toMatch(/ewc setting "lambda" must be in 0\.\.1000000000, got -1/);
  });

  it('runs two methods on two built-in tasks, writes results.json after every stage, and a killed run resumes to the same results', async () => {
    const fullPath = join(dir, 'full.json');
    const full = cli([...RUN, '--out', fullPath]);
    expect(full.status, full.stderr).toBe(0);
    expect(full.stderr).toMatch(/\] seqlora \(1\/2\) stage 1\/2 sentiment: train step \d+\/12 loss \d+\.\d{3} {2}ETA /);
    expect(full.stdout).toMatch(/seqlora +OP +\d+\.\d +BWT +-?\d+\.\d +FWT/);
    const results = JSON.parse(readFileSync(fullPath, 'utf8')) as RunResults;
    expect(results.stream.map((t) => [t.name, t.train, t.test, t.test_kind])).toEqual([
      ['sentiment', 32, 32, 'retention'],
      ['capitals', 32, 32, 'retention'],
    ]);
    expect(results).toMatchObject({ version: 1, seed: 3, preset: 'tiny', streamName: 'builtin' });
    expect(results.environment.matmulTuning?.winner).toBeTruthy();
    expect(existsSync(join(dir, 'cache', 'matmul-tuning.json'))).toBe(true);
    for (const id of ['seqlora', 'replay']) {
      const m = results.methods[id];
      expect(m.done).toBe(true);
      expect(m.R).toHaveLength(3);
      expect(m.R[0]).toEqual(results.base);
      expect({ OP: m.OP, BWT: m.BWT, FWT: m.FWT }).toEqual((({ OP, BWT, FWT }) => ({ OP, BWT, FWT }))(summariseTransfer(m.R)));
      expect(m.seconds.train).toBeGreaterThan(0);
      expect(m.seconds.eval).toBeGreaterThan(0);
    }
    // Every method finished, so no state is left behind.
    expect(existsSync(`${fullPath}.state`)).toBe(false);

    // The same run, killed once results.json records its first finished stage, then resumed.
    const cutPath = join(dir, 'cut.json');
    const child = spawn(process.execPath, [CLI, ...RUN, '--out', cutPath], { stdio: 'ignore', env: ENV });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    const stagesDone = () => (existsSync(cutPath) ? ((JSON.parse(readFileSync(cutPath, 'utf8')) as RunResults).methods.seqlora?.stagesDone ?? 0) : 0);
    for (let waited = 0; stagesDone() < 1; waited += 100) {
      if (waited > 540_000) throw new Error('no stage finished');
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGKILL');
    expect(readdirSync(`${cutPath}.state`)).toEqual(['seqlora-stage1.safetensors']);
    await exited;
    const cut = JSON.parse(readFileSync(cutPath, 'utf8')) as RunResults;
    expect(cut.methods.seqlora.stagesDone).toBe(1);
    expect(cut.methods.seqlora.done).toBe(false);
    const resumed = cli([...RUN, '--out', cutPath, '--resume']);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/resuming .*cut\.json: seqlora 1 stage\(s\)/);
    expect(deterministicPart(JSON.parse(readFileSync(cutPath, 'utf8')))).toEqual(deterministicPart(results));
  }, 900_000);
});

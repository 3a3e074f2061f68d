import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUILTIN_STREAM_DIR, readStreamFiles } from '../../src/cli/streamFiles';
import { loadStream } from '../../src/data/stream';

describe('built-in stream', () => {
  const files = readStreamFiles(BUILTIN_STREAM_DIR);
  const { stream } = loadStream(files, { name: 'builtin' });
  const key = (e: { prompt: string; answer: string }) => JSON.stringify([e.prompt, e.answer]);

  it('has eight tasks in stream.json order, each kind once, in at most 2 MB', () => {
    expect(stream.name).toBe('builtin');
    expect(stream.tasks.map((t) => t.name)).toEqual(['sentiment', 'capitals', 'arithmetic', 'past_tense', 'elements', 'lodash', 'country_de', 'pronounce']);
    const bytes = files.reduce((n, f) => n + f.bytes.byteLength, 0);
    expect(bytes).toBeLessThanOrEqual(2 * 1024 * 1024);
    for (const t of stream.tasks) {
      expect(t.train.length, t.name).toBeGreaterThanOrEqual(100);
      expect(t.test.length, t.name).toBeGreaterThanOrEqual(32);
      expect(t.description.length, t.name).toBeGreaterThan(20);
    }
  });

  it('holds out the test of heldout tasks and samples the trained items for retention tasks', () => {
    for (const t of stream.tasks) {
      const trained = new Set(t.train.map(key));
      const inTrain = t.test.filter((e) => trained.has(key(e))).length;
      if (t.testKind === 'retention') {
        expect(inTrain, t.name).toBe(t.test.length);
        // The test is the start of the (shuffled) train file, so a preset's prefix keeps it.
        expect(t.train.slice(0, t.test.length), t.name).toEqual(t.test);
      } else {
        expect(inTrain, t.name).toBe(0);
        // No prompt of the test appears in training with another answer either.
        const prompts = new Set(t.train.map((e) => e.prompt));
        expect(t.test.filter((e) => prompts.has(e.prompt)), t.name).toEqual([]);
      }
    }
    expect(stream.tasks.filter((t) => t.testKind === 'retention').map((t) => t.name)).toEqual(['sentiment', 'capitals', 'past_tense', 'elements']);
  });

  it('sentiment is balanced; answers fit their budget', () => {
    const sentiment = stream.tasks[0];
    const positive = sentiment.train.filter((e) => e.answer === ' positive').length;
    expect(Math.abs(positive / sentiment.train.length - 0.5)).toBeLessThan(0.1);
    const enc = new TextEncoder();
    for (const t of stream.tasks) {
      for (const e of [...t.train, ...t.test]) expect(enc.encode(e.answer).byteLength + 1, `${t.name}: ${e.answer}`).toBeLessThanOrEqual(t.maxAnswerTokens);
    }
  });

  it('is rebuilt byte for byte by npm run data, with the out-of-distribution tasks beside it', () => {
    const out = mkdtempSync(join(tmpdir(), 'builtin-'));
    try {
      execFileSync(process.execPath, ['--import', 'tsx', 'scripts/make-data.ts', '--out', out], { stdio: 'pipe' });
      const rebuilt = readStreamFiles(join(out, 'builtin'));
      expect(rebuilt.map((f) => f.path)).toEqual(files.map((f) => f.path));
      for (const f of rebuilt) expect(Buffer.from(f.bytes).equals(readFileSync(join(BUILTIN_STREAM_DIR, f.path))), f.path).toBe(true);
      const oodDir = join(BUILTIN_STREAM_DIR, '..', 'ood');
      const ood = readStreamFiles(join(out, 'ood'));
      expect(ood.map((f) => f.path)).toEqual(readStreamFiles(oodDir).map((f) => f.path));
      for (const f of ood) expect(Buffer.from(f.bytes).equals(readFileSync(join(oodDir, f.path))), f.path).toBe(true);
      // No out-of-distribution prompt is a built-in task's prompt.
      const builtinPrompts = new Set(loadStream(files, { name: 'builtin' }).stream.tasks.flatMap((t) => [...t.train, ...t.test].map((e) => e.prompt)));
      for (const t of loadStream(ood, { name: 'ood' }).stream.tasks) for (const e of [...t.train, ...t.test]) expect(builtinPrompts.has(e.prompt)).toBe(false);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 60_000);
});

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The float64 references in src/reference/ are the tests' oracle. Production code must not
// depend on them (shared helpers such as the seeded RNG live in src/util/, below both), so
// that a bug in an oracle can never leak into what it checks.
const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');
const REFERENCE = join(SRC, 'reference');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|tsx)$/.test(name) ? [path] : [];
  });
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)];
  return specs.map((m) => m[1] ?? m[2]).filter((s) => s.startsWith('.'));
}

/** Value imports only (not `import type`): what ends up in a bundle. */
function valueImportsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/^(?:import|export)\s(?!type\s)[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm)];
  return specs.map((m) => m[1] ?? m[2]).filter((s) => s.startsWith('.'));
}

function resolveSource(from: string, spec: string): string {
  const base = resolve(dirname(from), spec);
  for (const candidate of [base, `${base}.ts`, `${base}.tsx`, join(base, 'index.ts')]) {
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // try the next form
    }
  }
  return base;
}

/** Every module `entry` pulls in through value imports. */
function closure(entry: string): Set<string> {
  const seen = new Set<string>();
  const todo = [entry];
  while (todo.length) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    if (!/\.(ts|tsx)$/.test(f)) continue;
    for (const spec of valueImportsOf(f)) todo.push(resolveSource(f, spec));
  }
  return seen;
}

describe('layering', () => {
  it('the page holds no GPU device: its code never pulls in the GPU runtime (the worker does)', () => {
    const page = closure(join(SRC, 'main.tsx'));
    const gpu = [...page].filter((f) => f.startsWith(join(SRC, 'gpu')) && !f.endsWith('webgpuSupport.ts') && !f.endsWith('adapterInfo.ts'));
    expect(gpu.map((f) => relative(SRC, f))).toEqual([]);
    // The check can fail: the worker's entry does pull the runtime in.
    expect([...closure(join(SRC, 'worker', 'trainingWorker.ts'))].some((f) => f.endsWith(join('gpu', 'context.ts')))).toBe(true);
  });

  it('production modules never import the float64 references', () => {
    const offenders: string[] = [];
    for (const file of sourceFiles(SRC)) {
      if (file.startsWith(REFERENCE)) continue;
      for (const spec of importsOf(file)) {
        const target = resolve(dirname(file), spec);
        if (target === REFERENCE || target.startsWith(REFERENCE + '/')) offenders.push(`${relative(SRC, file)} imports ${spec}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('finds imports in the forms the code uses (the check above can fail)', () => {
    const here = fileURLToPath(import.meta.url);
    expect(importsOf(here)).toEqual([]);
    const tape = join(SRC, 'autograd', 'tape.ts');
    expect(importsOf(tape).length).toBeGreaterThan(0);
  });
});

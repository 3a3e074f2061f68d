import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { KeyValueStore } from '../diagnostics/matmulTuningCache';

/**
 * Where the command line keeps what it measured about this machine's adapter (the matmul
 * variant), as the page keeps it in localStorage: CONTINUAL_LAB_CACHE_DIR, else
 * $XDG_CACHE_HOME/continual-lab, else ~/.cache/continual-lab. Runs on one machine then use
 * one kernel variant, so their float sums, and so their results, agree bit for bit.
 */
export function cacheDir(): string {
  return process.env.CONTINUAL_LAB_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'continual-lab');
}

/** A key-value store in one JSON file; unreadable or unwritable files degrade to no cache. */
export function fileStore(path = join(cacheDir(), 'matmul-tuning.json')): KeyValueStore {
  const read = (): Record<string, string> => {
    try {
      return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Record<string, string>) : {};
    } catch {
      return {};
    }
  };
  return {
    getItem: (key) => read()[key] ?? null,
    setItem: (key, value) => {
      try {
        mkdirSync(dirname(path), { recursive: true });
        const tmp = `${path}.${process.pid}.tmp`;
        writeFileSync(tmp, JSON.stringify({ ...read(), [key]: value }, null, 1));
        renameSync(tmp, path);
      } catch {
        // A read-only home: the measurement still holds for this run.
      }
    },
  };
}

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataError, DEFAULT_LIMITS } from '../data/examples';
import type { StreamFile } from '../data/stream';

/** The built-in stream, as `npm run data` wrote it. */
export const BUILTIN_STREAM_DIR = fileURLToPath(new URL('../../public/data/builtin', import.meta.url));
/** The shipped out-of-distribution tasks (`--ood builtin`): kinds the built-in stream has none of. */
export const BUILTIN_OOD_DIR = fileURLToPath(new URL('../../public/data/ood', import.meta.url));

/**
 * Every file under a stream folder as (relative path, bytes), the form the loader reads
 * (the page gives it the same from a dropped folder). Depth is capped: the loader refuses
 * anything below a task folder anyway, and a stray symlink loop must not hang the CLI.
 */
export function readStreamFiles(dir: string, maxFileBytes = DEFAULT_LIMITS.maxFileBytes, maxDepth = 3): StreamFile[] {
  if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`${dir}: not a folder (a stream is a folder with one sub-folder or file per task)`);
  const out: StreamFile[] = [];
  const walk = (at: string, depth: number) => {
    for (const entry of readdirSync(at, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = join(at, entry.name);
      const path = relative(dir, full).split(sep).join('/');
      if (entry.isDirectory()) {
        if (depth < maxDepth) walk(full, depth + 1);
        else out.push({ path: `${path}/`, bytes: new Uint8Array() });
      } else if (entry.isFile()) {
        // Refused before reading, so a stray multi-gigabyte file costs nothing.
        const size = statSync(full).size;
        if (size > maxFileBytes) throw new DataError(path, `the file is ${(size / 2 ** 20).toFixed(1)} MiB, over the limit of ${(maxFileBytes / 2 ** 20).toFixed(1)} MiB`);
        out.push({ path, bytes: new Uint8Array(readFileSync(full)) });
      }
    }
  };
  walk(dir, 1);
  return out;
}

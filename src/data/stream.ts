import { rng, seedFor, shuffleInPlace } from '../util/random';
import { DataError, DEFAULT_LIMITS, decodeText, exampleFormat, parseExampleFile, type Example, type ImportLimits } from './examples';
import {
  DEFAULT_MAX_ANSWER_TOKENS,
  DEFAULT_TEST_FRACTION,
  parseManifestObject,
  parseTaskManifest,
  type Stream,
  type Task,
  type TaskManifest,
} from './task';

/**
 * A stream is a folder: one sub-folder per task (train and test files, an optional
 * task.json), or a single data file per task, and an optional stream.json giving the
 * order. This module sees the folder as a list of (relative path, bytes), so a folder
 * dropped on the page and one read from disk go through the same code.
 *
 * Loading is all or nothing: the first bad file throws a DataError and no Stream exists,
 * so whatever the caller held before is untouched.
 */

export interface StreamFile {
  /** Path relative to the stream's folder, '/'-separated (e.g. `capitals/train.jsonl`). */
  path: string;
  bytes: Uint8Array;
}

export interface LoadStreamOptions {
  /** Used when stream.json gives no name. */
  name?: string;
  /** Seeds the test split of single-file tasks (each task's split depends on its name, not its place). */
  seed?: number;
  limits?: ImportLimits;
}

export interface LoadedStream {
  stream: Stream;
  /** What the loader decided on the user's behalf (splits made, files skipped), for display. */
  notes: string[];
}

/** stream.json: the stream's name and the order of its tasks (every task, each once). */
interface StreamManifest {
  name?: string;
  order?: string[];
  description?: string;
}

const STREAM_MANIFEST = 'stream.json';
const TASK_MANIFEST = 'task.json';
/** Split names a task folder may hold; eval (TRACE's validation split) stands in for a missing test. */
const SPLITS = ['train', 'test', 'eval'] as const;

/** Files a stream folder may carry that are not data: documentation and OS litter. */
function isIgnorable(name: string): boolean {
  return name.startsWith('.') || /^(readme|licen[cs]e|notice)(\..*)?$/i.test(name) || /\.(md|txt)$/i.test(name);
}

function parseStreamManifest(text: string): StreamManifest {
  const m = parseManifestObject(STREAM_MANIFEST, text, ['name', 'order', 'description'], '{"order": ["task_a", "task_b"]}');
  if (m.name !== undefined && (typeof m.name !== 'string' || m.name.trim() === '')) throw new DataError(STREAM_MANIFEST, '"name" must be a non-empty string');
  if (m.description !== undefined && typeof m.description !== 'string') throw new DataError(STREAM_MANIFEST, '"description" must be a string');
  if (m.order !== undefined && !(Array.isArray(m.order) && m.order.every((t) => typeof t === 'string'))) {
    throw new DataError(STREAM_MANIFEST, '"order" must be a list of task folder names');
  }
  return m as StreamManifest;
}

interface TaskSource {
  /** Folder (or file stem) name: what stream.json's order refers to. */
  id: string;
  files: Map<string, StreamFile>;
  single: StreamFile | null;
}

/** Groups the files into tasks, refusing layouts the loader would have to guess about. */
function groupTasks(files: readonly StreamFile[], notes: string[]): { sources: Map<string, TaskSource>; manifest: StreamFile | null } {
  const sources = new Map<string, TaskSource>();
  let manifest: StreamFile | null = null;
  const source = (id: string) => {
    let s = sources.get(id);
    if (!s) sources.set(id, (s = { id, files: new Map(), single: null }));
    return s;
  };
  for (const f of files) {
    const parts = f.path.split('/').filter((p) => p !== '' && p !== '.');
    const name = parts[parts.length - 1] ?? '';
    if (parts.some((p) => p.startsWith('.')) || isIgnorable(name)) {
      notes.push(`skipped ${f.path} (not task data)`);
      continue;
    }
    if (parts.length === 1) {
      if (name === STREAM_MANIFEST) manifest = f;
      else if (exampleFormat(name)) {
        const id = name.replace(/\.[^.]+$/, '');
        const s = source(id);
        if (s.files.size || s.single) throw new DataError(f.path, `a second source for task "${id}" (a folder or file of that name exists too)`);
        s.single = f;
      } else throw new DataError(f.path, 'not a task file: expected stream.json, a task folder, or a .jsonl, .json or .csv file');
    } else if (parts.length === 2) {
      const s = source(parts[0]);
      if (s.single) throw new DataError(f.path, `a second source for task "${parts[0]}" (a file of that name exists too)`);
      if (name !== TASK_MANIFEST && !exampleFormat(name)) {
        throw new DataError(f.path, `not a task file: a task folder holds train and test files (.jsonl, .json or .csv) and an optional ${TASK_MANIFEST}`);
      }
      s.files.set(name, f);
    } else {
      throw new DataError(f.path, 'too deep: a stream folder holds task folders, and task folders hold files');
    }
  }
  return { sources, manifest };
}

/** Picks a task folder's split files; a folder with one data file of another name is a single-file task. */
function splitFiles(src: TaskSource): { train: StreamFile | null; test: StreamFile | null; single: StreamFile | null } {
  if (src.single) return { train: null, test: null, single: src.single };
  const bySplit = new Map<string, StreamFile>();
  const others: StreamFile[] = [];
  for (const [name, f] of src.files) {
    if (name === TASK_MANIFEST) continue;
    const stem = name.replace(/\.[^.]+$/, '').toLowerCase();
    if ((SPLITS as readonly string[]).includes(stem)) {
      const had = bySplit.get(stem);
      if (had) throw new DataError(f.path, `a second ${stem} file in task "${src.id}" (${had.path} is one): keep one`);
      bySplit.set(stem, f);
    } else others.push(f);
  }
  if (bySplit.size === 0) {
    if (others.length === 1) return { train: null, test: null, single: others[0] };
    if (others.length === 0) throw new DataError(`${src.id}/`, 'the task folder has no data file (expected train.jsonl, train.json or train.csv, and a test file)');
    throw new DataError(others[0].path, `task "${src.id}" has several data files and none named train: name them train.* and test.*`);
  }
  if (others.length) throw new DataError(others[0].path, `unexpected file in task "${src.id}": its files are train, test and eval (.jsonl, .json or .csv) and ${TASK_MANIFEST}`);
  const train = bySplit.get('train');
  if (!train) {
    const any = [...bySplit.values()][0];
    throw new DataError(any.path, `task "${src.id}" has no train file`);
  }
  return { train, test: bySplit.get('test') ?? bySplit.get('eval') ?? null, single: null };
}

/** A seeded split of one file: held-out test items, or a sample of the trained ones for retention. */
function splitExamples(all: Example[], manifest: TaskManifest, seed: number, path: string): { train: Example[]; test: Example[] } {
  if (all.length < 2) throw new DataError(path, `only ${all.length} example: a task given as one file needs at least 2 (some to train, some to test)`);
  const fraction = manifest.test_fraction ?? DEFAULT_TEST_FRACTION;
  const nTest = Math.max(1, Math.min(all.length - 1, Math.round(all.length * fraction)));
  const order = shuffleInPlace(
    all.map((_, i) => i),
    rng(seed),
  );
  const testIdx = order.slice(0, nTest).sort((a, b) => a - b);
  if ((manifest.test_kind ?? 'heldout') === 'retention') return { train: all, test: testIdx.map((i) => all[i]) };
  const inTest = new Set(testIdx);
  return { train: all.filter((_, i) => !inTest.has(i)), test: testIdx.map((i) => all[i]) };
}

/** Reads a stream folder (as files) into tasks in stream order. */
export function loadStream(files: readonly StreamFile[], options: LoadStreamOptions = {}): LoadedStream {
  const limits = options.limits ?? DEFAULT_LIMITS;
  const seed = options.seed ?? 0;
  const notes: string[] = [];
  const { sources, manifest } = groupTasks(files, notes);
  const streamManifest = manifest ? parseStreamManifest(decodeText(STREAM_MANIFEST, manifest.bytes, limits)) : {};
  if (sources.size === 0) {
    throw new DataError(options.name ?? 'the stream folder', 'no tasks: expected one sub-folder per task (with train and test files) or one .jsonl, .json or .csv file per task');
  }

  let order: string[];
  if (streamManifest.order) {
    const seen = new Set<string>();
    for (const id of streamManifest.order) {
      if (!sources.has(id)) throw new DataError(STREAM_MANIFEST, `"order" names "${id}", which is not a task here (tasks: ${[...sources.keys()].sort().join(', ')})`);
      if (seen.has(id)) throw new DataError(STREAM_MANIFEST, `"order" names "${id}" twice`);
      seen.add(id);
    }
    const left = [...sources.keys()].filter((id) => !seen.has(id)).sort();
    if (left.length) throw new DataError(STREAM_MANIFEST, `"order" leaves out ${left.map((t) => `"${t}"`).join(', ')}: list every task once`);
    order = streamManifest.order;
  } else order = [...sources.keys()].sort();

  const tasks: Task[] = [];
  const names = new Map<string, string>();
  for (const id of order) {
    const src = sources.get(id)!;
    const manifestFile = src.files.get(TASK_MANIFEST);
    const taskManifest = manifestFile ? parseTaskManifest(manifestFile.path, decodeText(manifestFile.path, manifestFile.bytes, limits)) : {};
    const { train, test, single } = splitFiles(src);
    let trainExamples: Example[];
    let testExamples: Example[];
    if (single) {
      const all = parseExampleFile(single.path, single.bytes, limits);
      ({ train: trainExamples, test: testExamples } = splitExamples(all, taskManifest, seedFor(seed, id), single.path));
      const kind = taskManifest.test_kind ?? 'heldout';
      notes.push(
        `${id}: one file, ${testExamples.length} of ${all.length} examples ${kind === 'retention' ? 'sampled as the retention test' : 'held out as the test'} (seed ${seed})`,
      );
    } else {
      trainExamples = parseExampleFile(train!.path, train!.bytes, limits);
      if (!test) throw new DataError(train!.path, `task "${id}" has a train file but no test file (add test.jsonl, or give the task as one file to split it)`);
      testExamples = parseExampleFile(test.path, test.bytes, limits);
      if (test.path.replace(/^.*\//, '').toLowerCase().startsWith('eval')) notes.push(`${id}: no test file, ${test.path} used as the test`);
    }
    if (trainExamples.length + testExamples.length > limits.maxExamples) {
      throw new DataError(single?.path ?? train!.path, `task "${id}" has ${trainExamples.length + testExamples.length} examples, over the limit of ${limits.maxExamples} per task`);
    }
    const name = taskManifest.name ?? id;
    const clash = names.get(name);
    if (clash) throw new DataError(manifestFile?.path ?? id, `two tasks are named "${name}" (${clash} and ${id})`);
    names.set(name, id);
    tasks.push({
      name,
      metric: taskManifest.metric ?? 'exact_match',
      maxAnswerTokens: taskManifest.max_answer_tokens ?? DEFAULT_MAX_ANSWER_TOKENS,
      testKind: taskManifest.test_kind ?? 'heldout',
      description: taskManifest.description ?? '',
      train: trainExamples,
      test: testExamples,
    });
  }
  return { stream: { name: streamManifest.name ?? options.name ?? 'stream', tasks }, notes };
}

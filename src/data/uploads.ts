import { DataError } from './examples';
import { loadStream, type StreamFile } from './stream';
import type { Task, TestKind } from './task';

/**
 * Tasks added to a stream by dropping or picking files and folders in the lab. Each dropped
 * item loads on its own, so a bad file is refused with its file, line and reason while the
 * good ones (and the tasks already in the stream) stay: a data file is one task (split by
 * the loader), a task folder (train and test files, an optional task.json) is one task, and
 * a stream folder (task folders, an optional stream.json) is its tasks in its order.
 */

/** One dropped item: a file (one entry, no folder in its path) or a folder's files, paths relative to the folder. */
export interface UploadItem {
  /** The file's or the folder's name, as shown beside its error. */
  label: string;
  files: StreamFile[];
  /** Whether the item is a folder (its files' paths start with no folder name of their own). */
  folder: boolean;
}

/** A task as added; a task given as one file keeps it, so a change of test kind can split it again. */
export interface UploadedTask {
  task: Task;
  files: StreamFile[];
}

export interface UploadOutcome {
  added: UploadedTask[];
  errors: { label: string; message: string }[];
  notes: string[];
}

const TASK_FILE = /^(train|test|eval)\.(jsonl|json|csv)$|^task\.json$/i;

function asTaskFolder(item: UploadItem): StreamFile[] {
  return item.files.map((f) => ({ path: `${item.label}/${f.path}`, bytes: f.bytes }));
}

/** The item as a stream folder for the loader: a task folder becomes a stream of one task. */
function streamFiles(item: UploadItem): StreamFile[] {
  if (!item.folder) return item.files;
  const top = item.files.filter((f) => !f.path.includes('/'));
  const isTaskFolder = top.length > 0 && top.every((f) => TASK_FILE.test(f.path) || f.path.startsWith('.') || /\.(md|txt)$/i.test(f.path)) && top.some((f) => /^(train|test|eval)\./i.test(f.path));
  return isTaskFolder ? asTaskFolder(item) : item.files;
}

export function importUploads(items: readonly UploadItem[], existing: readonly string[], seed = 0): UploadOutcome {
  const out: UploadOutcome = { added: [], errors: [], notes: [] };
  const taken = new Set(existing);
  for (const item of items) {
    try {
      if (item.files.length === 0) throw new DataError(item.label, 'the folder is empty');
      const files = streamFiles(item);
      const { stream, notes } = loadStream(files, { name: item.label, seed });
      const clash = stream.tasks.find((t) => taken.has(t.name));
      if (clash) throw new DataError(item.label, `a task named "${clash.name}" is already in the stream: rename the file or remove that task first`);
      for (const task of stream.tasks) {
        taken.add(task.name);
        // Only a task given as one file is split by the loader, so only it keeps its file.
        out.added.push({ task, files: item.folder ? [] : item.files });
      }
      out.notes.push(...notes);
    } catch (e) {
      out.errors.push({ label: item.label, message: e instanceof Error ? e.message : String(e) });
    }
  }
  return out;
}

/**
 * The task with another test kind. A task split from one file is split again from its file
 * (retention samples the trained items, heldout holds items out); a task with its own train
 * and test files keeps them and only changes how the preset cuts its test.
 */
export function withTestKind(up: UploadedTask, kind: TestKind, seed = 0): UploadedTask {
  if (up.files.length !== 1) return { ...up, task: { ...up.task, testKind: kind } };
  const [file] = up.files;
  // The same folder name as the file's stem, so the split's seed is the one of the first load.
  const id = file.path.replace(/\.[^.]+$/, '');
  const data = `${id}/data.${file.path.split('.').pop()}`;
  const manifest = new TextEncoder().encode(JSON.stringify({ test_kind: kind, name: up.task.name, metric: up.task.metric, max_answer_tokens: up.task.maxAnswerTokens }));
  const { stream } = loadStream([{ path: data, bytes: file.bytes }, { path: `${id}/task.json`, bytes: manifest }], { seed });
  return { files: up.files, task: { ...stream.tasks[0], description: up.task.description } };
}

import Papa from 'papaparse';

/**
 * Task files to (prompt, answer) examples. Everything here reads bytes, never paths, so the
 * page parses a dropped File and the CLI a file on disk with the same code. Prompts and
 * answers stay plain strings: nothing is evaluated, and the tokenizer encodes any special
 * label in them as ordinary bytes.
 */

export interface Example {
  prompt: string;
  answer: string;
}

/** Where an error points: a line (JSONL, JSON), a data row (CSV) or an element (JSON list). */
export interface DataLocation {
  line?: number;
  row?: number;
  index?: number;
}

/** Bad input: names the file, the place in it and the reason, as `file:line: reason`. */
export class DataError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
    readonly at: DataLocation = {},
  ) {
    super(`${file}${describeLocation(at)}: ${reason}`);
    this.name = 'DataError';
  }
}

function describeLocation(at: DataLocation): string {
  const parts: string[] = [];
  if (at.line !== undefined) parts.push(`line ${at.line}`);
  if (at.row !== undefined) parts.push(`row ${at.row}`);
  if (at.index !== undefined) parts.push(`index ${at.index}`);
  return parts.length ? `: ${parts.join(', ')}` : '';
}

export interface ImportLimits {
  /** Largest task file accepted. */
  maxFileBytes: number;
  /** Largest single line of a JSONL file (a guard against one-line multi-megabyte blobs). */
  maxLineBytes: number;
  /** Largest prompt or answer, in UTF-8 bytes. */
  maxFieldBytes: number;
  /** Most examples in one file (and in one task). */
  maxExamples: number;
}

export const DEFAULT_LIMITS: Readonly<ImportLimits> = Object.freeze({
  maxFileBytes: 32 * 1024 * 1024,
  maxLineBytes: 256 * 1024,
  maxFieldBytes: 64 * 1024,
  maxExamples: 100_000,
});

export const EXAMPLE_FORMATS = ['jsonl', 'json', 'csv'] as const;
export type ExampleFormat = (typeof EXAMPLE_FORMATS)[number];

/** The format a file name says it holds, or null for names the importer does not read. */
export function exampleFormat(fileName: string): ExampleFormat | null {
  const m = /\.([A-Za-z0-9]+)$/.exec(fileName);
  const ext = m ? m[1].toLowerCase() : '';
  return (EXAMPLE_FORMATS as readonly string[]).includes(ext) ? (ext as ExampleFormat) : null;
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} bytes`;
}

const utf8 = new TextEncoder();

/**
 * The file's text: refuses empty, oversized, non-UTF-8 and binary (NUL-bearing) files, and
 * drops a leading byte-order mark.
 */
export function decodeText(file: string, bytes: Uint8Array, limits: ImportLimits = DEFAULT_LIMITS): string {
  if (bytes.byteLength === 0) throw new DataError(file, 'the file is empty');
  if (bytes.byteLength > limits.maxFileBytes) {
    throw new DataError(file, `the file is ${formatBytes(bytes.byteLength)}, over the limit of ${formatBytes(limits.maxFileBytes)}`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new DataError(file, `not UTF-8 text (invalid byte sequence near byte ${firstInvalidUtf8(bytes)}): is it a binary file?`);
  }
  const nul = text.indexOf('\u0000');
  if (nul >= 0) throw new DataError(file, `a NUL character at line ${lineOf(text, nul)}: binary data, not text`, { line: lineOf(text, nul) });
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim() === '') throw new DataError(file, 'the file holds only whitespace');
  return text;
}

/** Offset of the first byte that does not start or continue a well-formed UTF-8 sequence. */
function firstInvalidUtf8(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i];
    const len = b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
    if (len === 0) return i;
    for (let k = 1; k < len; k++) if (i + k >= bytes.length || (bytes[i + k] & 0xc0) !== 0x80) return i;
    i += len;
  }
  return bytes.length;
}

function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** Checks one record's fields and returns the example (extra fields are ignored). */
function toExample(file: string, record: unknown, at: DataLocation, limits: ImportLimits): Example {
  if (record === null || typeof record !== 'object' || Array.isArray(record)) {
    throw new DataError(file, `expected an object with "prompt" and "answer", got ${kindOf(record)}`, at);
  }
  const r = record as Record<string, unknown>;
  const field = (name: 'prompt' | 'answer'): string => {
    if (!(name in r)) throw new DataError(file, `missing field "${name}"`, at);
    const v = r[name];
    if (typeof v !== 'string') throw new DataError(file, `field "${name}" must be a string, got ${kindOf(v)}`, at);
    const size = utf8.encode(v).byteLength;
    if (size > limits.maxFieldBytes) {
      throw new DataError(file, `field "${name}" is ${formatBytes(size)}, over the limit of ${formatBytes(limits.maxFieldBytes)}`, at);
    }
    return v;
  };
  const prompt = field('prompt');
  const answer = field('answer');
  if (answer.trim() === '') throw new DataError(file, 'field "answer" is empty: there would be nothing to learn', at);
  return { prompt, answer };
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`;
  return `${typeof v} ${String(v)}`;
}

function checkCount(file: string, n: number, limits: ImportLimits, at: DataLocation): void {
  if (n > limits.maxExamples) throw new DataError(file, `more than ${limits.maxExamples} examples (the limit per file)`, at);
}

/** One JSON object per line; blank lines are skipped. */
export function parseJsonl(file: string, text: string, limits: ImportLimits = DEFAULT_LIMITS): Example[] {
  const out: Example[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].endsWith('\r') ? lines[i].slice(0, -1) : lines[i];
    const line = i + 1;
    if (raw.trim() === '') continue;
    const size = utf8.encode(raw).byteLength;
    if (size > limits.maxLineBytes) {
      throw new DataError(file, `the line is ${formatBytes(size)}, over the limit of ${formatBytes(limits.maxLineBytes)} for one example`, { line });
    }
    let record: unknown;
    try {
      record = JSON.parse(raw);
    } catch (e) {
      throw new DataError(file, `not valid JSON (${jsonReason(e)})`, { line });
    }
    out.push(toExample(file, record, { line }, limits));
    checkCount(file, out.length, limits, { line });
  }
  if (out.length === 0) throw new DataError(file, 'no examples');
  return out;
}

/** A JSON list of objects, TRACE's train.json / eval.json / test.json layout. */
export function parseJsonList(file: string, text: string, limits: ImportLimits = DEFAULT_LIMITS): Example[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    const pos = jsonErrorPosition(e);
    throw new DataError(file, `not valid JSON (${jsonReason(e)})`, pos === null ? {} : { line: lineOf(text, pos) });
  }
  if (!Array.isArray(data)) {
    throw new DataError(file, `expected a JSON list of {"prompt", "answer"} objects, got ${kindOf(data)} (one object per line is JSONL: name the file .jsonl)`);
  }
  if (data.length === 0) throw new DataError(file, 'the list is empty: no examples');
  checkCount(file, data.length, limits, {});
  const lines = elementLines(text, data.length);
  return data.map((record, index) => toExample(file, record, lines ? { index, line: lines[index] } : { index }, limits));
}

/** A CSV file whose header has `prompt` and `answer` columns (quotes, embedded newlines and a BOM handled by papaparse). */
export function parseCsv(file: string, text: string, limits: ImportLimits = DEFAULT_LIMITS): Example[] {
  const parsed = Papa.parse<Record<string, string>>(text, { header: true, skipEmptyLines: 'greedy' });
  const fields = (parsed.meta.fields ?? []).map((f) => f.trim());
  for (const need of ['prompt', 'answer']) {
    if (!fields.includes(need)) {
      throw new DataError(file, `the header has no "${need}" column (columns: ${fields.map((f) => JSON.stringify(f)).join(', ') || 'none'}; expected prompt,answer)`, { line: 1 });
    }
  }
  // Extra columns are allowed and the delimiter is auto-detected (a tab-separated file
  // reads too), so only broken quoting and short rows refuse the file.
  const broken = parsed.errors.find((e) => e.type === 'Quotes' || e.code === 'TooFewFields');
  if (broken) {
    const reason = broken.message.replace(/\.$/, '');
    // papaparse counts a quoting error's row with the header and a short row's without it;
    // the character offset of a quoting error gives its line directly.
    if (broken.type === 'Quotes') throw new DataError(file, reason, broken.index === undefined ? {} : { line: lineOf(text, broken.index) });
    throw new DataError(file, `${reason} (a row needs the prompt and answer columns)`, broken.row === undefined ? {} : { row: broken.row + 1 });
  }
  if (parsed.data.length === 0) throw new DataError(file, 'no data rows under the header');
  checkCount(file, parsed.data.length, limits, {});
  const trimmedKey = new Map((parsed.meta.fields ?? []).map((f) => [f.trim(), f]));
  return parsed.data.map((r, i) =>
    toExample(file, { prompt: r[trimmedKey.get('prompt')!], answer: r[trimmedKey.get('answer')!] }, { row: i + 1 }, limits),
  );
}

/** Parses a task file by its extension (.jsonl, .json or .csv). */
export function parseExampleFile(file: string, bytes: Uint8Array, limits: ImportLimits = DEFAULT_LIMITS): Example[] {
  const format = exampleFormat(file);
  if (format === null) throw new DataError(file, `unknown file type: expected a name ending in ${EXAMPLE_FORMATS.map((f) => `.${f}`).join(', ')}`);
  const text = decodeText(file, bytes, limits);
  if (format === 'jsonl') return parseJsonl(file, text, limits);
  if (format === 'json') return parseJsonList(file, text, limits);
  return parseCsv(file, text, limits);
}

function jsonReason(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.replace(/^JSON\.parse: /, '').replace(/\s*\(line \d+ column \d+\)/, '');
}

function jsonErrorPosition(e: unknown): number | null {
  const m = /position (\d+)/.exec(e instanceof Error ? e.message : '');
  return m ? Number(m[1]) : null;
}

/**
 * The line on which each top-level element of a JSON list starts, found by a scan that
 * tracks strings and nesting (the text already parsed, so it is well formed).
 */
function elementLines(text: string, count: number): number[] | null {
  const lines: number[] = [];
  let line = 1;
  let depth = 0;
  let inString = false;
  let expectElement = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') line++;
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (depth === 1 && expectElement && !/\s/.test(c) && c !== ']') {
      lines.push(line);
      expectElement = false;
    }
    if (c === '"') inString = true;
    else if (c === '[' || c === '{') {
      depth++;
      if (depth === 1) expectElement = true;
    } else if (c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 1) expectElement = true;
  }
  return lines.length === count ? lines : null;
}

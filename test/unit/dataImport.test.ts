import { describe, expect, it } from 'vitest';
import { DataError, DEFAULT_LIMITS, parseExampleFile, type ImportLimits } from '../../src/data/examples';
import { loadStream, type StreamFile } from '../../src/data/stream';

const enc = new TextEncoder();
const bytes = (s: string) => enc.encode(s);
const file = (path: string, text: string): StreamFile => ({ path, bytes: bytes(text) });
const jsonl = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
const pairs = (n: number, tag = 'q') => Array.from({ length: n }, (_, i) => ({ prompt: `${tag}${i}:`, answer: ` a${i}` }));

/** The DataError a call throws (fails the test if it throws something else or nothing). */
function dataError(f: () => unknown): DataError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(DataError);
    return e as DataError;
  }
  throw new Error('expected a DataError');
}

describe('task files', () => {
  it('reads JSONL, skipping blank lines and CRLF endings, ignoring extra fields', () => {
    const text = '{"prompt":"Capital of France:","answer":" Paris","id":7}\r\n\r\n{"prompt":"2+2=","answer":" 4"}\n';
    expect(parseExampleFile('t.jsonl', bytes(text))).toEqual([
      { prompt: 'Capital of France:', answer: ' Paris' },
      { prompt: '2+2=', answer: ' 4' },
    ]);
  });

  it("reads a JSON list (TRACE's layout)", () => {
    const text = JSON.stringify(pairs(3), null, 2);
    expect(parseExampleFile('train.json', bytes(text))).toEqual(pairs(3));
  });

  it('reads CSV with quotes, embedded newlines, commas and a byte-order mark', () => {
    const text = '\uFEFFprompt,answer,note\n"Say ""hi"", twice:"," hi hi",x\n"two\nlines:"," ok",\n';
    expect(parseExampleFile('t.csv', bytes(text))).toEqual([
      { prompt: 'Say "hi", twice:', answer: ' hi hi' },
      { prompt: 'two\nlines:', answer: ' ok' },
    ]);
  });

  it('keeps prompts and answers as data: markup and special-token labels stay text', () => {
    const rows = [{ prompt: '<script>alert(1)</script><end>', answer: ' <accept>${x}' }];
    expect(parseExampleFile('t.jsonl', bytes(jsonl(rows)))).toEqual(rows);
  });

  it('refuses a broken JSON line, naming file and line', () => {
    const e = dataError(() => parseExampleFile('capitals.jsonl', bytes('{"prompt":"a","answer":"b"}\n{"prompt": "c", "answer": \n')));
    expect(e.file).toBe('capitals.jsonl');
    expect(e.at.line).toBe(2);
    expect(e.message).toMatch(/^capitals\.jsonl: line 2: not valid JSON/);
  });

  it('refuses a missing field and a non-string field', () => {
    const missing = dataError(() => parseExampleFile('t.jsonl', bytes(jsonl([{ prompt: 'a', answer: 'b' }, { prompt: 'c' }]))));
    expect(missing.message).toBe('t.jsonl: line 2: missing field "answer"');
    const wrongType = dataError(() => parseExampleFile('t.jsonl', bytes(jsonl([{ prompt: 3, answer: 'b' }]))));
    expect(wrongType.message).toBe('t.jsonl: line 1: field "prompt" must be a string, got number 3');
    const notObject = dataError(() => parseExampleFile('t.json', bytes('[{"prompt":"a","answer":"b"},\n  ["x"]]')));
    expect(notObject.message).toBe('t.json: line 2, index 1: expected an object with "prompt" and "answer", got a list');
    const empty = dataError(() => parseExampleFile('t.csv', bytes('prompt,answer\nq,\n')));
    expect(empty.message).toBe('t.csv: row 1: field "answer" is empty: there would be nothing to learn');
  });

  it('refuses binary garbage and NUL bytes', () => {
    const garbage = new Uint8Array(200);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 73 + 11) & 255;
    expect(dataError(() => parseExampleFile('t.jsonl', garbage)).reason).toMatch(/not UTF-8 text/);
    const nul = dataError(() => parseExampleFile('t.jsonl', bytes('{"prompt":"a","answer":"b"}\n\u0000\u0000')));
    expect(nul.reason).toMatch(/NUL character/);
    expect(nul.at.line).toBe(2);
  });

  it('refuses an empty file and one of whitespace only', () => {
    expect(dataError(() => parseExampleFile('t.jsonl', new Uint8Array())).message).toBe('t.jsonl: the file is empty');
    expect(dataError(() => parseExampleFile('t.json', bytes(' \n\n'))).reason).toMatch(/only whitespace/);
    expect(dataError(() => parseExampleFile('t.json', bytes('[]'))).reason).toMatch(/empty: no examples/);
  });

  it('refuses a CSV without the two columns, and a malformed CSV row', () => {
    const noAnswer = dataError(() => parseExampleFile('t.csv', bytes('prompt,label\na,b\n')));
    expect(noAnswer.message).toBe('t.csv: line 1: the header has no "answer" column (columns: "prompt", "label"; expected prompt,answer)');
    const unclosed = dataError(() => parseExampleFile('t.csv', bytes('prompt,answer\nx,y\n"a,b\n')));
    expect(unclosed.message).toBe('t.csv: line 3: Quoted field unterminated');
    const short = dataError(() => parseExampleFile('t.csv', bytes('prompt,answer\nx,y\nz\n')));
    expect(short.message).toBe('t.csv: row 2: Too few fields: expected 2 fields but parsed 1 (a row needs the prompt and answer columns)');
  });

  it('refuses a multi-megabyte single line, an oversized field and a file over the size limit', () => {
    const huge = `{"prompt":"${'x'.repeat(3 * 1024 * 1024)}","answer":"y"}`;
    const line = dataError(() => parseExampleFile('t.jsonl', bytes(`{"prompt":"a","answer":"b"}\n${huge}\n`)));
    expect(line.at.line).toBe(2);
    expect(line.reason).toMatch(/the line is 3\.0 MiB, over the limit of 256\.0 KiB/);
    const field = dataError(() => parseExampleFile('t.json', bytes(JSON.stringify([{ prompt: 'p', answer: 'z'.repeat(70 * 1024) }]))));
    expect(field.reason).toMatch(/field "answer" is 70\.0 KiB, over the limit of 64\.0 KiB/);
    const small: ImportLimits = { ...DEFAULT_LIMITS, maxFileBytes: 1000 };
    const big = dataError(() => parseExampleFile('t.jsonl', bytes(jsonl(pairs(100))), small));
    expect(big.reason).toMatch(/over the limit of 1000 bytes/);
    const many = dataError(() => parseExampleFile('t.jsonl', bytes(jsonl(pairs(11))), { ...DEFAULT_LIMITS, maxExamples: 10 }));
    expect(many.at.line).toBe(11);
  });

  it('refuses an unknown extension', () => {
    expect(dataError(() => parseExampleFile('t.xlsx', bytes('x'))).reason).toMatch(/\.jsonl, \.json, \.csv/);
  });
});

describe('streams', () => {
  const folderStream = () => [
    file('b_verbs/train.jsonl', jsonl(pairs(6, 'v'))),
    file('b_verbs/test.jsonl', jsonl(pairs(2, 'vt'))),
    file('b_verbs/task.json', JSON.stringify({ name: 'verbs', metric: 'edit_similarity', max_answer_tokens: 12, description: 'past tense' })),
    file('a_trace/train.json', JSON.stringify(pairs(4, 't'))),
    file('a_trace/eval.json', JSON.stringify(pairs(2, 'e'))),
    file('README.md', '# notes'),
    file('.DS_Store', '\u0000'),
  ];

  it('reads task folders in alphabetical order with their manifests; eval stands in for a missing test', () => {
    const { stream, notes } = loadStream(folderStream(), { name: 'mine' });
    expect(stream.name).toBe('mine');
    expect(stream.tasks.map((t) => t.name)).toEqual(['a_trace', 'verbs']);
    const [trace, verbs] = stream.tasks;
    expect(trace.test).toEqual(pairs(2, 'e'));
    expect(trace.metric).toBe('exact_match');
    expect(trace.testKind).toBe('heldout');
    expect(verbs).toMatchObject({ metric: 'edit_similarity', maxAnswerTokens: 12, description: 'past tense' });
    expect(verbs.train).toHaveLength(6);
    expect(notes.some((n) => /README\.md/.test(n))).toBe(true);
    expect(notes.some((n) => /a_trace\/eval\.json used as the test/.test(n))).toBe(true);
  });

  it('follows stream.json, which must list every task once', () => {
    const order = (o: string[]) => [...folderStream(), file('stream.json', JSON.stringify({ name: 'ordered', order: o }))];
    const { stream } = loadStream(order(['b_verbs', 'a_trace']));
    expect(stream.name).toBe('ordered');
    expect(stream.tasks.map((t) => t.name)).toEqual(['verbs', 'a_trace']);
    expect(dataError(() => loadStream(order(['b_verbs']))).message).toBe('stream.json: "order" leaves out "a_trace": list every task once');
    expect(dataError(() => loadStream(order(['b_verbs', 'a_trace', 'c']))).reason).toMatch(/"c", which is not a task here \(tasks: a_trace, b_verbs\)/);
  });

  it('splits a single-file task by seed: held out, or sampled from training for retention', () => {
    const all = pairs(50);
    const heldout = loadStream([file('sums.jsonl', jsonl(all))], { seed: 3 }).stream.tasks[0];
    expect(heldout.test).toHaveLength(10);
    expect(heldout.train).toHaveLength(40);
    const trainPrompts = new Set(heldout.train.map((e) => e.prompt));
    expect(heldout.test.every((e) => !trainPrompts.has(e.prompt))).toBe(true);
    expect(loadStream([file('sums.jsonl', jsonl(all))], { seed: 3 }).stream.tasks[0].test).toEqual(heldout.test);
    expect(loadStream([file('sums.jsonl', jsonl(all))], { seed: 4 }).stream.tasks[0].test).not.toEqual(heldout.test);

    const retention = loadStream([file('facts/data.jsonl', jsonl(all)), file('facts/task.json', '{"test_kind":"retention","test_fraction":0.1}')], { seed: 3 })
      .stream.tasks[0];
    expect(retention.testKind).toBe('retention');
    expect(retention.train).toEqual(all);
    expect(retention.test).toHaveLength(5);
    expect(retention.test.every((e) => all.some((a) => a.prompt === e.prompt))).toBe(true);
  });

  it('refuses a stream folder with no tasks', () => {
    expect(dataError(() => loadStream([], { name: 'empty' })).message).toMatch(/^empty: no tasks: expected one sub-folder per task/);
    expect(dataError(() => loadStream([file('README.md', 'x')])).reason).toMatch(/no tasks/);
  });

  it('refuses a bad file anywhere, naming it, and returns nothing', () => {
    const files = [...folderStream(), file('c_bad/train.jsonl', '{"prompt":"x","answer":"y"}\n{"prompt":'), file('c_bad/test.jsonl', jsonl(pairs(1)))];
    const e = dataError(() => loadStream(files));
    expect(e.message).toMatch(/^c_bad\/train\.jsonl: line 2: not valid JSON/);
  });

  it('refuses layouts it would have to guess about', () => {
    expect(dataError(() => loadStream([file('t/train.jsonl', jsonl(pairs(2)))])).reason).toMatch(/no test file/);
    expect(dataError(() => loadStream([file('t/test.jsonl', jsonl(pairs(2)))])).reason).toMatch(/no train file/);
    expect(dataError(() => loadStream([file('t/train.jsonl', jsonl(pairs(2))), file('t/train.csv', 'prompt,answer\na,b')])).reason).toMatch(/a second train file/);
    expect(dataError(() => loadStream([file('t/x/train.jsonl', jsonl(pairs(2)))])).reason).toMatch(/too deep/);
    expect(dataError(() => loadStream([file('t/train.jsonl', jsonl(pairs(2))), file('t/test.jsonl', jsonl(pairs(1))), file('t/notes.pdf', 'x')])).reason).toMatch(
      /not a task file/,
    );
    expect(dataError(() => loadStream([file('t/a.jsonl', jsonl(pairs(2))), file('t/b.jsonl', jsonl(pairs(2)))])).reason).toMatch(/several data files/);
  });

  it('checks task.json, listing the valid keys and values', () => {
    const withManifest = (m: string) => loadStream([file('t/data.jsonl', jsonl(pairs(5))), file('t/task.json', m)]);
    expect(dataError(() => withManifest('{"metrc":"exact_match"}')).message).toBe(
      't/task.json: unknown key "metrc" (valid keys: name, metric, max_answer_tokens, test_kind, description, test_fraction)',
    );
    expect(dataError(() => withManifest('{"metric":"bleu"}')).reason).toBe('"metric" must be one of exact_match, accuracy, rouge_l, edit_similarity, got "bleu"');
    expect(dataError(() => withManifest('{"test_kind":"future"}')).reason).toMatch(/heldout, retention/);
    expect(dataError(() => withManifest('{"max_answer_tokens":0}')).reason).toMatch(/integer in 1\.\.1024/);
    expect(dataError(() => withManifest('{"name": 3}')).reason).toMatch(/"name" must be a string/);
  });
});

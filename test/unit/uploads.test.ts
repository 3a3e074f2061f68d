import { describe, expect, it } from 'vitest';
import { importUploads, withTestKind, type UploadItem } from '../../src/data/uploads';

const enc = (s: string) => new TextEncoder().encode(s);
const jsonl = (n: number, tag = 'q') => Array.from({ length: n }, (_, i) => JSON.stringify({ prompt: `${tag}${i}:`, answer: `a${i}` })).join('\n');
const file = (path: string, text: string): UploadItem => ({ label: path, folder: false, files: [{ path, bytes: enc(text) }] });

describe('tasks dropped into the lab', () => {
  it('loads the good files and refuses the bad one with its file, line and reason', () => {
    const out = importUploads([file('good.jsonl', jsonl(10)), file('bad.jsonl', `${jsonl(2)}\n{"prompt": "x"}`), file('notes.csv', 'prompt,answer\nhi,there\nbye,now\n')], ['sentiment']);
    expect(out.added.map((u) => u.task.name)).toEqual(['good', 'notes']);
    expect(out.added[0].task.train.length + out.added[0].task.test.length).toBe(10);
    expect(out.errors).toHaveLength(1);
    expect(out.errors[0].label).toBe('bad.jsonl');
    expect(out.errors[0].message).toMatch(/^bad\.jsonl: line 3: /);
  });

  it('refuses a PNG named .jsonl and a name already in the stream', () => {
    const png: UploadItem = { label: 'pic.jsonl', folder: false, files: [{ path: 'pic.jsonl', bytes: new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0xff, 0xfe]) }] };
    const out = importUploads([png, file('capitals.jsonl', jsonl(4))], ['capitals']);
    expect(out.added).toEqual([]);
    expect(out.errors.map((e) => e.label)).toEqual(['pic.jsonl', 'capitals.jsonl']);
    expect(out.errors[0].message).toMatch(/not UTF-8|binary/);
    expect(out.errors[1].message).toMatch(/already in the stream/);
  });

  it('reads a task folder as one task and a stream folder as its tasks in order', () => {
    const taskFolder: UploadItem = {
      label: 'qa',
      folder: true,
      files: [
        { path: 'train.jsonl', bytes: enc(jsonl(6)) },
        { path: 'test.jsonl', bytes: enc(jsonl(2, 't')) },
        { path: 'task.json', bytes: enc('{"metric": "rouge_l"}') },
      ],
    };
    const streamFolder: UploadItem = {
      label: 'mine',
      folder: true,
      files: [
        { path: 'stream.json', bytes: enc('{"order": ["z", "a"]}') },
        { path: 'z.jsonl', bytes: enc(jsonl(5)) },
        { path: 'a/train.jsonl', bytes: enc(jsonl(3)) },
        { path: 'a/test.jsonl', bytes: enc(jsonl(1)) },
      ],
    };
    const out = importUploads([taskFolder, streamFolder], []);
    expect(out.errors).toEqual([]);
    expect(out.added.map((u) => [u.task.name, u.task.metric, u.task.test.length])).toEqual([
      ['qa', 'rouge_l', 2],
      ['z', 'exact_match', 1],
      ['a', 'exact_match', 1],
    ]);
  });

  it('splits a one-file task again when its test kind changes, with the same seeded sample', () => {
    const [up] = importUploads([file('facts.jsonl', jsonl(20))], []).added;
    expect(up.task.testKind).toBe('heldout');
    expect(up.task.train).toHaveLength(16);
    const kept = withTestKind(up, 'retention');
    expect(kept.task.testKind).toBe('retention');
    expect(kept.task.train).toHaveLength(20);
    // Retention tests trained items: the same four the held-out split set aside.
    expect(kept.task.test).toEqual(up.task.test);
    expect(withTestKind(kept, 'heldout').task).toEqual(up.task);
  });
});

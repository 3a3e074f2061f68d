import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { saveGpt2CheckpointDir } from '../../src/checkpoint/gpt2CheckpointNode';
import { lossCommand, main } from '../../src/cli/main';
import { BASE_MODEL_PATH } from '../../src/model/baseModelNode';
import { makeGptConfig } from '../../src/model/config';
import { GptModel } from '../../src/model/gpt';
import { gptLossRef } from '../../src/reference/gpt';
import { byteTokenizer } from '../../src/tokenizer/byteTokenizer';
import { useGpu } from '../helpers/gpu';

const gpu = useGpu();
const dir = mkdtempSync(join(tmpdir(), 'continual-lab-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = makeGptConfig({
  vocab_size: 261,
  n_positions: 16,
  n_embd: 8,
  n_layer: 1,
  n_head: 2,
  bos_token_id: 256,
  eos_token_id: 257,
  continual_lab: { tokenizer: 'bytes' },
});
const TEXT = 'Call me Ishmael. Some years ago, never mind how long precisely, I went to sea.';

describe('continual-lab loss', () => {
  it('prints the mean cross-entropy that a float64 reference gives for the same checkpoint and text', async () => {
    const ctx = gpu();
    const model = GptModel.init(ctx, config, 3);
    const weights = new Map<string, Float32Array>();
    for (const [n, p] of model.params) weights.set(n, await ctx.readF32(p.value));
    model.dispose();
    await saveGpt2CheckpointDir(join(dir, 'model'), config, weights);
    writeFileSync(join(dir, 'text.txt'), TEXT);

    const lines: string[] = [];
    const r = await lossCommand({ model: join(dir, 'model'), text: join(dir, 'text.txt') }, (s) => lines.push(s));

    // Reference: windows of n_positions tokens, each scoring all but its first token.
    const ids = byteTokenizer.encode(TEXT);
    const w64 = new Map([...weights].map(([n, t]) => [n, Float64Array.from(t)] as [string, Float64Array]));
    let nats = 0;
    let count = 0;
    for (let s = 0; s + 1 < ids.length; s += config.n_positions) {
      const win = ids.slice(s, s + config.n_positions);
      const T = win.length - 1;
      const mean = gptLossRef(config, w64, win.slice(0, T), win.slice(1), new Array(T).fill(1), 1, T);
      nats += mean * T;
      count += T;
    }
    expect(Math.abs(r.natsPerToken - nats / count) / (nats / count)).toBeLessThan(1e-4);
    // Bits per scored byte: every byte token but each window's first, which has no context.
    expect(count).toBeLessThan(TEXT.length);
    expect(r.bitsPerByte).toBeCloseTo(nats / Math.LN2 / count, 4);
    expect(lines.join('\n')).toMatch(/nats\/token/);
    expect(lines.join('\n')).toMatch(/bits per scored byte/);
  });

  it('says what is missing instead of crashing', async () => {
    const errors: string[] = [];
    const orig = console.error;
    console.error = (s: string) => errors.push(s);
    try {
      expect(await main(['loss', '--model', join(dir, 'model')])).toBe(2);
      expect(await main(['loss', '--model', join(dir, 'nope'), '--text', join(dir, 'text.txt')])).toBe(1);
      expect(await main(['frobnicate'])).toBe(2);
    } finally {
      console.error = orig;
    }
    expect(errors[0]).toMatch(/--text FILE is required/);
    expect(errors[1]).toMatch(/nope does not exist/);
    expect(errors[2]).toMatch(/unknown command "frobnicate"/);
  });

  it('scores with the shipped base model when no --model is given', async () => {
    const prose = join(dir, 'prose.txt');
    writeFileSync(prose, TEXT);
    const lines: string[] = [];
    const r = await lossCommand({ text: prose }, (s) => lines.push(s));
    const explicit = await lossCommand({ model: BASE_MODEL_PATH, text: prose }, () => {});
    expect(lines[0]).toContain(BASE_MODEL_PATH);
    expect(r.natsPerToken).toBe(explicit.natsPerToken);
    // The base model knows English prose: well under the 8 bits/byte of a uniform byte model.
    expect(r.bitsPerByte).toBeLessThan(4.5);
  });
});

import { describe, expect, it } from 'vitest';
import { makeGptConfig } from '../../src/model/config';
import { tokenizerForConfig } from '../../src/model/modelTokenizer';

describe('tokenizerForConfig', () => {
  it('uses the byte tokenizer for the lab’s own models and GPT-2 BPE for Hugging Face ones', async () => {
    const lab = makeGptConfig({ vocab_size: 261, bos_token_id: 256, eos_token_id: 257, continual_lab: { tokenizer: 'bytes' } });
    expect((await tokenizerForConfig(lab)).name).toBe('byte');
    const hf = makeGptConfig({ vocab_size: 50257 });
    expect((await tokenizerForConfig(hf)).name).toBe('gpt2');
  });
  it('refuses a vocabulary smaller than its tokenizer, naming the file', async () => {
    const bad = makeGptConfig({ vocab_size: 100, bos_token_id: null, eos_token_id: null, continual_lab: { tokenizer: 'bytes' } });
    await expect(tokenizerForConfig(bad, 'm/config.json')).rejects.toThrow(/m\/config.json: vocab_size 100 is smaller/);
  });
});

import { makeGptConfig, type GptConfig } from '../../src/model/config';
import { byteTokenizer } from '../../src/tokenizer/byteTokenizer';

/** A small GPT-2 config over the byte tokenizer (its specials as begin and end), for tests. */
export function byteGptConfig(size: { n_positions: number; n_embd: number; n_layer: number; n_head: number }): GptConfig {
  const tok = byteTokenizer;
  return makeGptConfig({
    vocab_size: tok.vocabSize,
    ...size,
    bos_token_id: tok.specials.begin,
    eos_token_id: tok.specials.end,
    continual_lab: { tokenizer: 'bytes' },
  });
}

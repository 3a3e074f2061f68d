import { loadTokenizer, type Tokenizer } from '../tokenizer/tokenizer';
import type { GptConfig } from './config';

/**
 * The tokenizer a checkpoint was trained with: the lab's own models say so in config.json
 * (`continual_lab.tokenizer`); a Hugging Face GPT-2 checkpoint without that key uses
 * GPT-2's BPE. The vocabulary sizes must agree.
 */
export async function tokenizerForConfig(config: GptConfig, source = 'config.json'): Promise<Tokenizer> {
  const kind = config.continual_lab?.tokenizer ?? 'gpt2-bpe';
  const tok = await loadTokenizer(kind === 'bytes' ? 'byte' : 'gpt2');
  if (tok.vocabSize > config.vocab_size) {
    throw new Error(
      `${source}: vocab_size ${config.vocab_size} is smaller than the ${tok.name} tokenizer's ${tok.vocabSize} tokens`,
    );
  }
  return tok;
}

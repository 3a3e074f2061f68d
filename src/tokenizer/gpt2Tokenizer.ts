import { Tiktoken } from 'js-tiktoken/lite';
import gpt2Ranks from 'js-tiktoken/ranks/gpt2';
import {
  checkIds,
  checkText,
  layoutPair,
  TokenizerError,
  type DecodeOptions,
  type EncodedPair,
  type EncodeOptions,
  type PairOptions,
  type SpecialIds,
  type Tokenizer,
} from './tokenizer';

/**
 * GPT-2's byte-level BPE, with the vocabulary that ships inside the js-tiktoken package
 * (its `gpt2` ranks: the same 50,000 merges and split pattern as the released GPT-2
 * checkpoints), so real gpt2 / distilgpt2 weights read the ids they were trained on, with
 * no download at run time.
 */
export const GPT2_VOCAB_SIZE = 50257;
export const GPT2_END_OF_TEXT = 50256;
const END_OF_TEXT_LABEL = '<|endoftext|>';

/**
 * GPT-2 has a single special token. It served as the document separator in pretraining, so
 * it is the natural begin and end, and as pad it is harmless because padding is masked by
 * position. There is no spare id for SEE's accept/reject markers: adding rows to a released
 * checkpoint's embedding would be a different model, so they stay undefined and
 * encodePair refuses a marker with this tokenizer.
 */
export const GPT2_SPECIALS: SpecialIds = {
  begin: GPT2_END_OF_TEXT,
  end: GPT2_END_OF_TEXT,
  pad: GPT2_END_OF_TEXT,
  accept: undefined,
  reject: undefined,
};

export class Gpt2Tokenizer implements Tokenizer {
  readonly name = 'gpt2' as const;
  readonly vocabSize = GPT2_VOCAB_SIZE;
  readonly specials: SpecialIds = { ...GPT2_SPECIALS };
  private readonly bpe: Tiktoken;

  constructor() {
    this.bpe = new Tiktoken(gpt2Ranks);
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    checkText(this.name, 'encode', text);
    // By default "<|endoftext|>" in the text is ordinary characters; the library would
    // otherwise throw on it, and a user's data must not be able to end a document.
    return options.allowSpecials ? this.bpe.encode(text, 'all') : this.bpe.encode(text, [], []);
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    // The library maps an unknown id to nothing; checking first turns that into an error.
    const list = checkIds(this.name, 'decode', ids, this.vocabSize);
    const mode = options.specials ?? 'label';
    if (mode !== 'label' && mode !== 'skip') {
      throw new TokenizerError(this.name, `decode: specials is ${JSON.stringify(mode)}; expected "label" or "skip"`);
    }
    if (mode === 'label') return this.bpe.decode(Array.from(list));
    const kept: number[] = [];
    let out = '';
    for (let i = 0; i < list.length; i++) {
      if (list[i] !== GPT2_END_OF_TEXT) {
        kept.push(list[i]);
        continue;
      }
      // Decoded per run so that, as with the byte tokenizer, a skipped special still
      // separates the bytes on either side of it.
      if (kept.length > 0) out += this.bpe.decode(kept);
      kept.length = 0;
    }
    if (kept.length > 0) out += this.bpe.decode(kept);
    return out;
  }

  encodePair(prompt: string, answer: string, maxLen: number, options?: PairOptions): EncodedPair {
    return layoutPair(this, prompt, answer, maxLen, options);
  }

  /** The token's text; a token holding part of a multi-byte character shows U+FFFD. */
  describeToken(id: number): string {
    checkIds(this.name, 'describeToken', [id], this.vocabSize);
    return id === GPT2_END_OF_TEXT ? END_OF_TEXT_LABEL : this.bpe.decode([id]);
  }
}

let shared: Gpt2Tokenizer | undefined;

/** Building the rank table takes about 0.1 s, so one instance is shared by every caller. */
export function gpt2Tokenizer(): Tokenizer {
  shared ??= new Gpt2Tokenizer();
  return shared;
}

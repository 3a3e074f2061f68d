import { describe, expect, it } from 'vitest';
import { BYTE_SPECIALS, BYTE_VOCAB_SIZE, byteTokenizer } from '../../src/tokenizer/byteTokenizer';
import { GPT2_END_OF_TEXT, gpt2Tokenizer } from '../../src/tokenizer/gpt2Tokenizer';
import { loadTokenizer, TokenizerError, type Tokenizer } from '../../src/tokenizer/tokenizer';

const MIXED = 'naïve café 日本語 🎉';

const PARAGRAPH =
  "The quick brown fox jumps over the lazy dog. It's 2024, and GPT-2's tokenizer handles " +
  `${MIXED} fine.\n\nNew paragraph:   spaces\ttabs.`;

// The same ids come from gpt-tokenizer's independent implementation of the r50k_base
// (GPT-2) encoding; the first words are GPT-2's well-known ids (" the" = 262, " fox" = 21831).
const PARAGRAPH_IDS = [
  464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13, 632, 338, 48609, 11, 290, 402, 11571, 12, 17, 338,
  11241, 7509, 17105, 41492, 40304, 10545, 245, 98, 17312, 105, 45739, 252, 12520, 236, 231, 3734, 13, 198, 198,
  3791, 7322, 25, 220, 220, 9029, 197, 8658, 82, 13,
];

describe('byte tokenizer', () => {
  const tok = byteTokenizer;

  it('has vocab 261 with the reserved specials at 256..260', () => {
    expect(tok.name).toBe('byte');
    expect(tok.vocabSize).toBe(261);
    expect(BYTE_VOCAB_SIZE).toBe(261);
    expect(tok.specials).toEqual({ begin: 256, end: 257, pad: 258, accept: 259, reject: 260 });
    expect(BYTE_SPECIALS.accept).toBe(259);
  });

  it('encodes ASCII as its bytes and round-trips it', () => {
    expect(tok.encode('Hi!\n')).toEqual([72, 105, 33, 10]);
    expect(tok.encode('')).toEqual([]);
    const text = 'The quick brown fox, 123 ~`{}';
    expect(tok.decode(tok.encode(text))).toBe(text);
  });

  it('encodes multi-byte UTF-8 and round-trips it', () => {
    expect(tok.encode('é')).toEqual([0xc3, 0xa9]);
    expect(tok.encode('日')).toEqual([0xe6, 0x97, 0xa5]);
    expect(tok.encode('🎉')).toEqual([0xf0, 0x9f, 0x8e, 0x89]);
    const ids = tok.encode(MIXED);
    expect(ids.length).toBe(new TextEncoder().encode(MIXED).length);
    expect(ids.every((b) => b >= 0 && b < 256)).toBe(true);
    expect(tok.decode(ids)).toBe(MIXED);
    expect(tok.decode(Uint32Array.from(ids))).toBe(MIXED);
  });

  it('decodes invalid UTF-8 to replacement characters instead of throwing', () => {
    expect(tok.decode([0xff])).toBe('\uFFFD');
    expect(tok.decode([0x61, 0x80, 0x62])).toBe('a\uFFFDb');
    // A character cut short (a generation stopped mid-character) ...
    expect(tok.decode([0x61, 0xe6, 0x97])).toBe('a\uFFFD');
    // ... and one split by a special, which must not be glued back together.
    expect(tok.decode([0xe6, 0x97, 257, 0xa5])).toBe('\uFFFD<end>\uFFFD');
  });

  it('labels or skips specials when decoding', () => {
    const ids = [256, 0x61, 259, 0x62, 257, 258, 258];
    expect(tok.decode(ids)).toBe('<begin>a<accept>b<end><pad><pad>');
    expect(tok.decode(ids, { specials: 'label' })).toBe('<begin>a<accept>b<end><pad><pad>');
    expect(tok.decode(ids, { specials: 'skip' })).toBe('ab');
    expect(tok.decode([260])).toBe('<reject>');
  });

  it('keeps special labels in text as plain bytes unless allowed', () => {
    expect(tok.encode('<end>')).toEqual([60, 101, 110, 100, 62]);
    expect(tok.encode('a<end>b<accept>', { allowSpecials: true })).toEqual([97, 257, 98, 259]);
    const ids = [256, 0x68, 0x69, 259, 0xc3, 0xa9, 257];
    expect(tok.encode(tok.decode(ids), { allowSpecials: true })).toEqual(ids);
  });

  it('describes single tokens for per-token displays', () => {
    expect(tok.describeToken(65)).toBe('A');
    expect(tok.describeToken(10)).toBe('\\n');
    expect(tok.describeToken(0xc3)).toBe('<0xC3>');
    expect(tok.describeToken(0)).toBe('<0x00>');
    expect(tok.describeToken(257)).toBe('<end>');
  });
});

describe('GPT-2 BPE tokenizer', () => {
  const tok = gpt2Tokenizer();

  it('is a shared instance with GPT-2 vocabulary size and <|endoftext|> as its specials', () => {
    expect(gpt2Tokenizer()).toBe(tok);
    expect(tok.name).toBe('gpt2');
    expect(tok.vocabSize).toBe(50257);
    expect(GPT2_END_OF_TEXT).toBe(50256);
    expect(tok.specials).toEqual({ begin: 50256, end: 50256, pad: 50256, accept: undefined, reject: undefined });
  });

  it('produces GPT-2 ids for known strings', () => {
    expect(tok.encode('Hello world')).toEqual([15496, 995]);
    expect(tok.encode(' the')).toEqual([262]);
    expect(tok.encode('\n')).toEqual([198]);
    expect(tok.encode(PARAGRAPH)).toEqual(PARAGRAPH_IDS);
  });

  it('round-trips a paragraph with multi-byte characters', () => {
    expect(tok.decode(PARAGRAPH_IDS)).toBe(PARAGRAPH);
    expect(tok.decode(Int32Array.from(PARAGRAPH_IDS))).toBe(PARAGRAPH);
  });

  it('treats <|endoftext|> in text as plain characters unless specials are allowed', () => {
    expect(tok.encode('a<|endoftext|>b')).toEqual([64, 27, 91, 437, 1659, 5239, 91, 29, 65]);
    expect(tok.encode('a<|endoftext|>b', { allowSpecials: true })).toEqual([64, 50256, 65]);
    expect(tok.encode('<|endoftext|>', { allowSpecials: true })).toEqual([50256]);
  });

  it('labels or skips <|endoftext|> when decoding', () => {
    const ids = [50256, 15496, 995, 50256];
    expect(tok.decode(ids)).toBe('<|endoftext|>Hello world<|endoftext|>');
    expect(tok.decode(ids, { specials: 'skip' })).toBe('Hello world');
    expect(tok.describeToken(50256)).toBe('<|endoftext|>');
    expect(tok.describeToken(262)).toBe(' the');
  });

  it('decodes a token that holds part of a character to a replacement character', () => {
    // 447 247 is U+2019 split across two tokens; alone, 447 is an incomplete sequence.
    expect(tok.decode([447, 247])).toBe('\u2019');
    expect(tok.decode([447])).toBe('\uFFFD');
    // A previous partial decode must not leak into the next call.
    expect(tok.decode([447, 247])).toBe('\u2019');
  });

  it('decodes every id in the vocabulary to non-empty text', () => {
    for (let id = 0; id < tok.vocabSize; id++) {
      if (tok.decode([id]).length === 0) throw new Error(`id ${id} decoded to an empty string`);
    }
  });

  it('has no accept/reject markers, so a SEE pair is refused with a clear message', () => {
    expect(() => tok.encodePair('q', 'a', 16, { marker: 'accept' })).toThrow(
      'gpt2 tokenizer: encodePair: this vocabulary has no <accept> token',
    );
  });
});

describe('encodePair', () => {
  const tok = byteTokenizer;

  it('lays out begin prompt answer end with loss on the answer and end only', () => {
    const pair = tok.encodePair('ab', 'cd', 16);
    expect(pair.ids).toEqual([256, 97, 98, 99, 100, 257]);
    expect(pair.lossMask).toEqual([0, 0, 0, 1, 1, 1]);
    expect(pair.promptLength).toBe(3);
    expect(pair.truncation).toBeNull();
  });

  it('fits exactly at maxLen without reporting truncation', () => {
    const pair = tok.encodePair('ab', 'cd', 6);
    expect(pair.ids.length).toBe(6);
    expect(pair.truncation).toBeNull();
  });

  it('puts SEE markers in front of the answer and inside the loss', () => {
    const accept = tok.encodePair('q', 'a', 16, { marker: 'accept' });
    expect(accept.ids).toEqual([256, 113, 259, 97, 257]);
    expect(accept.lossMask).toEqual([0, 0, 1, 1, 1]);
    const reject = tok.encodePair('q', '', 16, { marker: 'reject', appendEnd: false });
    expect(reject.ids).toEqual([256, 113, 260]);
    expect(reject.lossMask).toEqual([0, 0, 1]);
  });

  it('drops prompt tokens from the left first and reports how many', () => {
    const pair = tok.encodePair('0123456789', 'xy', 8);
    // begin + 10 + 2 + end = 14 tokens; 6 must go, all from the prompt's start.
    expect(pair.ids).toEqual([256, 0x36, 0x37, 0x38, 0x39, 0x78, 0x79, 257]);
    expect(pair.lossMask).toEqual([0, 0, 0, 0, 0, 1, 1, 1]);
    expect(pair.promptLength).toBe(5);
    expect(pair.truncation).toEqual({ fullLength: 14, maxLen: 8, droppedPromptTokens: 6, droppedAnswerTokens: 0 });
  });

  it('cuts the answer tail (end token first) only once the prompt is gone', () => {
    const pair = tok.encodePair('pq', 'abcdef', 5);
    // begin + 2 + 6 + end = 10; the prompt gives 2, the answer side gives its end and 2 letters.
    expect(pair.ids).toEqual([256, 97, 98, 99, 100]);
    expect(pair.lossMask).toEqual([0, 1, 1, 1, 1]);
    expect(pair.truncation).toEqual({ fullLength: 10, maxLen: 5, droppedPromptTokens: 2, droppedAnswerTokens: 3 });
  });

  it('refuses instead of truncating when asked to', () => {
    expect(() => tok.encodePair('0123456789', 'xy', 8, { overflow: 'refuse' })).toThrow(
      'byte tokenizer: encodePair: the pair is 14 tokens (prompt 10, answer side 3, plus begin); expected at most maxLen = 8',
    );
  });

  it('counts multi-byte characters as several tokens', () => {
    const pair = tok.encodePair('é', '日', 16);
    expect(pair.ids).toEqual([256, 0xc3, 0xa9, 0xe6, 0x97, 0xa5, 257]);
    expect(pair.lossMask).toEqual([0, 0, 0, 1, 1, 1, 1]);
  });

  it('works the same with GPT-2 ids', () => {
    const pair = gpt2Tokenizer().encodePair('Hello', ' world', 8);
    expect(pair.ids).toEqual([50256, 15496, 995, 50256]);
    expect(pair.lossMask).toEqual([0, 0, 1, 1]);
  });

  it('rejects bad arguments with messages that say what was expected', () => {
    expect(() => tok.encodePair('a', 'b', 1)).toThrow('encodePair: maxLen is 1; expected an integer >= 2');
    expect(() => tok.encodePair('a', 'b', 2.5)).toThrow('maxLen is 2.5');
    expect(() => tok.encodePair(5 as unknown as string, 'b', 8)).toThrow(
      'byte tokenizer: encodePair expected the prompt as a string, got 5',
    );
    expect(() => tok.encodePair('a', null as unknown as string, 8)).toThrow('expected the answer as a string, got null');
    expect(() => tok.encodePair('a', '', 8, { appendEnd: false })).toThrow('the pair has no token to learn');
    expect(() => tok.encodePair('a', 'b', 8, { marker: 'maybe' as 'accept' })).toThrow(
      'marker is the string "maybe"; expected "accept" or "reject"',
    );
    expect(() => tok.encodePair('a', 'b', 8, { overflow: 'wrap' as 'refuse' })).toThrow(
      'overflow is the string "wrap"; expected "truncate" or "refuse"',
    );
  });
});

describe('bad input', () => {
  const cases: Array<[string, Tokenizer]> = [
    ['byte', byteTokenizer],
    ['gpt2', gpt2Tokenizer()],
  ];

  for (const [name, tok] of cases) {
    it(`${name}: encode refuses non-strings`, () => {
      expect(() => tok.encode(42 as unknown as string)).toThrow(TokenizerError);
      expect(() => tok.encode(42 as unknown as string)).toThrow(
        `${name} tokenizer: encode expected text as a string, got 42`,
      );
      expect(() => tok.encode(undefined as unknown as string)).toThrow('got undefined');
      expect(() => tok.encode(['a'] as unknown as string)).toThrow('got an array');
    });

    it(`${name}: decode refuses ids outside the vocabulary, naming the index`, () => {
      const V = tok.vocabSize;
      expect(() => tok.decode([1, 2, V])).toThrow(
        `${name} tokenizer: decode: token id at index 2 is ${V}; expected an integer in [0, ${V})`,
      );
      expect(() => tok.decode([-1])).toThrow('token id at index 0 is -1');
      expect(() => tok.decode([1.5])).toThrow('token id at index 0 is 1.5');
      expect(() => tok.decode([Number.NaN])).toThrow('token id at index 0 is NaN');
      expect(() => tok.decode(['7' as unknown as number])).toThrow('token id at index 0 is the string "7"');
      expect(() => tok.decode('abc' as unknown as number[])).toThrow('decode expected an array of token ids');
      expect(() => tok.decode(null as unknown as number[])).toThrow('got null');
      expect(() => tok.decode([1], { specials: 'hide' as 'skip' })).toThrow('expected "label" or "skip"');
      expect(() => tok.describeToken(V)).toThrow(`describeToken: token id at index 0 is ${V}`);
    });
  }
});

describe('loadTokenizer', () => {
  it('returns the tokenizer by name and refuses unknown names', async () => {
    expect(await loadTokenizer('byte')).toBe(byteTokenizer);
    expect(await loadTokenizer('gpt2')).toBe(gpt2Tokenizer());
    await expect(loadTokenizer('bpe' as 'gpt2')).rejects.toThrow(
      'loadTokenizer: unknown tokenizer the string "bpe"; expected "byte" or "gpt2"',
    );
  });
});

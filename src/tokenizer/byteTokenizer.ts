import {
  checkIds,
  checkText,
  layoutPair,
  splitOnSpecials,
  TokenizerError,
  type DecodeOptions,
  type EncodedPair,
  type EncodeOptions,
  type PairOptions,
  type SpecialIds,
  type Tokenizer,
} from './tokenizer';

/**
 * The default vocabulary: ids 0..255 are the bytes of the text's UTF-8 encoding, then the
 * reserved specials. These numbers are part of every byte-level checkpoint's meaning (and
 * the kernel benchmark's vocab of 261), so they must never be renumbered.
 */
export const BYTE_SPECIALS = {
  begin: 256,
  end: 257,
  pad: 258,
  accept: 259,
  reject: 260,
} as const satisfies SpecialIds;

export const BYTE_VOCAB_SIZE = 261;

const LABELS: ReadonlyMap<string, number> = new Map(
  Object.entries(BYTE_SPECIALS).map(([name, id]) => [`<${name}>`, id]),
);
const LABEL_OF = new Map([...LABELS].map(([label, id]) => [id, label]));

const utf8Encoder = new TextEncoder();
// Not fatal: a model's output may stop mid-character or be any byte string at all, and the
// WHATWG decoder then writes U+FFFD per maximal invalid subsequence instead of throwing.
const utf8Decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

const ESCAPES: Record<number, string> = { 0x09: '\\t', 0x0a: '\\n', 0x0d: '\\r' };

export class ByteTokenizer implements Tokenizer {
  readonly name = 'byte' as const;
  readonly vocabSize = BYTE_VOCAB_SIZE;
  readonly specials: SpecialIds = { ...BYTE_SPECIALS };

  encode(text: string, options: EncodeOptions = {}): number[] {
    checkText(this.name, 'encode', text);
    if (!options.allowSpecials) return Array.from(utf8Encoder.encode(text));
    const ids: number[] = [];
    for (const piece of splitOnSpecials(text, LABELS)) {
      if ('id' in piece) ids.push(piece.id);
      else for (const b of utf8Encoder.encode(piece.text)) ids.push(b);
    }
    return ids;
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const list = checkIds(this.name, 'decode', ids, this.vocabSize);
    const mode = options.specials ?? 'label';
    if (mode !== 'label' && mode !== 'skip') {
      throw new TokenizerError(this.name, `decode: specials is ${JSON.stringify(mode)}; expected "label" or "skip"`);
    }
    // Bytes are decoded in runs between specials, so a special between the halves of a
    // multi-byte character yields replacement characters rather than joining them.
    let out = '';
    const run = new Uint8Array(list.length);
    let n = 0;
    for (let i = 0; i < list.length; i++) {
      const id = list[i];
      if (id < 256) {
        run[n++] = id;
        continue;
      }
      if (n > 0) out += utf8Decoder.decode(run.subarray(0, n));
      n = 0;
      if (mode === 'label') out += LABEL_OF.get(id)!;
    }
    if (n > 0) out += utf8Decoder.decode(run.subarray(0, n));
    return out;
  }

  encodePair(prompt: string, answer: string, maxLen: number, options?: PairOptions): EncodedPair {
    return layoutPair(this, prompt, answer, maxLen, options);
  }

  /** Printable ASCII as itself, \t \n \r escaped, other bytes as <0xNN>, specials by label. */
  describeToken(id: number): string {
    checkIds(this.name, 'describeToken', [id], this.vocabSize);
    if (id >= 256) return LABEL_OF.get(id)!;
    if (id >= 0x20 && id < 0x7f) return String.fromCharCode(id);
    return ESCAPES[id] ?? `<0x${id.toString(16).toUpperCase().padStart(2, '0')}>`;
  }
}

export const byteTokenizer: Tokenizer = new ByteTokenizer();

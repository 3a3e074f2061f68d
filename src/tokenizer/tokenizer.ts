/**
 * One interface for every tokenizer the engine can train or generate with: the byte-level
 * default (vocab 261) and GPT-2's BPE (vocab 50257), so the model, the trainer and the
 * generator never branch on which one they were given.
 */

export type TokenizerName = 'byte' | 'gpt2';

export type SpecialName = 'begin' | 'end' | 'pad' | 'accept' | 'reject';

/**
 * Token ids of the specials. A tokenizer may give two names the same id (GPT-2 uses
 * <|endoftext|> for begin, end and pad), so padding must be found from the loss mask or the
 * sequence length, never by comparing ids with `pad`. `accept`/`reject` are undefined where
 * the vocabulary has no room for them.
 */
export interface SpecialIds {
  begin: number;
  end: number;
  pad: number;
  accept: number | undefined;
  reject: number | undefined;
}

export interface EncodeOptions {
  /**
   * When true, the special labels (`decode`'s `label` form) in the text become special ids.
   * Off by default so that text from a user's file can never inject control tokens.
   */
  allowSpecials?: boolean;
}

export interface DecodeOptions {
  /** `label` writes each special as its label (e.g. `<end>`); `skip` drops it. Default `label`. */
  specials?: 'label' | 'skip';
}

export interface PairOptions {
  /** Marker put before the answer tokens (SEE's training targets); it is counted in the loss. */
  marker?: 'accept' | 'reject';
  /** Append the end token after the answer (default true); SEE's reject targets stop at the marker. */
  appendEnd?: boolean;
  /**
   * What to do when the pair is longer than maxLen: `truncate` (default) cuts it and says so
   * in `truncation`; `refuse` throws a TokenizerError.
   */
  overflow?: 'truncate' | 'refuse';
}

/** What was cut to make a pair fit; the caller decides whether to warn or to drop the example. */
export interface PairTruncation {
  /** Length the pair would have had without truncation. */
  fullLength: number;
  maxLen: number;
  /** Prompt tokens dropped from the start of the prompt (the part farthest from the answer). */
  droppedPromptTokens: number;
  /** Answer-side tokens (marker, answer, end) dropped from the tail; the end token goes first. */
  droppedAnswerTokens: number;
}

/**
 * One training example laid out as `begin prompt [marker] answer [end]`.
 * `lossMask[i]` is 1 when token i is an answer-side token (marker, answer or end) and 0 on
 * begin and the prompt. It is aligned with `ids`, not with the next-token targets: a loop
 * that predicts ids[t + 1] from position t uses lossMask[t + 1] as position t's weight.
 */
export interface EncodedPair {
  ids: number[];
  lossMask: number[];
  /** Number of leading tokens (begin and prompt) that carry no loss. */
  promptLength: number;
  /** Null when nothing was cut. */
  truncation: PairTruncation | null;
}

export interface Tokenizer {
  readonly name: TokenizerName;
  readonly vocabSize: number;
  readonly specials: SpecialIds;
  encode(text: string, options?: EncodeOptions): number[];
  /** Throws on ids that are not integers in [0, vocabSize); invalid UTF-8 becomes U+FFFD. */
  decode(ids: ArrayLike<number>, options?: DecodeOptions): string;
  /** `begin prompt [marker] answer [end]` with the loss mask; see EncodedPair. */
  encodePair(prompt: string, answer: string, maxLen: number, options?: PairOptions): EncodedPair;
  /** A short printable form of one token, for per-token displays (routing, attention). */
  describeToken(id: number): string;
}

export class TokenizerError extends Error {
  constructor(tokenizer: string, detail: string) {
    super(`${tokenizer} tokenizer: ${detail}`);
    this.name = 'TokenizerError';
  }
}

export function checkText(tokenizer: string, method: string, text: unknown, what = 'text'): string {
  if (typeof text !== 'string') {
    throw new TokenizerError(tokenizer, `${method} expected ${what} as a string, got ${describeValue(text)}`);
  }
  return text;
}

/** Validates every id before anything is decoded, so a bad id is never silently dropped. */
export function checkIds(tokenizer: string, method: string, ids: unknown, vocabSize: number): ArrayLike<number> {
  if (ids === null || typeof ids !== 'object' || typeof (ids as ArrayLike<number>).length !== 'number') {
    throw new TokenizerError(tokenizer, `${method} expected an array of token ids, got ${describeValue(ids)}`);
  }
  const list = ids as ArrayLike<number>;
  for (let i = 0; i < list.length; i++) {
    const id = list[i];
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new TokenizerError(
        tokenizer,
        `${method}: token id at index ${i} is ${describeValue(id)}; expected an integer in [0, ${vocabSize})`,
      );
    }
  }
  return list;
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 20 ? `${v.slice(0, 20)}...` : v)}`;
  return typeof v;
}

/**
 * Splits text at special labels so the pieces between them go through the ordinary
 * encoder. Longer labels are tried first so that one label that is a prefix of another
 * cannot shadow it.
 */
export function splitOnSpecials(
  text: string,
  labels: ReadonlyMap<string, number>,
): Array<{ text: string } | { id: number }> {
  const names = [...labels.keys()].sort((a, b) => b.length - a.length);
  const out: Array<{ text: string } | { id: number }> = [];
  let start = 0;
  let i = 0;
  while (i < text.length) {
    const hit = names.find((n) => text.startsWith(n, i));
    if (hit === undefined) {
      i++;
      continue;
    }
    if (i > start) out.push({ text: text.slice(start, i) });
    out.push({ id: labels.get(hit)! });
    i += hit.length;
    start = i;
  }
  if (start < text.length) out.push({ text: text.slice(start) });
  return out;
}

/**
 * The layout shared by every tokenizer. When the pair is too long, prompt tokens are
 * dropped from the left first (the answer is what the loss is on, and the prompt's end is
 * nearest to it); only if the prompt is gone entirely is the answer side cut from its tail.
 */
export function layoutPair(
  tok: Pick<Tokenizer, 'name' | 'specials' | 'encode'>,
  prompt: string,
  answer: string,
  maxLen: number,
  options: PairOptions = {},
): EncodedPair {
  checkText(tok.name, 'encodePair', prompt, 'the prompt');
  checkText(tok.name, 'encodePair', answer, 'the answer');
  if (!Number.isInteger(maxLen) || maxLen < 2) {
    throw new TokenizerError(
      tok.name,
      `encodePair: maxLen is ${describeValue(maxLen)}; expected an integer >= 2 (begin plus one answer token)`,
    );
  }
  const overflow = options.overflow ?? 'truncate';
  if (overflow !== 'truncate' && overflow !== 'refuse') {
    throw new TokenizerError(tok.name, `encodePair: overflow is ${describeValue(overflow)}; expected "truncate" or "refuse"`);
  }
  const answerSide: number[] = [];
  if (options.marker !== undefined) {
    if (options.marker !== 'accept' && options.marker !== 'reject') {
      throw new TokenizerError(tok.name, `encodePair: marker is ${describeValue(options.marker)}; expected "accept" or "reject"`);
    }
    const id = tok.specials[options.marker];
    if (id === undefined) {
      throw new TokenizerError(tok.name, `encodePair: this vocabulary has no <${options.marker}> token`);
    }
    answerSide.push(id);
  }
  for (const id of tok.encode(answer)) answerSide.push(id);
  if (options.appendEnd ?? true) answerSide.push(tok.specials.end);
  if (answerSide.length === 0) {
    throw new TokenizerError(
      tok.name,
      'encodePair: the pair has no token to learn (empty answer, no marker, appendEnd false)',
    );
  }

  let promptIds = tok.encode(prompt);
  let answerIds = answerSide;
  const fullLength = 1 + promptIds.length + answerSide.length;
  let truncation: PairTruncation | null = null;
  if (fullLength > maxLen) {
    if (overflow === 'refuse') {
      throw new TokenizerError(
        tok.name,
        `encodePair: the pair is ${fullLength} tokens (prompt ${promptIds.length}, answer side ${answerSide.length}, ` +
          `plus begin); expected at most maxLen = ${maxLen}`,
      );
    }
    const excess = fullLength - maxLen;
    const droppedPrompt = Math.min(excess, promptIds.length);
    const droppedAnswer = excess - droppedPrompt;
    promptIds = promptIds.slice(droppedPrompt);
    answerIds = answerSide.slice(0, answerSide.length - droppedAnswer);
    truncation = { fullLength, maxLen, droppedPromptTokens: droppedPrompt, droppedAnswerTokens: droppedAnswer };
  }

  const ids = [tok.specials.begin, ...promptIds, ...answerIds];
  const promptLength = 1 + promptIds.length;
  const lossMask = ids.map((_, i) => (i < promptLength ? 0 : 1));
  return { ids, lossMask, promptLength, truncation };
}

/**
 * Loads a tokenizer by name. GPT-2's vocabulary (about half a megabyte) is imported only
 * when asked for, so the byte-level default does not pay for it in the page's bundle.
 */
export async function loadTokenizer(name: TokenizerName): Promise<Tokenizer> {
  if (name === 'byte') return (await import('./byteTokenizer')).byteTokenizer;
  if (name === 'gpt2') return (await import('./gpt2Tokenizer')).gpt2Tokenizer();
  throw new Error(`loadTokenizer: unknown tokenizer ${describeValue(name)}; expected "byte" or "gpt2"`);
}

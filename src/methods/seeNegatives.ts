// Near-miss reject examples for a SEE expert, made from its own task's prompts.
//
// An expert that only ever sees earlier tasks' prompts as negatives learns to reject those
// tasks, not to accept only its own: the first expert sees no negatives at all and accepts
// every query, so an unseen task never reaches the base. A near miss keeps a prompt of the
// expert's own task but swaps one word of the task's instruction (a word most of its prompts
// share) for another word of the same prompts, so the expert has to read the instruction to
// accept. Tasks whose prompts share no word (e.g. "45+46=") give none.

/** Words in at least half the prompts (each prompt counted once): the task's instruction. */
export function templateWords(prompts: readonly string[]): Set<string> {
  const seen = new Map<string, number>();
  for (const p of prompts) for (const w of new Set(words(p))) seen.set(w, (seen.get(w) ?? 0) + 1);
  return new Set([...seen].filter(([, n]) => 2 * n >= prompts.length && prompts.length > 1).map(([w]) => w));
}

/**
 * `count` prompts, each an own prompt with one instruction word replaced by a letters-only
 * word taken from the prompts' other words (capitalised like the word it replaces), none
 * equal to an own prompt. Fewer (possibly none) when the prompts share no instruction word
 * or offer no replacement.
 */
export function nearMisses(prompts: readonly string[], count: number, random: () => number): string[] {
  const template = templateWords(prompts);
  const own = new Set(prompts);
  const fillers = [...new Set(prompts.flatMap(words).filter((w) => !template.has(w)).map((w) => w.replace(/[^\p{L}]/gu, '')))]
    .filter((w) => w.length >= 2 && !template.has(w))
    .sort();
  const withTemplate = prompts.filter((p) => words(p).some((w) => template.has(w)));
  const out: string[] = [];
  if (fillers.length === 0 || withTemplate.length === 0) return out;
  for (let tries = 0; out.length < count && tries < 20 * count; tries++) {
    const parts = withTemplate[Math.floor(random() * withTemplate.length)].split(/(\s+)/);
    const slots = parts.flatMap((w, i) => (template.has(w) ? [i] : []));
    const i = slots[Math.floor(random() * slots.length)];
    const filler = fillers[Math.floor(random() * fillers.length)];
    parts[i] = /^\p{Lu}/u.test(parts[i]) ? filler[0].toUpperCase() + filler.slice(1) : filler.toLowerCase();
    const made = parts.join('');
    if (!own.has(made)) out.push(made);
  }
  return out;
}

/**
 * `count` prompts that put the task's own subjects under another task's instruction: a
 * prompt of another task whose subject words (those outside that task's instruction) are
 * replaced, one for one, by subject words of the own prompts ("Capital of bassham:" for an
 * expert on "Pronounce bassham:"). Near misses teach an expert that its instruction must be
 * there; these, that its subjects are not enough (an unseen task asking something else
 * about the same kind of word should reach the base). `others` holds each earlier task's
 * prompts; tasks without an instruction, or without subject words, give none.
 */
export function foreignInstructions(prompts: readonly string[], others: readonly (readonly string[])[], count: number, random: () => number): string[] {
  const ownTemplate = templateWords(prompts);
  const subjects = [...new Set(prompts.flatMap(words).filter((w) => !ownTemplate.has(w)))].sort();
  const hosts = others
    .map((list) => ({ list, template: templateWords(list) }))
    .filter((h) => h.template.size > 0)
    .map((h) => ({ ...h, list: h.list.filter((p) => words(p).some((w) => !h.template.has(w))) }))
    .filter((h) => h.list.length > 0);
  const own = new Set(prompts);
  const out: string[] = [];
  if (subjects.length === 0 || hosts.length === 0) return out;
  for (let tries = 0; out.length < count && tries < 20 * count; tries++) {
    const host = hosts[out.length % hosts.length];
    const parts = host.list[Math.floor(random() * host.list.length)].split(/(\s+)/);
    const made = parts
      .map((w) => (w.trim() === '' || host.template.has(w) ? w : keepPunctuation(w, subjects[Math.floor(random() * subjects.length)])))
      .join('');
    if (!own.has(made)) out.push(made);
  }
  return out;
}

/** `subject` in place of `word`, keeping the word's leading and trailing punctuation (quotes, a colon). */
function keepPunctuation(word: string, subject: string): string {
  const [, lead, , trail] = /^([^\p{L}\p{N}]*)(.*?)([^\p{L}\p{N}]*)$/u.exec(word)!;
  const core = subject.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, '');
  return lead + core + trail;
}

function words(prompt: string): string[] {
  return prompt.split(/\s+/).filter((w) => w.length > 0);
}

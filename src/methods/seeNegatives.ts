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

function words(prompt: string): string[] {
  return prompt.split(/\s+/).filter((w) => w.length > 0);
}

import type { RunResults } from '../cl/results';

/**
 * Plain-language warnings about a run's results, shown beside its table: a method that
 * learned nothing measurable looks like a bug unless the lab says why.
 */
export function methodNotes(results: RunResults): { method: string; text: string }[] {
  const notes: { method: string; text: string }[] = [];
  for (const [method, m] of Object.entries(results.methods)) {
    const routing = m.routing as { confusion?: Record<string, number[]> } | undefined;
    if (routing?.confusion && m.stagesDone > 0) {
      const counts = Object.values(routing.confusion);
      const asked = counts.reduce((a, c) => a + c.reduce((x, y) => x + y, 0), 0);
      const byExperts = counts.reduce((a, c) => a + c.slice(0, -1).reduce((x, y) => x + y, 0), 0);
      if (asked > 0 && byExperts === 0) {
        notes.push({ method, text: `no expert accepted any test query, so every answer came from the base model: at this budget the experts have not learned to recognise their tasks. A larger preset gives them more steps.` });
        continue;
      }
    }
    const base = results.base;
    if (m.stages === 'sequential' && m.stagesDone > 0 && base) {
      // Each task's score just after it was learned: forgetting later is another story.
      const learned = Array.from({ length: m.stagesDone }, (_, j) => m.R[j + 1]?.[j] ?? null);
      if (learned.every((v, j) => v !== null && v === base[j])) {
        notes.push({ method, text: `no task scored above the base model just after training on it: it learned nothing measurable at this budget. A larger preset, or a higher learning rate in its settings, trains it longer or harder.` });
      }
    }
  }
  return notes;
}

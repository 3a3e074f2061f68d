import type { Experiment } from '../worker/labProtocol';

/**
 * The experiment in the page's URL, so a link reproduces it:
 * `?methods=seqlora,see&preset=tiny&seed=0&tasks=sentiment,capitals&set=see.tau=0.6;moses.topK=2`.
 * `tasks` picks and orders tasks of the built-in stream (an uploaded stream's data cannot
 * travel in a link). Setting values are numbers, booleans, or words; lists join with `|`.
 */

export interface UrlExperiment {
  experiment: Experiment;
  /** Built-in tasks in order, or null for the whole built-in stream. */
  tasks: string[] | null;
}

/** Stories: experiments that show one thing, offered by name. */
export const STORIES: Readonly<Record<string, { label: string; methods: string[] }>> = {
  forgetting: { label: 'Forgetting demo: SeqLoRA alone', methods: ['seqlora'] },
  replay: { label: 'Replay helps: SeqLoRA against Replay', methods: ['seqlora', 'replay'] },
  experts: { label: 'Experts vs sub-experts: SEE against MoSEs', methods: ['see', 'moses'] },
  all: { label: 'All eight methods', methods: ['seqft', 'seqlora', 'replay', 'ewc', 'olora', 'mtl', 'see', 'moses'] },
};

const WORD = /^[A-Za-z0-9_.-]+$/;

function encodeValue(v: unknown): string | null {
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'string' && WORD.test(v)) return v;
  if (Array.isArray(v) && v.every((x) => typeof x === 'string' && WORD.test(x))) return v.join('|');
  return null;
}

function decodeValue(text: string): unknown {
  if (text === 'true' || text === 'false') return text === 'true';
  if (text !== '' && Number.isFinite(Number(text))) return Number(text);
  return text.includes('|') ? text.split('|') : text;
}

export function experimentToQuery(experiment: Experiment, tasks: string[] | null): string {
  const q = new URLSearchParams();
  q.set('methods', experiment.methods.map((m) => m.id).join(','));
  q.set('preset', experiment.preset);
  q.set('seed', String(experiment.seed));
  if (tasks) q.set('tasks', tasks.join(','));
  const sets: string[] = [];
  for (const m of experiment.methods) {
    for (const [k, v] of Object.entries(m.settings ?? {})) {
      const text = v === undefined ? null : encodeValue(v);
      if (text !== null) sets.push(`${m.id}.${k}=${text}`);
    }
  }
  if (sets.length) q.set('set', sets.join(';'));
  return `?${q.toString().replace(/%2C/g, ',').replace(/%3B/g, ';').replace(/%3D/g, '=').replace(/%7C/g, '|')}`;
}

/** The experiment a URL asks for, or null when it names none (no `methods`). Unknown names are left to the engine to refuse. */
export function queryToExperiment(search: string, fallback: Experiment): UrlExperiment | null {
  const q = new URLSearchParams(search);
  const story = q.get('story');
  const methods = q.get('methods') ?? (story && STORIES[story] ? STORIES[story].methods.join(',') : null);
  if (!methods) return null;
  const ids = methods.split(',').filter((s) => WORD.test(s));
  const settings = new Map<string, Record<string, unknown>>();
  for (const pair of (q.get('set') ?? '').split(';')) {
    const m = pair.match(/^([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)=(.*)$/);
    if (!m) continue;
    const s = settings.get(m[1]) ?? {};
    s[m[2]] = decodeValue(m[3]);
    settings.set(m[1], s);
  }
  const seed = Number(q.get('seed'));
  const tasks = q.get('tasks');
  return {
    experiment: {
      methods: ids.map((id) => (settings.has(id) ? { id, settings: settings.get(id) } : { id })),
      preset: q.get('preset') ?? fallback.preset,
      seed: q.has('seed') && Number.isInteger(seed) ? seed : fallback.seed,
    },
    tasks: tasks ? tasks.split(',').filter((t) => t !== '') : null,
  };
}

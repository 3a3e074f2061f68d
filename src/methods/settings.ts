/**
 * Documented, validated settings for methods: each method declares its settings with a
 * default, a range and a line of documentation; a user's overrides are checked against
 * them and a bad one gets a message that lists the valid names or the valid range.
 */

export type SettingValue = number | string | boolean | readonly string[];

export type SettingSpec =
  | { kind: 'number'; default: number; min: number; max: number; integer?: boolean; doc: string }
  | { kind: 'choice'; default: string; choices: readonly string[]; doc: string }
  | { kind: 'list'; default: readonly string[]; choices: readonly string[]; doc: string }
  | { kind: 'boolean'; default: boolean; doc: string };

export type SettingSpecs = Record<string, SettingSpec>;

/** The resolved values of a spec: every setting present, typed by its kind. */
export type Resolved<S extends SettingSpecs> = {
  [K in keyof S]: S[K] extends { kind: 'number' } ? number : S[K] extends { kind: 'choice' } ? string : S[K] extends { kind: 'list' } ? readonly string[] : boolean;
};

export class SettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SettingsError';
  }
}

function checkOne(owner: string, name: string, spec: SettingSpec, v: unknown): SettingValue {
  const where = `${owner} setting "${name}"`;
  if (spec.kind === 'number') {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new SettingsError(`${where} must be a number, got ${JSON.stringify(v)}`);
    if (spec.integer && !Number.isInteger(v)) throw new SettingsError(`${where} must be an integer, got ${v}`);
    if (v < spec.min || v > spec.max) throw new SettingsError(`${where} must be in ${spec.min}..${spec.max}, got ${v}`);
    return v;
  }
  if (spec.kind === 'choice') {
    if (typeof v !== 'string' || !spec.choices.includes(v)) throw new SettingsError(`${where} must be one of ${spec.choices.join(', ')}, got ${JSON.stringify(v)}`);
    return v;
  }
  if (spec.kind === 'list') {
    if (!Array.isArray(v) || v.length === 0 || v.some((x) => typeof x !== 'string' || !spec.choices.includes(x))) {
      throw new SettingsError(`${where} must be a non-empty list of ${spec.choices.join(', ')}, got ${JSON.stringify(v)}`);
    }
    if (new Set(v).size !== v.length) throw new SettingsError(`${where} lists an entry twice: ${JSON.stringify(v)}`);
    return v as string[];
  }
  if (typeof v !== 'boolean') throw new SettingsError(`${where} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

/** Defaults overlaid with the given values, each checked; unknown names are refused. */
export function resolveSettings<S extends SettingSpecs>(owner: string, specs: S, given: Readonly<Record<string, unknown>> = {}): Resolved<S> {
  for (const name of Object.keys(given)) {
    if (!(name in specs)) throw new SettingsError(`${owner} has no setting "${name}" (its settings: ${Object.keys(specs).join(', ')})`);
  }
  const out: Record<string, SettingValue> = {};
  for (const [name, spec] of Object.entries(specs)) out[name] = given[name] === undefined ? spec.default : checkOne(owner, name, spec, given[name]);
  return out as Resolved<S>;
}

/**
 * A setting value from text (the CLI's `--set seqlora.rank=16`): numbers and booleans as
 * such, lists comma-separated, anything else a string; checked later by resolveSettings.
 */
export function parseSettingText(spec: SettingSpec | undefined, text: string): unknown {
  if (spec?.kind === 'list') return text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (spec?.kind === 'number') return text.trim() === '' ? NaN : Number(text);
  if (spec?.kind === 'boolean') return text === 'true' ? true : text === 'false' ? false : text;
  return text;
}

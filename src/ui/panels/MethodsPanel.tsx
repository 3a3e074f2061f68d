import { GPU_ONLY_PRESETS } from '../../cl/presets';
import type { SettingSpec } from '../../methods/settings';
import type { Catalog } from '../../worker/labProtocol';
import { useLab } from '../store';
import { STORIES } from '../urlState';

function SettingInput({ method, name, spec, value }: { method: string; name: string; spec: SettingSpec; value: unknown }) {
  const setSetting = useLab((s) => s.setSetting);
  const id = `setting-${method}-${name}`;
  let input;
  if (spec.kind === 'number') {
    input = (
      <input
        id={id}
        type="number"
        min={spec.min}
        max={spec.max}
        step={spec.integer ? 1 : 'any'}
        value={String(value ?? spec.default)}
        onChange={(e) => setSetting(method, name, e.target.value === '' ? undefined : Number(e.target.value))}
      />
    );
  } else if (spec.kind === 'boolean') {
    input = <input id={id} type="checkbox" checked={Boolean(value ?? spec.default)} onChange={(e) => setSetting(method, name, e.target.checked)} />;
  } else if (spec.kind === 'choice') {
    input = (
      <select id={id} value={String(value ?? spec.default)} onChange={(e) => setSetting(method, name, e.target.value)}>
        {spec.choices.map((c) => (
          <option key={c}>{c}</option>
        ))}
      </select>
    );
  } else {
    const chosen = new Set((value as string[] | undefined) ?? spec.default);
    input = (
      <span className="chips">
        {spec.choices.map((c) => (
          <label key={c} className="chip">
            <input
              type="checkbox"
              checked={chosen.has(c)}
              onChange={(e) => setSetting(method, name, spec.choices.filter((x) => (x === c ? e.target.checked : chosen.has(x))))}
            />{' '}
            {c}
          </label>
        ))}
      </span>
    );
  }
  return (
    <div className="setting">
      <label htmlFor={id}>{name}</label> {input}
      <div className="muted small">{spec.doc}</div>
    </div>
  );
}

/** The eight methods with their settings, the preset and the seed. */
export function MethodsPanel({ catalog }: { catalog: Catalog }) {
  const experiment = useLab((s) => s.experiment);
  const setMethods = useLab((s) => s.setMethods);
  const setPreset = useLab((s) => s.setPreset);
  const setSeed = useLab((s) => s.setSeed);
  const software = useLab((s) => s.engine.status === 'ready' && s.engine.adapter.isSoftware);
  const chosen = experiment.methods.map((m) => m.id);
  const toggle = (id: string, on: boolean) => setMethods(catalog.methods.map((m) => m.id).filter((x) => (x === id ? on : chosen.includes(x))));
  return (
    <section className="panel" data-testid="methods-panel">
      <h2>Methods</h2>
      <div className="row">
        <label>
          Story{' '}
          <select value="" onChange={(e) => e.target.value && setMethods(STORIES[e.target.value].methods)} aria-label="pick a story">
            <option value="">pick…</option>
            {Object.entries(STORIES).map(([k, s]) => (
              <option key={k} value={k}>
                {s.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Preset{' '}
          <select value={experiment.preset} onChange={(e) => setPreset(e.target.value)} data-testid="preset">
            {catalog.presets.map((p) => (
              <option key={p.name} value={p.name} disabled={software && GPU_ONLY_PRESETS.includes(p.name)}>
                {p.name}: {p.budget.steps} steps of {p.budget.batchSize} per task, up to {p.maxTest} test examples
                {software && GPU_ONLY_PRESETS.includes(p.name) ? ' (needs a GPU)' : ''}
              </option>
            ))}
          </select>
        </label>{' '}
        <label>
          Seed{' '}
          <input type="number" step={1} value={experiment.seed} onChange={(e) => setSeed(Math.trunc(Number(e.target.value) || 0))} style={{ width: '5rem' }} />
        </label>
      </div>
      {software && (
        <p className="warning" data-testid="software-preset-note">
          This adapter runs WebGPU on the CPU, about 100x slower than a GPU: {experiment.preset === 'tiny' ? 'the tiny preset (minutes) is picked; larger ones take hours here.' : `the ${experiment.preset} preset takes hours here; the tiny one takes minutes.`}
        </p>
      )}
      <ul className="methods">
        {catalog.methods.map((m) => {
          const on = chosen.includes(m.id);
          const entry = experiment.methods.find((x) => x.id === m.id);
          return (
            <li key={m.id}>
              <label>
                <input type="checkbox" checked={on} onChange={(e) => toggle(m.id, e.target.checked)} data-testid={`method-${m.id}`} /> <strong>{m.id}</strong>{' '}
                <span className="muted">{m.summary}</span>
              </label>
              {on && Object.keys(m.settings).length > 0 && (
                <details>
                  <summary className="muted">settings</summary>
                  {Object.entries(m.settings).map(([name, spec]) => (
                    <SettingInput key={name} method={m.id} name={name} spec={spec} value={entry?.settings?.[name]} />
                  ))}
                </details>
              )}
            </li>
          );
        })}
      </ul>
    </section>
  );
}

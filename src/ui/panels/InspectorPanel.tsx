import { memo, useState } from 'react';
import type { MethodResult } from '../../cl/results';
import type { Inspection, MosesInspection, SeeInspection } from '../../methods/inspect';
import { textOn, viridis } from '../colors';
import type { RunState } from '../labState';
import { useLab } from '../store';

/** Distinct hues for sub-experts (tokens are coloured by their top one). */
const HUES = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const hue = (e: number) => HUES[e % HUES.length];

/** Tokens as text: control and space characters made visible, nothing ever read as HTML. */
const showToken = (t: string) => t.replace(/ /g, '␣').replace(/\n/g, '⏎');

function SeeView({ r }: { r: SeeInspection }) {
  return (
    <div data-testid="see-inspection">
      <p>
        Handled by <strong data-testid="inspect-handler">{r.handlerName}</strong>
        {r.handler === null ? ' (no expert accepted)' : ` (expert ${r.handler + 1})`}; answer:{' '}
        <code className="answer" data-testid="inspect-answer">
          {r.answer}
        </code>
      </p>
      <table className="acceptance">
        <thead>
          <tr>
            <th>asked</th>
            <th>expert (its task)</th>
            <th>P(accept)</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {r.experts.map((e, i) => (
            <tr key={e.expert} className={e.expert === r.handler ? 'chosen' : ''}>
              <td>{i + 1}</td>
              <td>
                {e.expert + 1}: {e.task}
              </td>
              <td className="num">{e.acceptance.toFixed(3)}</td>
              <td>
                <span className="bar" style={{ width: `${Math.round(e.acceptance * 120)}px`, background: e.accepts ? 'var(--ok)' : 'var(--muted)' }} />
                <span className="tau" title={`tau ${r.tau}`} style={{ left: `${Math.round(r.tau * 120)}px` }} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="muted small">Experts are asked newest first; the first above tau = {r.tau} answers, else the base model.</p>
    </div>
  );
}

function MosesView({ r }: { r: MosesInspection }) {
  const [token, setToken] = useState<number | null>(null);
  const pools = r.gates.map((g) => Math.max(0, ...g.indices.flat()) + 1);
  const first = r.gates[0];
  return (
    <div data-testid="moses-inspection">
      <p>
        Inferred task <strong data-testid="inspect-inferred">{r.inferredTaskName}</strong>; router used: <strong>{r.taskName}</strong>; answer:{' '}
        <code className="answer" data-testid="inspect-answer">
          {r.answer}
        </code>
      </p>
      {first && (
        <p className="tokens" aria-label="prompt tokens coloured by their top sub-expert in the first projection">
          {r.tokens.map((t, i) => (
            <button key={i} className={`token${token === i ? ' picked' : ''}`} style={{ borderBottomColor: hue(first.indices[i]?.[0] ?? 0) }} onClick={() => setToken(i === token ? null : i)}>
              {showToken(t)}
            </button>
          ))}
        </p>
      )}
      {token !== null && (
        <table className="small" data-testid="token-gates">
          <caption>
            Token {token}: <code>{showToken(r.tokens[token])}</code> across layers (top-k sub-expert: gate)
          </caption>
          <tbody>
            {r.gates.map((g) => (
              <tr key={g.projection}>
                <th>{g.projection}</th>
                <td>{g.indices[token].map((e, k) => `#${e}: ${g.gates[token][k].toFixed(2)}`).join(', ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div className="gate-maps">
        {r.gates.map((g, p) => (
          <figure key={g.projection} className="matrix" data-testid="gate-map">
            <figcaption className="small">{g.projection}</figcaption>
            <table className="heat gates">
              <tbody>
                {r.tokens.map((t, i) => (
                  <tr key={i}>
                    <th>{showToken(t)}</th>
                    {Array.from({ length: pools[p] }, (_, e) => {
                      const k = g.indices[i].indexOf(e);
                      const v = k >= 0 ? g.gates[i][k] : 0;
                      return (
                        <td key={e} style={{ background: k >= 0 ? viridis(v) : 'transparent', color: textOn(v) }} title={`token ${i}, sub-expert ${e}: ${k >= 0 ? v.toFixed(3) : 'not chosen'}`}>
                          {k >= 0 ? v.toFixed(1) : ''}
                        </td>
                      );
                    })}
                  </tr>
                ))}
              </tbody>
            </table>
          </figure>
        ))}
      </div>
    </div>
  );
}

/** SEE's routing confusion (true task x handler, base last): rows sum to the task's test queries. */
function Confusion({ see, stage }: { see: MethodResult | undefined; stage: number }) {
  const routing = see?.routing as { handlers?: string[]; confusion?: Record<string, number[]>; oodRejection?: Record<string, number> } | undefined;
  if (!routing?.confusion || !routing.handlers) return null;
  const tasks = Object.keys(routing.confusion);
  const max = Math.max(1, ...tasks.flatMap((t) => routing.confusion![t]));
  return (
    <figure className="matrix" data-testid="see-confusion">
      <figcaption className="small">
        SEE routing after stage {stage}: true task (rows) x handler (columns), test queries
      </figcaption>
      <table className="heat">
        <thead>
          <tr>
            <th />
            {routing.handlers.map((h) => (
              <th key={h} title={h}>
                <span className="task-label">{h}</span>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {tasks.map((t) => (
            <tr key={t}>
              <th>{t}</th>
              {routing.confusion![t].map((v, j) => (
                <td key={j} style={{ background: viridis(v / max), color: textOn(v / max) }} title={`${t} handled by ${routing.handlers![j]}: ${v}`}>
                  {v}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      {routing.oodRejection && Object.keys(routing.oodRejection).length > 0 && (
        <p className="small">
          Unseen tasks rejected by every expert:{' '}
          {Object.entries(routing.oodRejection)
            .map(([t, v]) => `${t} ${v.toFixed(0)}%`)
            .join(', ')}
        </p>
      )}
    </figure>
  );
}

/** The task x sub-expert usage of MoSEs and how evenly it spreads (normalised entropy, 1 = even). */
function Usage({ moses, tasks, stage }: { moses: MethodResult | undefined; tasks: string[]; stage: number }) {
  const usage = moses?.usage;
  if (!usage?.length) return null;
  const width = Math.max(...usage.map((u) => u.length));
  const balance = (u: number[]) => {
    const s = u.reduce((a, b) => a + b, 0) || 1;
    const h = -u.reduce((a, v) => (v > 0 ? a + (v / s) * Math.log(v / s) : a), 0);
    return u.length > 1 ? h / Math.log(u.length) : 1;
  };
  return (
    <figure className="matrix" data-testid="moses-usage">
      <figcaption className="small">MoSEs after stage {stage}: share of gate mass per sub-expert on each task's test prompts (its own router)</figcaption>
      <table className="heat">
        <thead>
          <tr>
            <th />
            {Array.from({ length: width }, (_, e) => (
              <th key={e}>#{e}</th>
            ))}
            <th title="normalised entropy of the row: 1 = gate mass spread evenly over the pool it could use">balance</th>
          </tr>
        </thead>
        <tbody>
          {usage.map((u, t) => (
            <tr key={t}>
              <th>{tasks[t] ?? `task ${t}`}</th>
              {Array.from({ length: width }, (_, e) => {
                const v = u[e] ?? 0;
                return (
                  <td key={e} style={{ background: e < u.length ? viridis(v) : 'transparent', color: textOn(v) }}>
                    {e < u.length ? v.toFixed(2) : ''}
                  </td>
                );
              })}
              <td className="num">{balance(u).toFixed(2)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}

/**
 * Routing inspection: a test example or a typed prompt through SEE or MoSEs as it stood
 * after any finished stage (computed in the worker from the state saved then).
 */
export const InspectorPanel = memo(function InspectorPanel({ run }: { run: RunState }) {
  const stream = run.stream;
  const request = useLab((s) => s.request);
  const results = run.results!;
  const routed = Object.keys(results.methods).filter((m) => (m === 'see' || m === 'moses') && results.methods[m].stagesDone > 0);
  const [chosen, setMethod] = useState(routed[0] ?? '');
  // The list grows as methods finish stages: a choice not (yet) in it falls back to the first.
  const method = routed.includes(chosen) ? chosen : (routed[0] ?? '');
  const done = results.methods[method]?.stagesDone ?? 0;
  const [stage, setStage] = useState<number | null>(null);
  const [prompt, setPrompt] = useState(stream.tasks[0]?.test[0]?.prompt ?? '');
  const [taskId, setTaskId] = useState<number | null>(null);
  const [result, setResult] = useState<Inspection | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  if (routed.length === 0) return null;
  const at = stage ?? done;

  async function inspect() {
    setBusy(true);
    setError(null);
    try {
      const { runId, experiment } = run;
      const r = await request({
        kind: 'inspect',
        at: { runId, experiment, stream, method, stage: at },
        request: { prompt, task: method === 'moses' && taskId !== null ? taskId : undefined },
      });
      setResult(r);
    } catch (e) {
      setResult(null);
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="panel wide" data-testid="inspector">
      <h2>Routing inspector</h2>
      <div className="row small">
        <label>
          method{' '}
          <select value={method} onChange={(e) => (setMethod(e.target.value), setResult(null))}>
            {routed.map((m) => (
              <option key={m}>{m}</option>
            ))}
          </select>
        </label>
        <label>
          after stage <strong>{at}</strong> <input type="range" min={1} max={Math.max(1, done)} value={at} onChange={(e) => setStage(Number(e.target.value))} aria-label="inspect after stage" />
        </label>
        <label>
          test example{' '}
          <select onChange={(e) => setPrompt(e.target.value)} value="" aria-label="pick a test example">
            <option value="">pick…</option>
            {stream.tasks.map((t) => (
              <optgroup key={t.name} label={t.name}>
                {t.test.slice(0, 12).map((x, i) => (
                  <option key={i} value={x.prompt}>
                    {x.prompt.slice(0, 60)}
                  </option>
                ))}
              </optgroup>
            ))}
          </select>
        </label>
        {method === 'moses' && (
          <label>
            task id{' '}
            <select value={taskId ?? ''} onChange={(e) => setTaskId(e.target.value === '' ? null : Number(e.target.value))}>
              <option value="">inferred (task-agnostic)</option>
              {stream.tasks.slice(0, at).map((t, i) => (
                <option key={t.name} value={i}>
                  {t.name} (TIL)
                </option>
              ))}
            </select>
          </label>
        )}
      </div>
      <div className="row">
        <input value={prompt} onChange={(e) => setPrompt(e.target.value)} style={{ flex: 1 }} aria-label="prompt to inspect" data-testid="inspect-prompt" />
        <button onClick={inspect} disabled={busy || !method}>
          {busy ? 'Inspecting…' : 'Inspect'}
        </button>
      </div>
      {error && <p className="error">{error}</p>}
      {result?.method === 'see' && <SeeView r={result} />}
      {result?.method === 'moses' && <MosesView r={result} />}
      <div className="matrices">
        <Confusion see={run.history.see?.[at] ?? results.methods.see} stage={run.history.see?.[at] ? at : (results.methods.see?.stagesDone ?? 0)} />
        <Usage moses={run.history.moses?.[at] ?? results.methods.moses} tasks={results.stream.map((t) => t.name)} stage={run.history.moses?.[at] ? at : (results.methods.moses?.stagesDone ?? 0)} />
      </div>
    </section>
  );
});

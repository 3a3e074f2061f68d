import { memo, useState } from 'react';
import type { RunResults } from '../../cl/results';
import { zipStored } from '../../util/zip';
import { save } from '../exportChart';
import { fmt } from '../format';
import type { RunState } from '../labState';
import { methodNotes } from '../runNotes';
import { useLab } from '../store';
import { CapacityChart } from './CapacityChart';
import { CellExamples } from './CellExamples';
import { DifferenceMatrix, ScoreLegend, TransferMatrix } from './TransferMatrix';

type Column = 'method' | 'OP' | 'BWT' | 'FWT' | 'forgetting' | 'stored';

interface Row {
  method: string;
  OP: number | null;
  BWT: number | null;
  FWT: number | null;
  /** Mean forgetting over the tasks that have one. */
  forgetting: number | null;
  stored: number | null;
}

function rowsOf(results: RunResults): Row[] {
  return Object.entries(results.methods).map(([method, m]) => {
    const f = m.forgetting.filter((v): v is number => v !== null);
    return {
      method,
      OP: m.OP,
      BWT: m.BWT,
      FWT: m.FWT,
      forgetting: f.length ? f.reduce((a, b) => a + b, 0) / f.length : null,
      stored: [...m.params.stored].reverse().find((v) => v !== null) ?? null,
    };
  });
}

/** The table as CSV (RFC 4180 quoting), as the export button saves it. */
export function metricsCsv(results: RunResults): string {
  const q = (v: string) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  const lines = ['method,OP,BWT,FWT,mean_forgetting,stored_params'];
  for (const r of rowsOf(results)) lines.push([q(r.method), r.OP ?? '', r.BWT ?? '', r.FWT ?? '', r.forgetting ?? '', r.stored ?? ''].join(','));
  return `${lines.join('\n')}\n`;
}

export function download(name: string, type: string, data: string | Uint8Array) {
  save(name, new Blob([data as BlobPart], { type }));
}

/** A method's adapters after a stage as one ZIP of PEFT folders, made in the worker. */
function AdapterExport({ run, stage }: { run: RunState; stage: number }) {
  const request = useLab((s) => s.request);
  const methods = Object.entries(run.results!.methods).filter(([, m]) => m.stagesDone > 0);
  const [chosen, setMethod] = useState(methods[0]?.[0] ?? '');
  const method = methods.some(([id]) => id === chosen) ? chosen : (methods[0]?.[0] ?? '');
  const [busy, setBusy] = useState(false);
  const [note, setNote] = useState<string | null>(null);
  if (run.importedFrom || methods.length === 0) return null;
  const done = run.results!.methods[method]?.stagesDone ?? 0;
  const at = Math.max(1, Math.min(stage, done));
  async function go() {
    setBusy(true);
    setNote(null);
    try {
      const folders = await request({ kind: 'exportAdapters', at: { runId: run.runId, experiment: run.experiment, stream: run.stream, method, stage: at } });
      const zip = zipStored(folders.flatMap((f) => f.files.map(([name, bytes]) => ({ path: `${f.name}/${name}`, bytes }))));
      download(`${method}-after-stage${at}-peft.zip`, 'application/zip', zip);
      setNote(`${folders.length} adapter folder(s): ${folders.map((f) => f.name).join(', ')}`);
    } catch (e) {
      setNote(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  }
  return (
    <div className="row small">
      <label>
        adapters of{' '}
        <select value={method} onChange={(e) => setMethod(e.target.value)} aria-label="method to export">
          {methods.map(([id]) => (
            <option key={id}>{id}</option>
          ))}
        </select>
      </label>
      <button className="secondary" onClick={go} disabled={busy} data-testid="export-adapters">
        {busy ? 'Exporting…' : `Export after stage ${at} (PEFT, zip)`}
      </button>
      {note && <span className="muted">{note}</span>}
    </div>
  );
}

/** The summary table (sortable, CSV), then each method's transfer matrix with a stage slider. */
export const ResultsPanel = memo(function ResultsPanel({ run }: { run: RunState }) {
  const results = run.results!;
  const [sort, setSort] = useState<{ col: Column; desc: boolean }>({ col: 'OP', desc: true });
  const [view, setView] = useState<'scores' | 'forgetting'>('scores');
  const n = results.stream.length;
  const finished = Math.max(0, ...Object.values(results.methods).map((m) => m.stagesDone));
  const [stage, setStage] = useState<number | null>(null);
  const upTo = stage ?? n;
  const rows = rowsOf(results).sort((a, b) => {
    const [x, y] = [a[sort.col], b[sort.col]];
    if (x === y) return 0;
    if (x === null) return 1;
    if (y === null) return -1;
    return (x < y ? -1 : 1) * (sort.desc ? -1 : 1);
  });
  const head = (col: Column, label: string, title: string) => (
    <th scope="col" title={title} aria-sort={sort.col === col ? (sort.desc ? 'descending' : 'ascending') : 'none'}>
      <button className="link" onClick={() => setSort({ col, desc: sort.col === col ? !sort.desc : true })}>
        {label}
        {sort.col === col ? (sort.desc ? ' ▼' : ' ▲') : ''}
      </button>
    </th>
  );
  const tasks = results.stream.map((t) => t.name);
  const notes = run.status === 'done' ? methodNotes(results) : [];
  const methodIds = Object.keys(results.methods);
  const [til, setTil] = useState(false);
  const [picked, setPicked] = useState<{ method: string; row: number; task: number } | null>(null);
  const [[pickA, pickB], setDiff] = useState<[string, string]>(['', '']);
  const diffA = methodIds.includes(pickA) ? pickA : (methodIds[methodIds.length - 1] ?? '');
  const diffB = methodIds.includes(pickB) ? pickB : (methodIds[0] ?? '');
  return (
    <section className="panel wide" data-testid="results-panel">
      <h2>Results</h2>
      <table className="metrics" data-testid="metrics-table">
        <thead>
          <tr>
            {head('method', 'method', 'continual-learning method')}
            {head('OP', 'OP', 'overall performance: mean score after the last task (0-100)')}
            {head('BWT', 'BWT', 'backward transfer: mean change of earlier tasks since they were learned (points)')}
            {head('FWT', 'FWT', 'forward transfer: score on a task before training on it, minus the base (points)')}
            {head('forgetting', 'forgetting', 'mean over tasks of best score minus final score (points)')}
            {head('stored', 'stored params', 'parameters kept besides the base after the last task')}
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.method}>
              <td>{r.method}</td>
              <td className="num">{fmt(r.OP)}</td>
              <td className="num">{fmt(r.BWT)}</td>
              <td className="num">{fmt(r.FWT)}</td>
              <td className="num">{fmt(r.forgetting)}</td>
              <td className="num">{r.stored === null ? '–' : r.stored.toLocaleString('en-US')}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {notes.length > 0 && (
        <ul className="notes" data-testid="method-notes">
          {notes.map((n) => (
            <li key={n.method} role="note">
              <strong>{n.method}</strong>: {n.text}
            </li>
          ))}
        </ul>
      )}
      <div className="row small">
        <button className="secondary" onClick={() => download('continual-lab-metrics.csv', 'text/csv', metricsCsv(results))}>
          Export CSV
        </button>
        <button className="secondary" onClick={() => download('results.json', 'application/json', `${JSON.stringify(results, null, 1)}\n`)} data-testid="export-results">
          Export results.json
        </button>
        <label>
          <input type="radio" checked={view === 'scores'} onChange={() => setView('scores')} /> scores
        </label>
        <label>
          <input type="radio" checked={view === 'forgetting'} onChange={() => setView('forgetting')} /> change since learned
        </label>
        <label>
          after stage <strong>{upTo}</strong>{' '}
          <input type="range" min={0} max={n} value={upTo} onChange={(e) => setStage(Number(e.target.value) >= n ? null : Number(e.target.value))} aria-label="stage shown" />
        </label>
        <span className="muted">{finished} of {n} stages finished</span>
      </div>
      <AdapterExport run={run} stage={upTo} />
      {view === 'scores' && <ScoreLegend />}
      {results.methods.moses?.R_til && (
        <label className="small">
          <input type="checkbox" checked={til} onChange={(e) => setTil(e.target.checked)} data-testid="moses-til" /> MoSEs with the task id given (TIL); off: the task inferred from the prompt
        </label>
      )}
      <div className="matrices">
        {Object.entries(results.methods).map(([id, m]) => (
          <TransferMatrix
            key={id}
            method={id === 'moses' && til ? 'moses (TIL)' : id}
            result={m}
            rowsOverride={id === 'moses' && til && m.R_til ? [m.R[0], ...m.R_til] : undefined}
            tasks={tasks}
            view={view}
            upToStage={upTo}
            picked={picked?.method === id ? picked : null}
            onPick={(row, task) => setPicked({ method: id, row, task })}
          />
        ))}
      </div>
      {picked && <CellExamples run={run} {...picked} onClose={() => setPicked(null)} />}
      {methodIds.length >= 2 && (
        <div className="row small">
          <label>
            difference{' '}
            <select value={diffA} onChange={(e) => setDiff([e.target.value, diffB])} aria-label="first method of the difference">
              {methodIds.map((m) => (
                <option key={m}>{m}</option>
              ))}
            </select>
          </label>
          <label>
            minus{' '}
            <select value={diffB} onChange={(e) => setDiff([diffA, e.target.value])} aria-label="second method of the difference">
              {methodIds.map((m) => (
                <option key={m}>{m}</option>
              ))}
            </select>
          </label>
        </div>
      )}
      <div className="matrices">
        {methodIds.length >= 2 && diffA !== diffB && <DifferenceMatrix a={diffA} b={diffB} A={results.methods[diffA]} B={results.methods[diffB]} tasks={tasks} />}
        <CapacityChart results={results} />
      </div>
    </section>
  );
});

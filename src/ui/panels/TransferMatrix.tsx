import type { MethodResult } from '../../cl/results';
import { ChartExport } from '../ChartExport';
import { diverging, textOn, viridis } from '../colors';
import { matrixSvg } from '../exportChart';

/**
 * One method's transfer matrix R as a heatmap: rows are "after training task i" (row 0 the
 * untrained base), columns the tasks, a fixed 0-100 viridis scale with the value written
 * in each cell. Cells not evaluated yet are hatched and empty, never drawn as a 0. The
 * forgetting view shows each cell's change since its task was learned (R[i][j] - R[j][j],
 * for i > j) on a diverging scale.
 */
export function TransferMatrix({
  method,
  result,
  tasks,
  view,
  upToStage,
  onPick,
  picked,
  rowsOverride,
}: {
  method: string;
  result: MethodResult;
  tasks: string[];
  view: 'scores' | 'forgetting';
  /** Rows after this stage are shown as not evaluated (the stage slider). */
  upToStage: number;
  /** A click on a scored cell: row i (0 = base) of task j. */
  onPick?: (row: number, task: number) => void;
  picked?: { row: number; task: number } | null;
  /** Rows to show instead of R (MoSEs with the task id: null cells have no score yet). */
  rowsOverride?: ((number | null)[] | null)[];
}) {
  const n = tasks.length;
  const source = rowsOverride ?? result.R;
  const rows = Array.from({ length: n + 1 }, (_, i) => (i <= upToStage ? source[i] : null));
  const cell = 44;
  return (
    <figure className="matrix" data-testid={`matrix-${method}`}>
      <figcaption>
        <strong>{method}</strong>{' '}
        <span className="muted">{view === 'scores' ? 'score (0-100) after each stage' : 'change since the task was learned (points)'}</span>
        <ChartExport name={`${method}-transfer-matrix`} svg={() => matrixSvg(`${method}: score (0-100) after each stage`, rows, tasks)} />
      </figcaption>
      <table className="heat" role="grid" aria-label={`${method} transfer matrix`}>
        <thead>
          <tr>
            <th scope="col" className="muted">after ↓ / task →</th>
            {tasks.map((t) => (
              <th scope="col" key={t} title={t} style={{ width: cell }}>
                <span className="task-label">{t}</span>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row, i) => (
            <tr key={i}>
              <th scope="row">{i === 0 ? 'base' : tasks[i - 1]}</th>
              {tasks.map((t, j) => {
                const v = row?.[j];
                if (row && v === null) return <td key={t} className="na" title="no score: the task id is not known before its task trains" />;
                if (v === undefined || v === null) {
                  return <td key={t} className="pending" data-testid="cell-pending" title="not evaluated yet" />;
                }
                if (view === 'forgetting') {
                  const learned = result.R[j + 1]?.[j];
                  if (i <= j + 1 || learned === undefined || learned === null) return <td key={t} className="na" title="no change to show: the task was not learned before this stage" />;
                  const d = v - learned;
                  return (
                    <td key={t} className="score" style={{ background: diverging(d), color: '#111' }} title={`${t} after ${tasks[i - 1]}: ${v.toFixed(1)} (${d >= 0 ? '+' : ''}${d.toFixed(1)} since learned)`}>
                      {d >= 0 ? '+' : ''}
                      {d.toFixed(0)}
                    </td>
                  );
                }
                const isPicked = picked?.row === i && picked.task === j;
                return (
                  <td
                    key={t}
                    className={`score${isPicked ? ' picked' : ''}`}
                    data-testid="cell-score"
                    style={{ background: viridis(v / 100), color: textOn(v / 100) }}
                    title={`${t} after ${i === 0 ? 'nothing (base)' : tasks[i - 1]}: ${v.toFixed(1)} (click for the examples)`}
                    onClick={() => onPick?.(i, j)}
                  >
                    {v.toFixed(0)}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}

/** The colour legend of the score view: 0-100 in viridis. */
export function ScoreLegend() {
  const stops = Array.from({ length: 11 }, (_, i) => `${viridis(i / 10)} ${i * 10}%`).join(', ');
  return (
    <div className="legend" aria-label="score colour scale, 0 to 100">
      <span>0</span>
      <span className="ramp" style={{ background: `linear-gradient(to right, ${stops})` }} />
      <span>100</span>
      <span className="pending swatch" /> <span className="muted">not evaluated yet</span>
    </div>
  );
}

/**
 * Method a minus method b, cell by cell, on a diverging scale (blue: a scores higher). Cells
 * either has not evaluated stay empty.
 */
export function DifferenceMatrix({ a, b, A, B, tasks }: { a: string; b: string; A: MethodResult; B: MethodResult; tasks: string[] }) {
  return (
    <figure className="matrix" data-testid="difference-matrix">
      <figcaption>
        <strong>
          {a} − {b}
        </strong>{' '}
        <span className="muted">score difference (points; blue: {a} higher)</span>
      </figcaption>
      <table className="heat">
        <thead>
          <tr>
            <th className="muted">after ↓ / task →</th>
            {tasks.map((t) => (
              <th key={t} title={t}>
                <span className="task-label">{t}</span>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {A.R.map((row, i) => (
            <tr key={i}>
              <th>{i === 0 ? 'base' : tasks[i - 1]}</th>
              {tasks.map((t, j) => {
                const x = row?.[j];
                const y = B.R[i]?.[j];
                if (x === undefined || x === null || y === undefined || y === null) return <td key={t} className="pending" />;
                const d = x - y;
                return (
                  <td key={t} className="score" style={{ background: diverging(d), color: '#111' }} title={`${t} after ${i === 0 ? 'base' : tasks[i - 1]}: ${a} ${x.toFixed(1)}, ${b} ${y.toFixed(1)}`}>
                    {d >= 0 ? '+' : ''}
                    {d.toFixed(0)}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}

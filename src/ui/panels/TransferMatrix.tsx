import type { MethodResult } from '../../cl/results';
import { diverging, textOn, viridis } from '../colors';

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
}: {
  method: string;
  result: MethodResult;
  tasks: string[];
  view: 'scores' | 'forgetting';
  /** Rows after this stage are shown as not evaluated (the stage slider). */
  upToStage: number;
}) {
  const n = tasks.length;
  const rows = Array.from({ length: n + 1 }, (_, i) => (i <= upToStage ? result.R[i] : null));
  const cell = 44;
  return (
    <figure className="matrix" data-testid={`matrix-${method}`}>
      <figcaption>
        <strong>{method}</strong>{' '}
        <span className="muted">{view === 'scores' ? 'score (0-100) after each stage' : 'change since the task was learned (points)'}</span>
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
                return (
                  <td key={t} className="score" data-testid="cell-score" style={{ background: viridis(v / 100), color: textOn(v / 100) }} title={`${t} after ${i === 0 ? 'nothing (base)' : tasks[i - 1]}: ${v.toFixed(1)}`}>
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

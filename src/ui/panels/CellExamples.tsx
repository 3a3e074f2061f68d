import { applyPreset, PRESETS } from '../../cl/presets';
import { METRIC_FUNCTIONS } from '../../eval/metrics';
import type { RunState } from '../labState';

/**
 * The examples behind one cell of a transfer matrix: each test prompt of the task, the
 * expected answer, what the method produced after that stage, and its score. Text only:
 * a prompt holding HTML shows literally.
 */
export function CellExamples({ run, method, row, task, onClose }: { run: RunState; method: string; row: number; task: number; onClose: () => void }) {
  const results = run.results!;
  const t = results.stream[task];
  const answers = (row === 0 ? run.answers.base?.[0] : run.answers[method]?.[row])?.[task];
  const preset = PRESETS[run.experiment.preset];
  // The test split as the run cut it (the worker applies the same seeded limits).
  const limited = preset && run.stream.tasks.length ? applyPreset(run.stream, preset, run.experiment.seed).tasks[task] : undefined;
  const score = METRIC_FUNCTIONS[t.metric];
  return (
    <div className="cell-examples" data-testid="cell-examples">
      <div className="row">
        <strong>
          {t.name} after {row === 0 ? 'nothing (base model)' : results.stream[row - 1]?.name} · {method}
        </strong>
        <span className="muted small">
          {t.metric}, score {results.methods[method]?.R[row]?.[task]?.toFixed(1) ?? '–'}
        </span>
        <button className="link" onClick={onClose}>
          close
        </button>
      </div>
      {!answers || !limited ? (
        <p className="muted small">The answers behind this cell were not kept (an imported results file, or a run from before answers were recorded).</p>
      ) : (
        <table className="examples">
          <thead>
            <tr>
              <th>prompt</th>
              <th>expected</th>
              <th>produced</th>
              <th className="num">score</th>
            </tr>
          </thead>
          <tbody>
            {limited.test.map((e, i) => (
              <tr key={i}>
                <td>{e.prompt}</td>
                <td>{e.answer}</td>
                <td>{answers[i]}</td>
                <td className="num">{score(answers[i] ?? "", e.answer).toFixed(0)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

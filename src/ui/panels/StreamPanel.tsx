import { useState, type DragEvent, type ReactNode } from 'react';
import { METRICS, TEST_KINDS, type MetricName, type Task, type TestKind } from '../../data/task';
import { itemsFromDrop, itemsFromFiles } from '../dropFiles';
import { useLab } from '../store';

/** The first rows of a task, as text (a prompt holding HTML shows literally). */
function Preview({ task }: { task: Task }) {
  return (
    <tr className="preview">
      <td colSpan={8}>
        <table className="small" data-testid={`preview-${task.name}`}>
          <thead>
            <tr>
              <th>prompt</th>
              <th>answer</th>
            </tr>
          </thead>
          <tbody>
            {task.train.slice(0, 5).map((e, i) => (
              <tr key={i}>
                <td className="example">{e.prompt}</td>
                <td className="example">{e.answer}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {task.description && <p className="muted small">{task.description}</p>}
      </td>
    </tr>
  );
}

/**
 * The task stream: the built-in one at first; tasks added by dropping or picking files or
 * folders (JSONL, TRACE JSON, CSV), each refused file listed with its line and reason;
 * each task's metric and test kind, order, removal, and a preview of its rows.
 */
export function StreamPanel() {
  const stream = useLab((s) => s.stream);
  const running = useLab((s) => s.run?.status === 'running' || s.run?.status === 'paused' || s.run?.status === 'stopping');
  const { moveTask, removeTask, resetStream, addUploads, setTaskMetric, setTaskTestKind, reportError } = useLab.getState();
  const [open, setOpen] = useState<string | null>(null);
  const [over, setOver] = useState(false);
  if (!stream)
    return (
      <section className="panel" data-testid="stream-panel">
        <h2>Task stream</h2>
        <p className="muted">Loading the built-in stream…</p>
      </section>
    );

  const take = (p: Promise<Parameters<typeof addUploads>[0]>) =>
    p.then(addUploads, (e: unknown) => reportError(`could not read the dropped files: ${e instanceof Error ? e.message : String(e)}`));
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    if (!running) void take(itemsFromDrop(e.dataTransfer));
  };

  return (
    <section className="panel span2" data-testid="stream-panel">
      <h2>
        Task stream: {stream.name} <span className="muted small">({stream.tasks.length} tasks{stream.builtin ? ', built in' : ''})</span>
      </h2>
      <div className="scroll-x">
      <table>
        <thead>
          <tr>
            <th>#</th>
            <th>task</th>
            <th className="num">train</th>
            <th className="num">test</th>
            <th>metric</th>
            <th>test kind</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {stream.tasks.map((t, i) => (
            <FragmentRow key={t.name} open={open === t.name} task={t}>
              <tr title={t.description}>
                <td>{i + 1}</td>
                <td>
                  <button className="link" onClick={() => setOpen(open === t.name ? null : t.name)} aria-expanded={open === t.name} aria-label={`preview ${t.name}`}>
                    {open === t.name ? '▾' : '▸'} {t.name}
                  </button>
                </td>
                <td className="num">{t.train.length}</td>
                <td className="num">{t.test.length}</td>
                <td>
                  <select value={t.metric} disabled={running} onChange={(e) => setTaskMetric(i, e.target.value as MetricName)} aria-label={`metric of ${t.name}`}>
                    {METRICS.map((m) => (
                      <option key={m}>{m}</option>
                    ))}
                  </select>
                </td>
                <td>
                  <select value={t.testKind} disabled={running} onChange={(e) => setTaskTestKind(i, e.target.value as TestKind)} aria-label={`test kind of ${t.name}`}>
                    {TEST_KINDS.map((k) => (
                      <option key={k}>{k}</option>
                    ))}
                  </select>
                </td>
                <td className="actions">
                  <button className="link" onClick={() => moveTask(i, -1)} disabled={running || i === 0} aria-label={`move ${t.name} earlier`}>
                    ↑
                  </button>
                  <button className="link" onClick={() => moveTask(i, 1)} disabled={running || i === stream.tasks.length - 1} aria-label={`move ${t.name} later`}>
                    ↓
                  </button>
                  <button className="link" onClick={() => removeTask(i)} disabled={running || stream.tasks.length === 1} aria-label={`remove ${t.name}`}>
                    ✕
                  </button>
                </td>
              </tr>
            </FragmentRow>
          ))}
        </tbody>
      </table>
      </div>
      <div
        className={`dropzone${over ? ' over' : ''}`}
        data-testid="dropzone"
        onDragOver={(e) => (e.preventDefault(), setOver(true))}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
      >
        Drop task files or folders here (JSONL, TRACE JSON or CSV with prompt and answer), or{' '}
        <label className="picker">
          pick files
          <input type="file" multiple accept=".jsonl,.json,.csv" disabled={running} data-testid="pick-files" onChange={(e) => void take(itemsFromFiles([...(e.target.files ?? [])])).then(() => (e.target.value = ''))} />
        </label>{' '}
        or{' '}
        <label className="picker">
          a folder
          <input
            type="file"
            disabled={running}
            ref={(el) => el?.setAttribute('webkitdirectory', '')}
            onChange={(e) => void take(itemsFromFiles([...(e.target.files ?? [])])).then(() => (e.target.value = ''))}
          />
        </label>
        .
      </div>
      {stream.rejected.length > 0 && (
        <ul className="rejected" data-testid="upload-errors">
          {stream.rejected.map((r) => (
            <li key={r.label}>
              <strong>{r.label}</strong>: <span className="error">{r.message.startsWith(`${r.label}: `) ? r.message.slice(r.label.length + 2) : r.message}</span>
            </li>
          ))}
        </ul>
      )}
      {!stream.builtin && (
        <button className="secondary" onClick={() => void resetStream()} disabled={running}>
          Back to the built-in stream
        </button>
      )}
      {stream.notes.length > 0 && (
        <details className="small">
          <summary className="muted">loader notes ({stream.notes.length})</summary>
          {stream.notes.map((n, i) => (
            <p className="muted" key={i}>
              {n}
            </p>
          ))}
        </details>
      )}
    </section>
  );
}

function FragmentRow({ children, open, task }: { children: ReactNode; open: boolean; task: Task }) {
  return (
    <>
      {children}
      {open && <Preview task={task} />}
    </>
  );
}

import { useEffect } from 'react';
import { formatBytes, formatDuration } from '../format';
import { useLab } from '../store';

function typingIn(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  return !!el && (el.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName));
}

/**
 * Start, pause, resume and stop (keys: Ctrl+Enter starts, P pauses or resumes, Shift+S
 * stops), and where the run is: method, task, step, loss, tokens/s, GPU memory, ETA.
 */
export function RunPanel() {
  const run = useLab((s) => s.run);
  const live = useLab((s) => s.live);
  const ready = useLab((s) => s.engine.status === 'ready' && s.stream !== null);
  const { startRun, pause, resume, stop } = useLab.getState();
  const status = run?.status;
  const active = status === 'running' || status === 'paused' || status === 'stopping';

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (typingIn(e.target)) return;
      const s = useLab.getState();
      const st = s.run?.status;
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) s.startRun();
      else if (e.key.toLowerCase() === 'p' && !e.ctrlKey && !e.metaKey) {
        if (st === 'running') s.pause();
        else if (st === 'paused' || st === 'stopped' || st === 'interrupted') s.resume();
      } else if (e.key === 'S' && e.shiftKey) s.stop();
      else return;
      e.preventDefault();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const p = live.progress;
  const methods = run?.experiment.methods.length ?? 0;
  const elapsed = run ? (Date.now() - run.startedAt) / 1000 : 0;
  const frac = p && Number.isFinite(p.etaSeconds) ? elapsed / (elapsed + p.etaSeconds) : 0;
  return (
    <section className="panel run-panel" data-testid="run-panel">
      <h2>Run</h2>
      <div className="row">
        <button onClick={startRun} disabled={!ready || active} title="Ctrl+Enter">
          Start
        </button>
        {status === 'running' && (
          <button onClick={pause} title="P">
            Pause
          </button>
        )}
        {(status === 'paused' || status === 'stopped' || status === 'interrupted' || status === 'failed') && (
          <button onClick={resume} title="P" disabled={!ready}>
            Resume
          </button>
        )}
        {(status === 'running' || status === 'paused') && (
          <button onClick={stop} className="secondary" title="Shift+S">
            Stop
          </button>
        )}
        <span className="muted small">Ctrl+Enter start · P pause/resume · Shift+S stop</span>
        <label className="picker small">
          import results.json
          <input
            type="file"
            accept=".json,application/json"
            disabled={active}
            data-testid="import-results"
            onChange={async (e) => {
              const f = e.target.files?.[0];
              if (f) useLab.getState().importResults(f.name, await f.text());
              e.target.value = '';
            }}
          />
        </label>
      </div>
      {run?.importedFrom && <p className="muted small">Viewing {run.importedFrom} (imported: its adapters and states are not here, so inspection and generation need the run itself).</p>}
      {run && (
        <div data-testid="run-status" className="run-status">
          <progress value={status === 'done' ? 1 : frac} max={1} />
          <p>
            <strong data-testid="run-state">{status}</strong>
            {p && (
              <>
                {' '}
                · {p.method === 'base' ? 'scoring the base model' : `${p.method} (${p.methodIndex + 1}/${methods})`} · task {p.stage}/{p.stages}{' '}
                <em>{p.task}</em> ·{' '}
                {p.phase === 'train' ? (
                  <>
                    step {p.step}/{p.steps} · loss {p.loss.toFixed(3)} nats/token · {Number.isFinite(p.tokensPerSecond) ? p.tokensPerSecond.toFixed(0) : '–'} tokens/s
                  </>
                ) : (
                  'scoring'
                )}{' '}
                · GPU memory {formatBytes(live.gpuBytes)} · ETA <span data-testid="run-eta">{formatDuration(p.etaSeconds)}</span>
              </>
            )}
            {status === 'done' && run.results && <> · {formatDuration(Object.values(run.results.methods).reduce((a, m) => a + m.seconds.train + m.seconds.eval, 0))} of training and scoring</>}
          </p>
        </div>
      )}
    </section>
  );
}

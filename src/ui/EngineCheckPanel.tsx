import { useEffect, useRef, useState } from 'react';
import { DEMO_JOB } from '../worker/demoJob';
import type { FromWorker, Progress, RunResult } from '../worker/protocol';

function formatEta(s: number): string {
  if (!Number.isFinite(s)) return '…';
  return s >= 60 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${Math.ceil(s)} s`;
}

/**
 * The worker's matmul measurement, kept between visits (the worker has no localStorage).
 * The result names its adapter; the worker ignores one measured on another.
 */
const WORKER_TUNING_KEY = 'continual-lab/worker-matmul-tuning';

function storedWorkerTuning(): unknown {
  try {
    const text = localStorage.getItem(WORKER_TUNING_KEY);
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

function keepWorkerTuning(tuning: unknown): void {
  try {
    localStorage.setItem(WORKER_TUNING_KEY, JSON.stringify(tuning));
  } catch {
    // Storage full or disabled: the worker measures again next time.
  }
}

/** Runs DEMO_JOB in the training Web Worker: proof that the engine works in this browser. */
export function EngineCheckPanel() {
  const worker = useRef<Worker | null>(null);
  const [status, setStatus] = useState<'idle' | 'running' | 'paused' | 'stopped' | 'done' | 'error'>('idle');
  const [progress, setProgress] = useState<Progress | null>(null);
  const [result, setResult] = useState<RunResult | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => () => worker.current?.terminate(), []);

  function start() {
    if (!worker.current) {
      worker.current = new Worker(new URL('../worker/trainingWorker.ts', import.meta.url), { type: 'module' });
      worker.current.postMessage({ type: 'init', matmulTuning: storedWorkerTuning() });
      worker.current.onmessage = (ev: MessageEvent<FromWorker>) => {
        const m = ev.data;
        if (m.type === 'tuned') keepWorkerTuning(m.tuning);
        else if (m.type === 'progress') setProgress(m);
        else if (m.type === 'paused') setStatus('paused');
        else if (m.type === 'resumed') setStatus('running');
        else if (m.type === 'stopped') setStatus('stopped');
        else if (m.type === 'result') {
          setResult(m);
          setStatus('done');
        } else if (m.type === 'error') {
          setError(m.message);
          setStatus('error');
        }
      };
    }
    setProgress(null);
    setResult(null);
    setError(null);
    setStatus('running');
    worker.current.postMessage({ type: 'start', job: { ...DEMO_JOB, runId: `demo-${Date.now()}` } });
  }

  const send = (type: 'pause' | 'resume' | 'stop') => worker.current?.postMessage({ type });
  const busy = status === 'running' || status === 'paused';
  return (
    <section className="panel" data-testid="engine-check">
      <h2>Training engine check</h2>
      <p className="muted">
        Fine-tunes the shipped base model on {DEMO_JOB.examples.length} prompt → answer pairs in a Web Worker
        ({DEMO_JOB.steps} steps), then answers them greedily.
      </p>
      <div style={{ display: 'flex', gap: '0.5rem' }}>
        <button onClick={start} disabled={busy}>
          {busy ? 'Training…' : 'Run'}
        </button>
        {status === 'running' && <button onClick={() => send('pause')}>Pause</button>}
        {status === 'paused' && <button onClick={() => send('resume')}>Resume</button>}
        {busy && <button onClick={() => send('stop')}>Stop</button>}
      </div>
      {progress && (
        <div data-testid="engine-progress" style={{ marginTop: '0.75rem' }}>
          <progress value={progress.step} max={progress.totalSteps} style={{ width: '100%' }} />
          <p className="muted">
            step {progress.step} / {progress.totalSteps} · loss {progress.loss.toFixed(3)} nats/token ·{' '}
            {progress.tokensPerSecond.toFixed(0)} tokens/s · {status === 'paused' ? 'paused' : `ETA ${formatEta(progress.etaSeconds)}`}
          </p>
        </div>
      )}
      {status === 'stopped' && <p>Stopped at step {progress?.step ?? 0}.</p>}
      {result && (
        <p data-testid="engine-result" className={result.exactMatch === 100 ? 'pass' : 'fail'}>
          Exact match {result.exactMatch.toFixed(0)}% after {result.steps} steps ({result.seconds.toFixed(1)} s), final loss{' '}
          {result.finalLoss.toFixed(3)} nats/token
        </p>
      )}
      {error && <p className="error">{error}</p>}
    </section>
  );
}

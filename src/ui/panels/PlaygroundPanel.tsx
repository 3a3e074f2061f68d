import { memo, useState } from 'react';
import type { RunState } from '../labState';
import { useLab } from '../store';

/**
 * Generation from the base model (sampled) or from any method as it stood after any finished
 * stage (greedy, through the method's own answering: SEE routes, MoSEs infers the task).
 */
export const PlaygroundPanel = memo(function PlaygroundPanel({ run }: { run: RunState | null }) {
  const request = useLab((s) => s.request);
  const methods = run?.results ? Object.entries(run.results.methods).filter(([, m]) => m.stagesDone > 0) : [];
  const [source, setSource] = useState('base');
  const [stage, setStage] = useState<number | null>(null);
  const [prompt, setPrompt] = useState(run?.stream.tasks[0]?.test[0]?.prompt ?? 'Call me Ishmael. ');
  const [out, setOut] = useState<{ from: string; prompt: string; text: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const done = methods.find(([id]) => id === source)?.[1].stagesDone ?? 0;
  const at = Math.min(stage ?? done, done);

  async function go() {
    setBusy(true);
    setError(null);
    try {
      const from =
        source === 'base' || !run
          ? ({ kind: 'base' } as const)
          : ({ kind: 'method', runId: run.runId, experiment: run.experiment, stream: run.stream, method: source, stage: at } as const);
      const { text } = await request({ kind: 'generate', from, prompt, maxNewTokens: source === 'base' ? 120 : 48, temperature: 0.8, seed: 1 });
      setOut({ from: source === 'base' ? 'base model (sampled, temperature 0.8)' : `${source} after stage ${at} (greedy)`, prompt, text });
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="panel" data-testid="playground">
      <h2>Playground</h2>
      <div className="row small">
        <label>
          model{' '}
          <select value={source} onChange={(e) => setSource(e.target.value)} data-testid="playground-model">
            <option value="base">base model</option>
            {methods.map(([id]) => (
              <option key={id} value={id}>
                {id}
              </option>
            ))}
          </select>
        </label>
        {source !== 'base' && done > 0 && (
          <label>
            after stage <strong>{at}</strong> <input type="range" min={1} max={done} value={at} onChange={(e) => setStage(Number(e.target.value))} aria-label="playground stage" />
          </label>
        )}
      </div>
      <div className="row">
        <input value={prompt} onChange={(e) => setPrompt(e.target.value)} style={{ flex: 1 }} aria-label="playground prompt" />
        <button onClick={go} disabled={busy || prompt === ''}>
          {busy ? 'Generating…' : 'Generate'}
        </button>
      </div>
      {out && (
        <p data-testid="playground-output" className="sample">
          <span className="muted small">{out.from}: </span>
          <strong>{out.prompt}</strong>
          {out.text}
        </p>
      )}
      {error && <p className="error">{error}</p>}
    </section>
  );
});

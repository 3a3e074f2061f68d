import { useDeferredValue, useEffect } from 'react';
import type { Preset } from '../cl/presets';
import { AdapterPanel } from './AdapterPanel';
import { ModelPanel } from './ModelPanel';
import { KernelCheckPanel } from './KernelCheckPanel';
import { MatmulTuningLine } from './MatmulTuningLine';
import { NoWebGpu } from './NoWebGpu';
import { LossChart } from './panels/LossChart';
import { InspectorPanel } from './panels/InspectorPanel';
import { MethodsPanel } from './panels/MethodsPanel';
import { PlaygroundPanel } from './panels/PlaygroundPanel';
import { ResultsPanel } from './panels/ResultsPanel';
import { RunPanel } from './panels/RunPanel';
import { StreamPanel } from './panels/StreamPanel';
import { StatusLine } from './StatusLine';
import { useLab } from './store';

const EMPTY: Preset[] = [];

/**
 * What a run shows. The result panels redraw at each finished stage: as a deferred value
 * React renders them in slices it can interrupt, and memoised panels skip the urgent pass,
 * so a stage's end never holds the page's thread for long.
 */
function RunViews({ presets, ready }: { presets: Preset[]; ready: boolean }) {
  const current = useLab((s) => s.run);
  const planned = useLab((s) => (s.run?.experiment ?? s.experiment).methods.map((m) => m.id).join());
  const run = useDeferredValue(current);
  const preset = presets.find((p) => p.name === run?.experiment.preset);
  return (
    <>
      {ready && <LossChart stepsPerStage={preset?.budget.steps ?? 1} stages={run?.results?.stream.length ?? 1} planned={planned} />}
      {run?.results && <ResultsPanel run={run} />}
      {run?.results && !run.importedFrom && <InspectorPanel run={run} />}
      {ready && <PlaygroundPanel run={run} />}
    </>
  );
}

export function App() {
  const engine = useLab((s) => s.engine);
  const presets = engine.status === 'ready' ? engine.catalog.presets : EMPTY;
  useEffect(() => {
    void useLab.getState().boot();
  }, []);

  if (engine.status === 'missing') return <NoWebGpu reason={engine.reason} />;
  return (
    <>
      <header>
        <h1>Continual Lab</h1>
        <span className="tagline">continual fine-tuning of language models on your own GPU</span>
      </header>
      <StatusLine />
      <main>
        {engine.status === 'starting' && <p className="muted">Starting the engine (WebGPU in a worker)…</p>}
        {engine.status === 'lost' && (
          <section className="panel" role="alert">
            <h2>The GPU device was lost</h2>
            <p className="error">{engine.reason}</p>
            <p className="muted">Finished stages are kept; a run goes on from the last one after reconnecting.</p>
            <button onClick={() => useLab.getState().reconnect()}>Reconnect</button>
          </section>
        )}
        {engine.status === 'ready' && <ModelPanel />}
        <StreamPanel />
        {engine.status === 'ready' && <MethodsPanel catalog={engine.catalog} />}
        <RunPanel />
        <RunViews presets={presets} ready={engine.status === 'ready'} />
        {engine.status === 'ready' && (
          <>
            <AdapterPanel adapter={engine.adapter}>
              <MatmulTuningLine />
            </AdapterPanel>
            <KernelCheckPanel />
          </>
        )}
      </main>
    </>
  );
}

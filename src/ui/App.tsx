import { useEffect, useState } from 'react';
import type { GpuContext } from '../gpu/context';
import { createBrowserContext, webgpuMissingReason } from '../gpu/browser';
import { GpuUnavailableError } from '../gpu/errors';
import { AdapterPanel } from './AdapterPanel';
import { NoWebGpu } from './NoWebGpu';
import { BaseModelPanel } from './BaseModelPanel';
import { EngineCheckPanel } from './EngineCheckPanel';
import { KernelCheckPanel } from './KernelCheckPanel';
import { MatmulTuningLine } from './MatmulTuningLine';

type GpuState =
  | { kind: 'loading' }
  | { kind: 'ready'; ctx: GpuContext }
  | { kind: 'missing'; reason: string }
  | { kind: 'lost'; reason: string };

let sharedContext: Promise<GpuContext> | null = null;
// One device per page: StrictMode mounts effects twice in development.
function acquireContext(): Promise<GpuContext> {
  sharedContext ??= createBrowserContext();
  return sharedContext;
}

export function App() {
  const [gpu, setGpu] = useState<GpuState>(() => {
    const reason = webgpuMissingReason();
    return reason ? { kind: 'missing', reason } : { kind: 'loading' };
  });

  useEffect(() => {
    if (gpu.kind !== 'loading') return;
    let cancelled = false;
    acquireContext().then(
      (ctx) => {
        if (cancelled) return;
        setGpu({ kind: 'ready', ctx });
        ctx.onDeviceLost((info) => {
          sharedContext = null;
          if (info.reason !== 'destroyed') setGpu({ kind: 'lost', reason: info.message || info.reason });
        });
      },
      (err: unknown) => {
        sharedContext = null;
        if (cancelled) return;
        const reason = err instanceof GpuUnavailableError ? err.message : `Could not start WebGPU: ${String(err)}`;
        setGpu({ kind: 'missing', reason });
      },
    );
    return () => {
      cancelled = true;
    };
  }, [gpu.kind]);

  if (gpu.kind === 'missing') return <NoWebGpu reason={gpu.reason} />;

  return (
    <>
      <header>
        <h1>Continual Lab</h1>
        <span className="tagline">continual fine-tuning of language models on your own GPU</span>
      </header>
      <main>
        {gpu.kind === 'loading' && <p className="muted">Starting WebGPU…</p>}
        {gpu.kind === 'lost' && (
          <section className="panel" role="alert">
            <h2>The GPU device was lost</h2>
            <p className="error">{gpu.reason}</p>
            <button onClick={() => setGpu({ kind: 'loading' })}>Reconnect</button>
          </section>
        )}
        {gpu.kind === 'ready' && (
          <>
            <AdapterPanel adapter={gpu.ctx.adapter}>
              <MatmulTuningLine ctx={gpu.ctx} />
            </AdapterPanel>
            <KernelCheckPanel ctx={gpu.ctx} />
            <EngineCheckPanel />
            <BaseModelPanel ctx={gpu.ctx} />
          </>
        )}
      </main>
    </>
  );
}

import { useEffect, useState } from 'react';
import type { GpuContext } from '../gpu/context';
import { ensureMatmulTuned } from '../diagnostics/matmulTuningCache';
import type { MatmulTuning } from '../kernels/matmulTuning';

function browserStore() {
  try {
    return window.localStorage;
  } catch {
    return null; // storage disabled (private mode, sandboxed frame)
  }
}

/** Picks this adapter's matmul kernel (measured once, then remembered) and says which. */
export function MatmulTuningLine({ ctx }: { ctx: GpuContext }) {
  const [state, setState] = useState<{ tuning: MatmulTuning; fromCache: boolean } | { error: string } | null>(null);
  useEffect(() => {
    let live = true;
    ensureMatmulTuned(ctx, browserStore()).then(
      (r) => live && setState(r),
      (e: unknown) => live && setState({ error: e instanceof Error ? e.message : String(e) }),
    );
    return () => {
      live = false;
    };
  }, [ctx]);

  if (!state) return <p className="muted" data-testid="matmul-tuning">Measuring matmul kernels on this adapter…</p>;
  if ('error' in state) return <p className="error" data-testid="matmul-tuning">Matmul tuning failed: {state.error}</p>;
  const { tuning, fromCache } = state;
  const others = Object.entries(tuning.gflops)
    .filter(([v]) => v !== tuning.winner)
    .map(([v, g]) => `${v} ${g.toFixed(2)}`)
    .join(', ');
  return (
    <p data-testid="matmul-tuning">
      Matmul kernel: <strong>{tuning.winner}</strong> at {tuning.gflops[tuning.winner].toFixed(2)} GFLOP/s
      <span className="muted">
        {' '}
        ({fromCache ? 'measured on an earlier visit' : 'measured just now'}; others, GFLOP/s: {others})
      </span>
    </p>
  );
}

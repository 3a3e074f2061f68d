import { useLab } from './store';

/** Which matmul kernel the engine picked on this adapter (measured once, then remembered). */
export function MatmulTuningLine() {
  const state = useLab((s) => s.tuning);
  if (!state) return <p className="muted" data-testid="matmul-tuning">Matmul kernels are measured on this adapter with the first GPU job…</p>;
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

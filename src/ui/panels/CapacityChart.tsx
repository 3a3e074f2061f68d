import { CartesianGrid, Legend, Line, LineChart, Tooltip, XAxis, YAxis } from 'recharts';
import type { RunResults } from '../../cl/results';
import { ChartExport } from '../ChartExport';
import { METHOD_COLORS } from '../colors';
import { svgOfElement } from '../exportChart';

/** Stored parameters (besides the base) after each task, per method: how capacity grows. */
export function CapacityChart({ results }: { results: RunResults }) {
  const methods = Object.entries(results.methods).filter(([, m]) => m.params.stored.some((v) => v !== null));
  if (methods.length === 0) return null;
  const rows = results.stream.map((t, i) => {
    const row: Record<string, number | string | null> = { task: `${i + 1}. ${t.name}` };
    for (const [id, m] of methods) row[id] = m.params.stored[i];
    return row;
  });
  return (
    <figure className="matrix" data-testid="capacity-chart">
      <figcaption className="small">
        Stored parameters after each task (besides the base){' '}
        <ChartExport name="capacity" svg={() => { const el = document.querySelector<SVGSVGElement>('[data-testid="capacity-chart"] svg.recharts-surface'); return el ? svgOfElement(el) : null; }} />
      </figcaption>
      <LineChart width={460} height={240} data={rows} margin={{ top: 8, right: 16, bottom: 28, left: 24 }}>
        <CartesianGrid strokeDasharray="3 3" opacity={0.4} />
        <XAxis dataKey="task" tick={{ fontSize: 10 }} label={{ value: 'after task', position: 'insideBottom', offset: -18 }} />
        <YAxis scale="log" domain={['auto', 'auto']} allowDataOverflow tickFormatter={(v: number) => (v >= 1e6 ? `${(v / 1e6).toFixed(1)}M` : `${Math.round(v / 1e3)}k`)} label={{ value: 'parameters (log)', angle: -90, position: 'insideLeft', offset: -14 }} />
        <Tooltip formatter={(v) => (typeof v === 'number' ? v.toLocaleString('en-US') : String(v))} isAnimationActive={false} />
        <Legend verticalAlign="top" height={24} />
        {methods.map(([id]) => (
          <Line key={id} dataKey={id} stroke={METHOD_COLORS[id] ?? '#444'} isAnimationActive={false} connectNulls />
        ))}
      </LineChart>
    </figure>
  );
}

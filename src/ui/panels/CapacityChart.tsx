import { CartesianGrid, Legend, Line, LineChart, Tooltip, XAxis, YAxis } from 'recharts';
import type { RunResults } from '../../cl/results';
import { ChartExport } from '../ChartExport';
import { METHOD_COLORS } from '../colors';
import { svgOfElement } from '../exportChart';
import { axisTitle, PlainTick } from '../chartParts';

const TASK_TITLE = axisTitle('after task', 'bottom');
const PARAMS_TITLE = axisTitle('parameters (log scale)', 'left');

/** Stored parameters (besides the base) after each task, per method: how capacity grows. */
export function CapacityChart({ results }: { results: RunResults }) {
  const methods = Object.entries(results.methods).filter(([, m]) => m.params.stored.some((v) => v !== null));
  if (methods.length === 0) return null;
  const rows = results.stream.map((t, i) => {
    const row: Record<string, number | string | null> = { task: i + 1, name: t.name };
    for (const [id, m] of methods) row[id] = m.params.stored[i];
    return row;
  });
  const domain = decadeDomain(methods.flatMap(([, m]) => m.params.stored.filter((v): v is number => v !== null && v > 0)));
  return (
    <figure className="matrix" data-testid="capacity-chart">
      <figcaption className="small">
        Stored parameters after each task (besides the base){' '}
        <ChartExport name="capacity" svg={() => { const el = document.querySelector<SVGSVGElement>('[data-testid="capacity-chart"] svg.recharts-surface'); return el ? svgOfElement(el) : null; }} />
      </figcaption>
      <LineChart width={460} height={240} data={rows} margin={{ top: 8, right: 16, bottom: 28, left: 24 }}>
        <CartesianGrid strokeDasharray="3 3" opacity={0.4} />
        <XAxis dataKey="task" type="number" domain={[1, results.stream.length]} ticks={rows.map((r) => r.task as number)} interval={0} tick={PlainTick} label={TASK_TITLE} />
        <YAxis scale="log" domain={domain} ticks={decadeTicks(domain)} interval={0} allowDataOverflow tickFormatter={formatCount} tick={PlainTick} label={PARAMS_TITLE} />
        <Tooltip formatter={(v) => (typeof v === 'number' ? v.toLocaleString('en-US') : String(v))} labelFormatter={(task) => `after task ${task}: ${rows[Number(task) - 1]?.name ?? ''}`} isAnimationActive={false} />
        <Legend verticalAlign="top" height={24} />
        {methods.map(([id]) => (
          <Line key={id} dataKey={id} stroke={METHOD_COLORS[id] ?? '#444'} isAnimationActive={false} connectNulls />
        ))}
      </LineChart>
    </figure>
  );
}

function formatCount(v: number): string {
  if (v >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (v >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
  return String(v);
}

/**
 * Whole decades around the values: an automatic log domain collapses onto a method whose
 * storage never changes, drawing its flat line on the axis itself where nobody sees it.
 */
export function decadeDomain(values: number[]): [number, number] {
  if (values.length === 0) return [1, 10];
  const min = Math.min(...values);
  const max = Math.max(...values);
  let lo = 10 ** Math.floor(Math.log10(min));
  let hi = 10 ** Math.ceil(Math.log10(max));
  // A value on a whole decade would sit on the frame: give it a decade of room.
  if (min <= lo) lo /= 10;
  if (max >= hi) hi *= 10;
  return [lo, hi];
}

function decadeTicks([lo, hi]: [number, number]): number[] {
  const ticks: number[] = [];
  for (let v = lo; v <= hi * 1.0001; v *= 10) ticks.push(v);
  return ticks;
}

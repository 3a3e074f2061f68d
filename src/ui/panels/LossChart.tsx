import { memo, startTransition, useEffect, useMemo, useRef, useState } from 'react';
import { useLab } from '../store';
import { CartesianGrid, Legend, Line, LineChart, ReferenceLine, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { LossPoint } from '../labState';
import { ChartExport } from '../ChartExport';
import { METHOD_COLORS } from '../colors';
import { svgOfElement } from '../exportChart';
import { axisTitle, PlainTick } from '../chartParts';

const STEP_TITLE = axisTitle('training step (all tasks)', 'bottom');
const LOSS_TITLE = axisTitle('loss (nats/token)', 'left');

/** Points kept per line at most: a chart of thousands of points per method redraws slowly. */
const MAX_POINTS = 400;

/** Exponential moving average with weight `alpha` on the past (0 = raw), as TensorBoard smooths. */
export function smooth(points: readonly LossPoint[], alpha: number): LossPoint[] {
  let ema = NaN;
  return points.map((p, i) => {
    ema = i === 0 || !Number.isFinite(ema) ? p.loss : alpha * ema + (1 - alpha) * p.loss;
    return { ...p, loss: ema };
  });
}

/** Every `k`-th point (and the last), so a long run keeps its shape in MAX_POINTS points. */
function thin(points: readonly LossPoint[]): LossPoint[] {
  const k = Math.ceil(points.length / MAX_POINTS);
  return k <= 1 ? [...points] : points.filter((_, i) => i % k === 0 || i === points.length - 1);
}

/**
 * Every method's training loss against its steps, overlaid, task boundaries marked; the
 * tooltip is a crosshair listing each method's value at that step.
 */
export const LossChart = memo(function LossChart({ stepsPerStage, stages, planned }: { stepsPerStage: number; stages: number; planned: string }) {
  const live = useLab((s) => s.live.losses);
  // Redrawn at most once a second: a chart redraw per training step would crowd the page's thread.
  const [losses, setLosses] = useState(live);
  const last = useRef(0);
  useEffect(() => {
    const wait = Math.max(0, 1000 - (Date.now() - last.current));
    const t = setTimeout(() => {
      last.current = Date.now();
      // A transition: React may split the chart's redraw and yield to input between parts.
      startTransition(() => setLosses(live));
    }, wait);
    return () => clearTimeout(t);
  }, [live]);
  const [alpha, setAlpha] = useState(0.6);
  const [log, setLog] = useState(false);
  const withData = Object.keys(losses).filter((m) => losses[m].length > 0);
  // The run's methods have their lines (empty) before their first step: the first points are
  // then a change of data, not of the chart's structure, which costs recharts far more.
  const methods = [...new Set([...planned.split(',').filter(Boolean), ...withData])];
  const rows = useMemo(() => {
    const byStep = new Map<number, Record<string, number>>();
    for (const m of methods) {
      for (const p of thin(smooth(losses[m] ?? [], alpha))) {
        const row = byStep.get(p.step) ?? { step: p.step };
        row[m] = p.loss;
        byStep.set(p.step, row);
      }
    }
    return [...byStep.values()].sort((a, b) => a.step - b.step);
  }, [losses, alpha, methods.join()]);
  return (
    <section className="panel wide" data-testid="loss-chart">
      <h2>
        Training loss <ChartExport name="training-loss" svg={() => { const el = document.querySelector<SVGSVGElement>('[data-testid="loss-chart"] svg.recharts-surface'); return el ? svgOfElement(el) : null; }} />
      </h2>
      <div className="row small">
        <label>
          smoothing {alpha.toFixed(2)} <input type="range" min={0} max={0.99} step={0.01} value={alpha} onChange={(e) => setAlpha(Number(e.target.value))} />
        </label>
        <label>
          <input type="checkbox" checked={log} onChange={(e) => setLog(e.target.checked)} /> log scale
        </label>
      </div>
      {rows.length === 0 && <p className="muted">No training steps yet: the curves appear here as a run trains.</p>}
      {/* The chart is on the page before any run (empty axes): mounting a recharts chart is its
          costliest redraw, better paid before training than during it. Axes take interval={0}
          (their few computed ticks as they are: the default measures each label in the DOM)
          and plain text for ticks and titles (see chartParts). */}
      <ResponsiveContainer width="100%" height={260}>
        <LineChart data={rows} margin={{ top: 8, right: 16, bottom: 20, left: 8 }}>
          <CartesianGrid strokeDasharray="3 3" opacity={0.4} />
          <XAxis dataKey="step" type="number" domain={rows.length ? [0, 'dataMax'] : [0, stepsPerStage * stages]} allowDecimals={false} interval={0} tick={PlainTick} label={STEP_TITLE} />
          <YAxis
            interval={0}
            scale={log ? 'log' : 'auto'}
            domain={log ? ['auto', 'auto'] : [0, 'auto']}
            allowDataOverflow={log}
            tickFormatter={(v: number) => v.toFixed(2)}
            tick={PlainTick}
            label={LOSS_TITLE}
          />
          <Tooltip formatter={(v) => (typeof v === 'number' ? v.toFixed(3) : String(v))} labelFormatter={(s) => `step ${s} (task ${Math.ceil(Number(s) / stepsPerStage)})`} isAnimationActive={false} />
          <Legend verticalAlign="top" height={24} />
          {Array.from({ length: Math.max(0, stages - 1) }, (_, k) => (
            <ReferenceLine key={k} x={(k + 1) * stepsPerStage} stroke="currentColor" strokeOpacity={0.3} strokeDasharray="4 4" />
          ))}
          {methods.map((m) => (
            <Line key={m} dataKey={m} stroke={METHOD_COLORS[m] ?? '#444'} dot={false} isAnimationActive={false} connectNulls strokeWidth={1.5} />
          ))}
        </LineChart>
      </ResponsiveContainer>
    </section>
  );
});

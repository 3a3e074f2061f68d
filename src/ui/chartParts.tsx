import type { ReactElement } from 'react';
import type { CartesianViewBox, LabelProps } from 'recharts';

/**
 * Axis parts drawn as plain SVG text. Recharts' own text measures every word in the DOM to
 * wrap it, which forces a layout of the whole page at each chart redraw: in a trace of a
 * training run that was the largest part of a redraw on the page's thread. Axis labels and
 * ticks here are short and never wrap.
 */

interface TickProps {
  x: number | string;
  y: number | string;
  index: number;
  payload: { value: unknown };
  textAnchor?: string;
  verticalAnchor?: string;
  fill?: string;
  tickFormatter?: (value: never, index: number) => string;
}

/** An axis tick: its formatted value, anchored as recharts anchors its own. */
export function PlainTick(props: unknown): ReactElement {
  const { x, y, index, payload, textAnchor, verticalAnchor, fill, tickFormatter } = props as TickProps;
  const dy = verticalAnchor === 'start' ? '0.71em' : verticalAnchor === 'middle' ? '0.32em' : '0';
  const text = tickFormatter ? tickFormatter(payload.value as never, index) : String(payload.value);
  return (
    <text x={x} y={y} dy={dy} textAnchor={textAnchor as 'start' | 'middle' | 'end' | undefined} fill={fill ?? '#666'} fontSize={11}>
      {text}
    </text>
  );
}

/** An axis title (with its unit) below an x axis or along a y axis, for an axis' `label`. */
export function axisTitle(text: string, side: 'bottom' | 'left'): { value: string; content: (p: LabelProps) => ReactElement } {
  return {
    value: text,
    content: (p) => {
      const { x = 0, y = 0, width = 0, height = 0 } = (p.viewBox ?? {}) as CartesianViewBox;
      if (side === 'bottom') {
        return (
          <text x={x + width / 2} y={y + height + 12} textAnchor="middle" fontSize={12} fill="#444">
            {text}
          </text>
        );
      }
      const cx = x + 10;
      const cy = y + height / 2;
      return (
        <text x={cx} y={cy} transform={`rotate(-90 ${cx} ${cy})`} textAnchor="middle" fontSize={12} fill="#444">
          {text}
        </text>
      );
    },
  };
}

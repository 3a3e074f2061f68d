import { downloadPng, downloadSvg } from './exportChart';
import { useLab } from './store';

/** SVG and PNG buttons for a chart: `svg()` gives the file's text when clicked. */
export function ChartExport({ name, svg }: { name: string; svg: () => string | null }) {
  const report = useLab((s) => s.reportError);
  const get = () => {
    const text = svg();
    if (!text) report(`${name}: nothing drawn yet to export`);
    return text;
  };
  return (
    <span className="chart-export small">
      <button className="link" onClick={() => { const t = get(); if (t) downloadSvg(`${name}.svg`, t); }}>
        SVG
      </button>{' '}
      <button className="link" onClick={() => { const t = get(); if (t) void downloadPng(`${name}.png`, t).catch((e: unknown) => report(String(e))); }}>
        PNG
      </button>
    </span>
  );
}

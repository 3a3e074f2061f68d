import type { TransferMatrix } from '../eval/transfer';
import { textOn, viridis } from './colors';

/**
 * Charts as files: SVG (vector, for papers) and PNG (drawn from the SVG at 2x). Recharts
 * draws SVG already; a transfer matrix is drawn here from its numbers, so the file shows
 * exactly the scale the page does.
 */

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A transfer matrix as a standalone SVG: viridis 0-100 cells with their values, not-evaluated cells hatched. */
export function matrixSvg(title: string, R: TransferMatrix | ((number | null)[] | null)[], tasks: string[]): string {
  const cell = 40;
  const left = 110;
  const top = 96;
  const w = left + tasks.length * cell + 20;
  const h = top + R.length * cell + 40;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif">`,
    '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/><line x1="0" y1="0" x2="0" y2="6" stroke="#bbb" stroke-width="2"/></pattern></defs>',
    `<rect width="${w}" height="${h}" fill="#fff"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
  ];
  tasks.forEach((t, j) => {
    const x = left + j * cell + cell / 2;
    parts.push(`<text x="${x}" y="${top - 6}" font-size="10" transform="rotate(-45 ${x} ${top - 6})">${esc(t)}</text>`);
  });
  R.forEach((row, i) => {
    const y = top + i * cell;
    parts.push(`<text x="${left - 6}" y="${y + cell / 2 + 4}" font-size="10" text-anchor="end">${esc(i === 0 ? 'base' : (tasks[i - 1] ?? ''))}</text>`);
    tasks.forEach((_, j) => {
      const x = left + j * cell;
      const v = row?.[j];
      if (v === undefined || v === null || !Number.isFinite(v)) {
        parts.push(`<rect x="${x + 1}" y="${y + 1}" width="${cell - 2}" height="${cell - 2}" fill="${row ? '#fff' : 'url(#hatch)'}" stroke="#ccc"/>`);
        return;
      }
      parts.push(`<rect x="${x + 1}" y="${y + 1}" width="${cell - 2}" height="${cell - 2}" fill="${viridis(v / 100)}"/>`);
      parts.push(`<text x="${x + cell / 2}" y="${y + cell / 2 + 4}" font-size="11" text-anchor="middle" fill="${textOn(v / 100)}">${v.toFixed(0)}</text>`);
    });
  });
  const ly = top + R.length * cell + 14;
  for (let k = 0; k <= 20; k++) parts.push(`<rect x="${left + k * 8}" y="${ly}" width="8" height="10" fill="${viridis(k / 20)}"/>`);
  parts.push(`<text x="${left - 6}" y="${ly + 9}" font-size="10" text-anchor="end">0</text><text x="${left + 21 * 8 + 4}" y="${ly + 9}" font-size="10">100 (score)</text>`);
  parts.push('</svg>');
  return parts.join('');
}

/** An on-page SVG (a recharts chart) as a standalone file, with a white background. */
export function svgOfElement(svg: SVGSVGElement): string {
  const copy = svg.cloneNode(true) as SVGSVGElement;
  copy.setAttribute('xmlns', 'http://www.w3.org/2000/svg');
  const { width, height } = svg.getBoundingClientRect();
  copy.setAttribute('width', String(Math.round(width)));
  copy.setAttribute('height', String(Math.round(height)));
  copy.insertAdjacentHTML('afterbegin', `<rect width="100%" height="100%" fill="#fff"/>`);
  // Text takes the page's colour through CSS that does not travel with the file.
  copy.querySelectorAll('text').forEach((t) => t.getAttribute('fill') || t.setAttribute('fill', '#222'));
  return new XMLSerializer().serializeToString(copy);
}

/** Hands a file to the browser's downloads. */
export function save(name: string, blob: Blob) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function downloadSvg(name: string, svg: string) {
  save(name, new Blob([svg], { type: 'image/svg+xml' }));
}

/** The SVG drawn at `scale` onto a canvas and saved as PNG. */
export async function downloadPng(name: string, svg: string, scale = 2): Promise<void> {
  const img = new Image();
  const url = URL.createObjectURL(new Blob([svg], { type: 'image/svg+xml' }));
  try {
    await new Promise<void>((resolve, reject) => {
      img.onload = () => resolve();
      img.onerror = () => reject(new Error('the chart could not be drawn as an image'));
      img.src = url;
    });
    const canvas = document.createElement('canvas');
    canvas.width = Math.ceil(img.width * scale);
    canvas.height = Math.ceil(img.height * scale);
    const g = canvas.getContext('2d')!;
    g.scale(scale, scale);
    g.drawImage(img, 0, 0);
    const blob = await new Promise<Blob | null>((r) => canvas.toBlob(r, 'image/png'));
    if (!blob) throw new Error('the browser could not encode the PNG');
    save(name, blob);
  } finally {
    URL.revokeObjectURL(url);
  }
}

/**
 * Viridis, the perceptually uniform colour scale of matplotlib (van der Walt and Smith):
 * nine anchors of the published map, linearly interpolated in sRGB. Used for every 0-100
 * score so that equal steps look equal and the scale survives greyscale printing.
 */
const VIRIDIS = ['#440154', '#472d7b', '#3b528b', '#2c728e', '#21918c', '#28ae80', '#5ec962', '#addc30', '#fde725'];

function rgb(hex: string): [number, number, number] {
  return [parseInt(hex.slice(1, 3), 16), parseInt(hex.slice(3, 5), 16), parseInt(hex.slice(5, 7), 16)];
}

const ANCHORS = VIRIDIS.map(rgb);

/** The colour of t in [0, 1] (clamped). */
export function viridis(t: number): string {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (ANCHORS.length - 1);
  const i = Math.min(Math.floor(x), ANCHORS.length - 2);
  const f = x - i;
  const [a, b] = [ANCHORS[i], ANCHORS[i + 1]];
  const c = a.map((v, k) => Math.round(v + f * (b[k] - v)));
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

/** Text drawn on viridis(t): white on the dark half, near-black on the light half. */
export function textOn(t: number): string {
  return t < 0.55 ? '#ffffff' : '#111111';
}

/**
 * A diverging scale for changes (-100..100 points): red for losses, blue for gains, white
 * at 0, saturating at `range` points.
 */
export function diverging(delta: number, range = 50): string {
  const t = Math.max(-1, Math.min(1, delta / range));
  const [r, g, b] = t < 0 ? [178, 24, 43] : [33, 102, 172];
  const k = Math.abs(t);
  const mix = (c: number) => Math.round(255 + k * (c - 255));
  return `rgb(${mix(r)}, ${mix(g)}, ${mix(b)})`;
}

/** Line colours of the methods, fixed per method so every chart agrees. */
export const METHOD_COLORS: Record<string, string> = {
  seqft: '#7f7f7f',
  seqlora: '#d62728',
  replay: '#ff7f0e',
  ewc: '#8c564b',
  olora: '#9467bd',
  mtl: '#17becf',
  see: '#2ca02c',
  moses: '#1f77b4',
};

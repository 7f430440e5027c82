// viz/plot.ts — loss curves as a self-contained SVG, and a 2-D scatter (coloured by label) as a PNG.
import { Raster } from './png';

export interface Series {
  name: string;
  points: Array<[number, number]>;
  color: string;
}

function ticks(lo: number, hi: number, n = 5): number[] {
  const step = Math.pow(10, Math.floor(Math.log10((hi - lo) / n || 1)));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => (hi - lo) / s <= n) ?? step * 10;
  const out: number[] = [];
  for (let v = Math.ceil(lo / nice) * nice; v <= hi + 1e-9; v += nice) out.push(Number(v.toPrecision(12)));
  return out;
}

export function lineChartSvg(series: Series[], options: { title: string; xLabel: string; yLabel: string; width?: number; height?: number }): string {
  const { title, xLabel, yLabel, width = 640, height = 400 } = options;
  const m = { l: 70, r: 20, t: 40, b: 50 };
  const all = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  let [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  if (!(x1 > x0)) x1 = x0 + 1;
  if (!(y1 > y0)) (y1 = y0 + 1), (y0 -= 1);
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0)) * (width - m.l - m.r);
  const sy = (y: number) => height - m.b - ((y - y0) / (y1 - y0)) * (height - m.t - m.b);
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`];
  for (const t of ticks(y0, y1)) parts.push(`<line x1="${m.l}" x2="${width - m.r}" y1="${sy(t)}" y2="${sy(t)}" stroke="#ddd"/><text x="${m.l - 6}" y="${sy(t) + 4}" text-anchor="end">${t}</text>`);
  for (const t of ticks(x0, x1)) parts.push(`<text x="${sx(t)}" y="${height - m.b + 16}" text-anchor="middle">${t}</text>`);
  parts.push(`<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${height - m.b}" stroke="black"/><line x1="${m.l}" x2="${width - m.r}" y1="${height - m.b}" y2="${height - m.b}" stroke="black"/>`);
  parts.push(`<text x="${width / 2}" y="${height - 10}" text-anchor="middle">${esc(xLabel)}</text>`);
  parts.push(`<text transform="translate(16 ${height / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  series.forEach((s, i) => {
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')}"/>`);
    for (const [x, y] of pts) parts.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3" fill="${s.color}"/>`);
    parts.push(`<rect x="${width - m.r - 130}" y="${m.t + 8 + i * 18}" width="12" height="12" fill="${s.color}"/><text x="${width - m.r - 112}" y="${m.t + 18 + i * 18}">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

// Ten distinguishable colours (the 'tab10' palette's values).
export const PALETTE: ReadonlyArray<readonly [number, number, number]> = [
  [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
  [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207],
];

/** points: (n, 2) interleaved; labels pick the colour. Legend squares for each label present. */
export function scatterPng(points: Float32Array | Float64Array, labels: ArrayLike<number>, options: { size?: number } = {}): Buffer {
  const size = options.size ?? 640;
  const r = new Raster(size, size);
  const n = labels.length;
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (let i = 0; i < n; i++) {
    x0 = Math.min(x0, points[2 * i]);
    x1 = Math.max(x1, points[2 * i]);
    y0 = Math.min(y0, points[2 * i + 1]);
    y1 = Math.max(y1, points[2 * i + 1]);
  }
  const span = Math.max(x1 - x0, y1 - y0) || 1;
  const margin = 30;
  const scale = (size - 2 * margin) / span;
  for (let i = 0; i < n; i++) {
    const px = margin + (points[2 * i] - x0) * scale;
    const py = size - margin - (points[2 * i + 1] - y0) * scale;
    r.disc(px, py, 1, PALETTE[labels[i] % PALETTE.length]);
  }
  const present = [...new Set(Array.from(labels))].sort((a, b) => a - b);
  present.forEach((lab, i) => {
    for (let y = 0; y < 10; y++) for (let x = 0; x < 10; x++) r.set(8 + x, 8 + i * 14 + y, PALETTE[lab % PALETTE.length]);
  });
  return r.png();
}

// viz/chart.ts — pictures with text, drawn by well-kept libraries: a Vega-Lite spec (written beside each picture so
// that a user can restyle it and render it again) compiled by vega-lite, rendered to SVG by vega in Node (no browser,
// no canvas) and rasterised to PNG by resvg with the system's fonts (DejaVu Sans: Debian's fonts-dejavu-core). Line
// charts (loss and log-likelihood curves, one line per series), 2-D scatters coloured by class with a legend that
// names each class, and image grids with labelled rows and columns. Shapes: a scatter's points are (n, 2) row-major
// (x, y pairs), its labels (n); a grid's images (rows × columns, pixels) row-major.
import * as path from 'path';
import { writeFileAtomic } from '../io/atomic';
import { Matrix } from '../matrix';
import { imagePng } from './images';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const vega = require('vega') as { View: new (runtime: unknown, options: { renderer: 'none' }) => { toSVG(): Promise<string> }; parse(spec: unknown): unknown };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const vegaLite = require('vega-lite') as { compile(spec: unknown): { spec: unknown } };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Resvg } = require('@resvg/resvg-js') as { Resvg: new (svg: string, options: object) => { render(): { asPng(): Uint8Array } } };

export const FONT = 'DejaVu Sans';
const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';

export interface Picture {
  spec: Record<string, unknown>;
  svg: string;
  png: Uint8Array;
}

export async function render(spec: Record<string, unknown>): Promise<Picture> {
  const withFont = { ...spec, config: { font: FONT, ...(spec.config as object | undefined) } };
  const view = new vega.View(vega.parse(vegaLite.compile(withFont).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  const png = new Resvg(svg, { background: 'white', fitTo: { mode: 'zoom', value: 2 }, font: { loadSystemFonts: true, defaultFontFamily: FONT } }).render().asPng();
  return { spec: withFont, svg, png };
}

export interface Series {
  name: string;
  points: Array<[number, number]>;
}

/** One line per series (non-finite points left out), with axis titles and a legend naming the series. */
export function lineChart(series: Series[], o: { title: string; xTitle: string; yTitle: string }): Promise<Picture> {
  const values = series.flatMap((s) => s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).map(([x, y]) => ({ x, y, series: s.name })));
  return render({
    $schema: SCHEMA, title: o.title, width: 480, height: 300, data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: o.xTitle, axis: { tickMinStep: 1 } },
      y: { field: 'y', type: 'quantitative', title: o.yTitle, scale: { zero: false } },
      color: { field: 'series', type: 'nominal', title: null, sort: series.map((s) => s.name) },
    },
  });
}

/** Points (n × 2: x, y pairs) coloured by class, with axis titles and a legend naming each class (classNames[label], else the label). */
export function scatterChart(points: ArrayLike<number>, labels: ArrayLike<number>, o: { title: string; xTitle: string; yTitle: string; legendTitle: string; classNames?: string[] }): Promise<Picture> {
  const name = (l: number) => o.classNames?.[l] ?? String(l);
  const values = Array.from({ length: labels.length }, (_, i) => ({ x: points[2 * i], y: points[2 * i + 1], class: name(labels[i]) }));
  const classes = [...new Set(Array.from(labels))].sort((a, b) => a - b).map(name);
  return render({
    $schema: SCHEMA, title: o.title, width: 420, height: 420, data: { values },
    mark: { type: 'circle', size: 8, opacity: 0.6 },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: o.xTitle },
      y: { field: 'y', type: 'quantitative', title: o.yTitle },
      color: { field: 'class', type: 'nominal', title: o.legendTitle, sort: classes, scale: { scheme: classes.length <= 10 ? 'category10' : 'tableau20' } },
    },
  });
}

/**
 * An image grid whose rows mean something: images (rows × columns of them, row-major; each `height` pixels high) as
 * Vega-Lite image marks, with the row and column labels as axis labels (e.g. traversals: one row per latent
 * dimension, one column per value; conditional samples: one row per label).
 */
export function labelledGrid(images: Matrix, o: { height: number; rowLabels: string[]; columnLabels: string[]; rowTitle: string; columnTitle: string; title: string; normalize?: boolean }): Promise<Picture> {
  const columns = o.columnLabels.length;
  const w = Math.round(images.cols / o.height);
  const values = Array.from({ length: images.rows }, (_, i) => ({ row: o.rowLabels[Math.floor(i / columns)], column: o.columnLabels[i % columns],
    url: `data:image/png;base64,${imagePng(images, i, o.height, o.normalize).toString('base64')}` }));
  return render({
    $schema: SCHEMA, title: o.title, data: { values }, width: { step: 2 * w + 2 }, height: { step: 2 * o.height + 2 },
    mark: { type: 'image', width: 2 * w, height: 2 * o.height },
    encoding: {
      x: { field: 'column', type: 'ordinal', title: o.columnTitle, sort: o.columnLabels, axis: { labelAngle: 0 } },
      y: { field: 'row', type: 'ordinal', title: o.rowTitle, sort: o.rowLabels },
      url: { field: 'url', type: 'nominal' },
    },
  });
}

/** <dir>/<name>.png, .svg and .vl.json (the spec), each written atomically; returns the file names. */
export async function writePicture(dir: string, name: string, p: Picture): Promise<string[]> {
  const files = [`${name}.png`, `${name}.svg`, `${name}.vl.json`];
  await writeFileAtomic(path.join(dir, files[0]), p.png);
  await writeFileAtomic(path.join(dir, files[1]), p.svg);
  await writeFileAtomic(path.join(dir, files[2]), JSON.stringify(p.spec, null, 2) + '\n');
  return files;
}

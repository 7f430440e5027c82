// data/index.ts — loaders by file type and dataset helpers (split, binarise, slice).
import * as fs from 'fs';
import * as path from 'path';
import { LatentkitError } from '../errors';
import { Matrix, matrix, takeRows } from '../matrix';
import { native } from '../native';
import { RngPurpose, rngStream } from '../rng';
import { finiteNumber, integer } from '../validate';
import { readCsv } from './csv';
import { LabelledData, mnist, readIdxImages } from './mnist';
import { readNpy } from './npy';
import { readNpz } from './npz';

export { parseIdx, readIdx } from './idx';
export { parseNpy, readNpy, encodeNpy } from './npy';
export { parseNpz, readNpz } from './npz';
export { parseCsv, readCsv } from './csv';
export { mnist, readIdxImages } from './mnist';
export type { LabelledData } from './mnist';

export const datasets = { mnist };

/**
 * Loads `source`: 'mnist' (the training split), or a .npy, .npz, .csv or IDX file (optionally .gz). An .npz gives its
 * member 'x' (or its only member) as the data and its member 'y' or 'labels', when present, as integer labels.
 */
export async function loadData(source: string): Promise<LabelledData & { name: string }> {
  if (source === 'mnist') return { ...(await mnist({ split: 'train' })), name: 'mnist' };
  const ext = path.extname(source.replace(/\.gz$/, '')).toLowerCase();
  const name = path.basename(source);
  let x: Matrix;
  if (ext === '.npy') x = await readNpy(source);
  else if (ext === '.npz') return { ...npzData(await readNpz(source), source), name };
  else if (ext === '.csv' || ext === '.tsv' || ext === '.txt') x = await readCsv(source);
  else if (ext === '.idx' || /idx\d-ubyte$/.test(source.replace(/\.gz$/, '')) || ext === '') {
    const labelsFile = siblingIdxLabels(source);
    const d = await readIdxImages(source, labelsFile);
    if (!labelsFile && d.x.cols > 1)
      process.emitWarning(`${name}: no label file found beside it (${name.replace(/images-idx3/, 'labels-idx1')}); every row gets label 0`,
        { type: 'DataWarning', code: 'LATENTKIT_NO_LABELS' });
    return { ...d, name };
  } else throw new LatentkitError('LATENTKIT_BAD_DATA', `${source}: unknown data format ${ext} (use mnist, .npy, .npz, .csv or an IDX file)`);
  return { x, labels: new Uint8Array(x.rows), name };
}

/** The data and labels of an .npz archive's members (see loadData). */
function npzData(members: Record<string, Matrix>, source: string): LabelledData {
  const names = Object.keys(members);
  const dataName = 'x' in members ? 'x' : names.length === 1 ? names[0] : undefined;
  if (!dataName)
    throw new LatentkitError('LATENTKIT_BAD_DATA', `${source}: an .npz with several arrays needs one named 'x' (it holds ${names.join(', ')})`);
  const x = members[dataName];
  const labelName = ['y', 'labels'].find((n) => n in members);
  if (!labelName) return { x, labels: new Uint8Array(x.rows) };
  const l = members[labelName];
  if (l.cols !== 1 || l.rows !== x.rows)
    throw new LatentkitError('LATENTKIT_BAD_DATA', `${source}: its '${labelName}' holds ${l.rows} × ${l.cols} values; labels are one per row of '${dataName}' (${x.rows})`);
  for (const v of l.data)
    if (!Number.isInteger(v) || v < 0 || v > 255)
      throw new LatentkitError('LATENTKIT_BAD_DATA', `${source}: its '${labelName}' holds ${v}; labels are integers in [0, 255]`);
  return { x, labels: Uint8Array.from(l.data) };
}

/** The label file beside an IDX image file (MNIST's naming: …-images-idx3-ubyte[.gz] → …-labels-idx1-ubyte[.gz]). */
function siblingIdxLabels(imagesFile: string): string | undefined {
  const base = path.basename(imagesFile);
  if (!/images-idx3-ubyte/.test(base)) return undefined;
  const stem = path.join(path.dirname(imagesFile), base.replace(/images-idx3-ubyte(\.gz)?$/, 'labels-idx1-ubyte'));
  return [stem, `${stem}.gz`].find((f) => fs.existsSync(f));
}

/** A seeded random split into (1 − testFraction) training rows and testFraction test rows. */
export function trainTestSplit(x: Matrix, labels: Uint8Array, options: { testFraction?: number; seed?: number } = {}) {
  const testFraction = finiteNumber('testFraction', options.testFraction ?? 0.1, { min: 0, max: 1 });
  const seed = integer('seed', options.seed ?? 0, 0);
  const perm = new BigInt64Array(x.rows);
  native().kernels.rng_permutation(perm, x.rows, seed, rngStream(RngPurpose.DataSplit));
  const idx = Array.from(perm, Number);
  const nTest = Math.round(x.rows * testFraction);
  const testIdx = idx.slice(0, nTest);
  const trainIdx = idx.slice(nTest);
  return {
    train: { x: takeRows(x, trainIdx), labels: Uint8Array.from(trainIdx, (i) => labels[i]) },
    test: { x: takeRows(x, testIdx), labels: Uint8Array.from(testIdx, (i) => labels[i]) },
  };
}

/** The first `rows` rows (a view, not a copy). */
export function headRows(x: Matrix, rows: number): Matrix {
  const n = Math.min(rows, x.rows);
  return { data: x.data.subarray(0, n * x.cols), rows: n, cols: x.cols };
}

/** A fixed binarisation: x_ij ~ Bernoulli(x_ij) with a seeded stream. */
export function binarize(x: Matrix, seed = 0): Matrix {
  const out = matrix(x.rows, x.cols);
  native().kernels.rng_uniform_fill(out.data, out.data.length, seed, rngStream(RngPurpose.DataBinarize), 0);
  for (let i = 0; i < out.data.length; i++) out.data[i] = out.data[i] < x.data[i] ? 1 : 0;
  return out;
}

/** Scales every column to [0, 1] by its min and max (constant columns become 0); returns the scaling used. */
export function minMaxScale(x: Matrix): { x: Matrix; min: Float32Array; max: Float32Array } {
  const min = new Float32Array(x.cols).fill(Infinity);
  const max = new Float32Array(x.cols).fill(-Infinity);
  for (let r = 0; r < x.rows; r++)
    for (let c = 0; c < x.cols; c++) {
      const v = x.data[r * x.cols + c];
      if (v < min[c]) min[c] = v;
      if (v > max[c]) max[c] = v;
    }
  const out = matrix(x.rows, x.cols);
  for (let r = 0; r < x.rows; r++)
    for (let c = 0; c < x.cols; c++) {
      const span = max[c] - min[c];
      out.data[r * x.cols + c] = span > 0 ? (x.data[r * x.cols + c] - min[c]) / span : 0;
    }
  return { x: out, min, max };
}

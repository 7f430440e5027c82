// data/index.ts — loaders by file type and dataset helpers (split, binarise, slice).
import * as fs from 'fs';
import * as path from 'path';
import { LatentkitError } from '../errors';
import { Matrix, matrix, takeRows } from '../matrix';
import { native } from '../native';
import { RngPurpose, rngStream } from '../rng';
import { boolean, fail, finiteNumber, integer, isFloat32Array, knownKeys, plainObject } from '../validate';
import { readCsv } from './csv';
import { LabelledData, mnist, readIdxImages } from './mnist';
import { mapIdxImages, readIdx } from './idx';
import { mapNpy, npyHeaderOf, readNpy } from './npy';
import { BYTE_SCALE, DataMatrix, isCsrMatrix, isMappedMatrix, isRowSelection, selectRows } from './rows';
import { obsCodes, readH5ad } from './h5ad';
import { readParquet } from './parquet';
import { csrOfNpz, isSparseNpz, npzMatrices, npzMembers } from './npz';
import { readDataFile } from './file';

export { parseIdx, readIdx } from './idx';
export { parseNpy, readNpy, mapNpy, encodeNpy } from './npy';
export { readH5ad, obsCodes } from './h5ad';
export { readParquet } from './parquet';
export type { ParquetOptions, ParquetTable } from './parquet';
export type { AnnData, ObsColumn } from './h5ad';
export { selectRows, takeDataRows, denseMatrix } from './rows';
export type { ByteMatrix, CsrMatrix, MappedMatrix, RowSelection, DataInput, DataMatrix } from './rows';
export { parseNpz, readNpz } from './npz';
export { parseCsv, readCsv } from './csv';
export { mnist, readIdxImages } from './mnist';
export type { LabelledData } from './mnist';

export const datasets = { mnist };

export interface LoadDataOptions {
  /** map a .npy / IDX image file rather than read it (a MappedMatrix) */
  mmap?: boolean;
  /** .h5ad: the matrix layers[layer] instead of X */
  layer?: string;
  /** .h5ad: the obs column whose codes are the labels (labelNames: its categories); .parquet: the label column */
  labelKey?: string;
  /** .parquet: the numeric columns that make the matrix, in this order (default: every numeric one but labelKey) */
  columns?: string[];
}

/**
 * Loads `source`: 'mnist' (the training split), or a .npy, .npz, .csv, .h5ad or IDX file (optionally .gz). An .npz
 * gives its member 'x' (or its only member) as the data and its member 'y' or 'labels', when present, as integer
 * labels; an .npz written by scipy.sparse.save_npz gives its CSR matrix (a CsrMatrix, never densified). A 2-D uint8
 * .npy is read as images are, each value v as v / 255 (as IDX images are). An AnnData .h5ad gives X (or
 * layers[layer]) — a CSR one as a CsrMatrix — with the obs column labelKey as labels (data/h5ad.ts). A Parquet
 * table gives its numeric columns (or `columns`, by name) with the column labelKey as labels (data/parquet.ts).
 * With mmap: true the data are mapped, not read (a MappedMatrix: a float32 or uint8 .npy, an uncompressed uint8 IDX
 * image file, 'mnist') and training, evaluation and encoding read them in place.
 */
export async function loadData(source: string, options: LoadDataOptions = {}): Promise<LabelledData<DataMatrix> & { name: string; labelNames?: string[] }> {
  const o = plainObject('loadDataOptions', options);
  knownKeys('loadDataOptions', o, ['mmap', 'layer', 'labelKey', 'columns']);
  const mmap = boolean('mmap', o.mmap ?? false);
  for (const k of ['layer', 'labelKey'] as const)
    if (o[k] !== undefined && typeof o[k] !== 'string') fail(k, 'a key (a string)', o[k], 'type');
  if (o.columns !== undefined && !(Array.isArray(o.columns) && o.columns.every((c) => typeof c === 'string')))
    fail('columns', 'an array of column names (strings)', o.columns, 'type');
  const ext0 = path.extname(source).toLowerCase();
  const only = (key: 'layer' | 'labelKey' | 'columns', formats: string[], kind: string) => {
    if (o[key] !== undefined && !formats.includes(ext0))
      fail(key, `nothing unless the source is ${kind} file (${path.basename(source)} is not)`, o[key], 'type');
  };
  only('layer', ['.h5ad'], 'an .h5ad');
  only('labelKey', ['.h5ad', '.parquet'], 'an .h5ad or .parquet');
  only('columns', ['.parquet'], 'a .parquet');
  if (ext0 === '.parquet') {
    if (mmap) throw new LatentkitError('LATENTKIT_BAD_DATA', `${source}: a Parquet table is decoded into memory (mmap applies to .npy and IDX files)`);
    const t = await readParquet(source, { columns: o.columns as string[] | undefined, labelKey: o.labelKey as string | undefined });
    return { x: t.x, labels: t.labels, name: path.basename(source), ...(t.labelNames ? { labelNames: t.labelNames } : {}) };
  }
  if (ext0 === '.h5ad') {
    if (mmap) throw new LatentkitError('LATENTKIT_BAD_DATA', `${source}: an .h5ad is read into memory (mmap applies to .npy and IDX files)`);
    const a = await readH5ad(source, { layer: o.layer as string | undefined });
    const labelled = o.labelKey === undefined ? undefined : obsCodes(a, o.labelKey as string, 'labelKey', source);
    return { x: a.x, labels: labelled?.codes ?? new Uint8Array(a.x.rows), name: path.basename(source), ...(labelled ? { labelNames: labelled.names } : {}) };
  }
  if (source === 'mnist') return { ...(await mnist({ split: 'train', mmap })), name: 'mnist' };
  const ext = path.extname(source.replace(/\.gz$/, '')).toLowerCase();
  const name = path.basename(source);
  const isIdx = ext === '.idx' || /idx\d-ubyte$/.test(source.replace(/\.gz$/, '')) || ext === '';
  if (mmap && ext !== '.npy' && !isIdx)
    throw new LatentkitError('LATENTKIT_BAD_DATA', `${source}: mmap: true maps a .npy (float32 or uint8) or an uncompressed uint8 IDX image file, not ${ext} (read it without mmap)`);
  let x: DataMatrix;
  if (ext === '.npy') x = mmap ? await mapNpy(source) : await readNpyScaled(source);
  else if (ext === '.npz') {
    const members = npzMembers(await readDataFile(source), source);
    if (isSparseNpz(members)) x = csrOfNpz(members, source);
    else return { ...npzData(npzMatrices(members, source), source), name };
  }
  else if (ext === '.csv' || ext === '.tsv' || ext === '.txt') x = await readCsv(source);
  else if (isIdx) {
    const labelsFile = siblingIdxLabels(source);
    const d: LabelledData<DataMatrix> = mmap ? { x: mapIdxImages(source), labels: await idxLabels(labelsFile) } : await readIdxImages(source, labelsFile);
    if (mmap && !labelsFile) d.labels = new Uint8Array(d.x.rows);
    if (d.labels.length !== d.x.rows) throw new LatentkitError('LATENTKIT_BAD_DATA', `${labelsFile} has ${d.labels.length} labels for ${d.x.rows} images`);
    if (!labelsFile && d.x.cols > 1)
      process.emitWarning(`${name}: no label file found beside it (${name.replace(/images-idx3/, 'labels-idx1')}); every row gets label 0`,
        { type: 'DataWarning', code: 'LATENTKIT_NO_LABELS' });
    return { ...d, name };
  } else throw new LatentkitError('LATENTKIT_BAD_DATA', `${source}: unknown data format ${ext} (use mnist, .npy, .npz, .csv, .h5ad, .parquet or an IDX file)`);
  return { x, labels: new Uint8Array(x.rows), name };
}

/** A .npy as float32, a 2-D uint8 one scaled to v / 255 (loadData's rule; readNpy gives the values as stored). */
async function readNpyScaled(file: string): Promise<Matrix> {
  const m = await readNpy(file);
  if ((await npyHeaderOf(file)).scaled) for (let i = 0; i < m.data.length; i++) m.data[i] *= BYTE_SCALE;
  return m;
}

/** The integer labels of an IDX label file (none: an empty array). */
async function idxLabels(file: string | undefined): Promise<Uint8Array> {
  return file ? Uint8Array.from((await readIdx(file)).data) : new Uint8Array(0);
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

/**
 * A seeded random split into (1 − testFraction) training rows and testFraction test rows, each in the order they
 * have in x. An in-memory float32 matrix is split into copies; any other form (a mapped file, bytes, CSR) into
 * selections of its rows (selectRows), so that nothing is copied.
 */
export function trainTestSplit(x: Matrix, labels: Uint8Array, options?: { testFraction?: number; seed?: number }): { train: LabelledData; test: LabelledData };
export function trainTestSplit(x: DataMatrix, labels: Uint8Array, options?: { testFraction?: number; seed?: number }): { train: LabelledData<DataMatrix>; test: LabelledData<DataMatrix> };
export function trainTestSplit(x: DataMatrix, labels: Uint8Array, options: { testFraction?: number; seed?: number } = {}): { train: LabelledData<DataMatrix>; test: LabelledData<DataMatrix> } {
  const testFraction = finiteNumber('testFraction', options.testFraction ?? 0.1, { min: 0, max: 1 });
  const seed = integer('seed', options.seed ?? 0, 0);
  const perm = new BigInt64Array(x.rows);
  native().kernels.rng_permutation(perm, x.rows, seed, rngStream(RngPurpose.DataSplit));
  const idx = Array.from(perm, Number);
  const nTest = Math.round(x.rows * testFraction);
  const testIdx = idx.slice(0, nTest).sort((a, b) => a - b);
  const trainIdx = idx.slice(nTest).sort((a, b) => a - b);
  const inMemory = !isCsrMatrix(x) && !isRowSelection(x) && !isMappedMatrix(x) && isFloat32Array(x.data);
  const part = (rows: number[]) => ({ x: inMemory ? takeRows(x as Matrix, rows) : selectRows(x, rows), labels: Uint8Array.from(rows, (i) => labels[i]) });
  return { train: part(trainIdx), test: part(testIdx) };
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

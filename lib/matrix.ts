// matrix.ts — the data shape latentkit passes around: { data: Float32Array, rows, cols }, row-major. Inputs may also
// be number[][]; toMatrix converts and checks (finite values, consistent row lengths, expected width).
import { describeValue, fail, failReceived, isFloat32Array } from './validate';

export interface Matrix {
  data: Float32Array;
  rows: number;
  cols: number;
}

export type MatrixLike = Matrix | number[][];

export interface ToMatrixOptions {
  cols?: number; // the width the caller needs
  allowEmpty?: boolean;
  finite?: boolean; // reject NaN/Inf (default true)
}

export function toMatrix(name: string, x: unknown, opts: ToMatrixOptions = {}): Matrix {
  const { cols, allowEmpty = false, finite = true } = opts;
  const widthText = cols !== undefined ? ` with ${cols} columns` : '';
  let m: Matrix;
  if (Array.isArray(x)) {
    const rows = x.length;
    const c = rows > 0 && Array.isArray(x[0]) ? (x[0] as unknown[]).length : cols ?? 0;
    const data = new Float32Array(rows * c);
    for (let r = 0; r < rows; r++) {
      const row = x[r];
      if (!Array.isArray(row)) fail(`${name}[${r}]`, 'an array of numbers', row, 'type');
      if (row.length !== c) fail(`${name}[${r}]`, `a row of length ${c} (as row 0)`, row);
      for (let j = 0; j < c; j++) {
        const v = row[j];
        if (typeof v !== 'number') fail(`${name}[${r}][${j}]`, 'a number', v, 'type');
        data[r * c + j] = v;
      }
    }
    m = { data, rows, cols: c };
  } else if (x && typeof x === 'object' && 'data' in x && 'rows' in x && 'cols' in x) {
    const o = x as { data: unknown; rows: unknown; cols: unknown };
    if (!isFloat32Array(o.data)) fail(`${name}.data`, 'a Float32Array', o.data, 'type');
    if (typeof o.rows !== 'number' || !Number.isInteger(o.rows) || o.rows < 0)
      fail(`${name}.rows`, 'an integer >= 0', o.rows, typeof o.rows === 'number' ? 'range' : 'type');
    if (typeof o.cols !== 'number' || !Number.isInteger(o.cols) || o.cols < 1)
      fail(`${name}.cols`, 'an integer >= 1', o.cols, typeof o.cols === 'number' ? 'range' : 'type');
    if (o.data.length !== o.rows * o.cols)
      fail(`${name}.data`, `a Float32Array of length rows·cols = ${o.rows * o.cols}`, o.data);
    m = { data: o.data, rows: o.rows, cols: o.cols };
  } else {
    return fail(name, `a matrix ({ data: Float32Array, rows, cols } or number[][])${widthText}`, x, 'type');
  }
  if (!allowEmpty && m.rows === 0) fail(name, 'at least one row', x);
  if (cols !== undefined && m.rows > 0 && m.cols !== cols) failReceived(name, `rows of length ${cols}`, `rows of length ${m.cols}`);
  if (finite) {
    const d = m.data;
    for (let i = 0; i < d.length; i++) {
      const v = d[i];
      if (v - v !== 0) { // NaN or ±Infinity (no global lookup: hot loop over every value)
        const r = Math.floor(i / m.cols);
        failReceived(name, 'finite values', `${describeValue(d[i])} at row ${r}, column ${i - r * m.cols}`);
      }
    }
  }
  return m;
}

export function matrix(rows: number, cols: number, data?: Float32Array): Matrix {
  return { data: data ?? new Float32Array(rows * cols), rows, cols };
}

/** Row-major number[][] copy, for JSON output. */
export function toArrays(m: Matrix): number[][] {
  const out: number[][] = [];
  for (let r = 0; r < m.rows; r++) out.push(Array.from(m.data.subarray(r * m.cols, (r + 1) * m.cols)));
  return out;
}

/** The rows listed in `indices`, copied. */
export function takeRows(m: Matrix, indices: ArrayLike<number>): Matrix {
  const out = matrix(indices.length, m.cols);
  for (let i = 0; i < indices.length; i++)
    out.data.set(m.data.subarray(indices[i] * m.cols, (indices[i] + 1) * m.cols), i * m.cols);
  return out;
}

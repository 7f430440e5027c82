// data/rows.ts — the forms data may take beside a dense float32 matrix, and `Rows`: an input checked once, in the
// form the native layer reads (native/binding/data_binding.h). Forms (row-major, rows × cols):
//   Matrix      { data: Float32Array, rows, cols } (or number[][]) in memory
//   MappedMatrix { mapping, offset, dtype: 'float32' | 'uint8', rows, cols, file }: a memory-mapped file
//               (loadData(path, { mmap: true })), read in place and never copied; its values are checked natively as
//               they are read (finite, inside the likelihood's support); uint8 values read as bytes do
//   ByteMatrix  { data: Uint8Array, rows, cols }: each value read as v / 255 (images as bytes: 4× less memory)
//   CsrMatrix   { indptr (rows + 1), indices (nnz), data (nnz), rows, cols }: SciPy's compressed sparse rows; indptr
//               Int32Array | Uint32Array | BigInt64Array | number[], indices Int32Array | Uint32Array | number[],
//               data Float32Array | Float64Array | number[]; duplicate column indices in a row add up
//   RowSelection { of: <any form>, indices: ArrayLike<number> }: those rows of another input, without copying them
// The native layer densifies rows a batch at a time: no form is ever densified whole by training or evaluation; the
// few rows JS itself needs (pictures, a library size) are densified by the same native code (data.gather).
import { Matrix, MatrixLike, toMatrix, ToMatrixOptions } from '../matrix';
import { native, NativeMapping } from '../native';
import { describeValue, fail, failReceived, isFloat32Array } from '../validate';

/** What a byte v reads as: v · BYTE_SCALE in double, rounded to float32 (native/data/source.cpp's table too). */
export const BYTE_SCALE = 1 / 255;

export interface ByteMatrix {
  data: Uint8Array;
  rows: number;
  cols: number;
}

export interface CsrMatrix {
  indptr: Int32Array | Uint32Array | BigInt64Array | number[];
  indices: Int32Array | Uint32Array | number[];
  data: Float32Array | Float64Array | number[];
  rows: number;
  cols: number;
}

export interface MappedMatrix {
  mapping: NativeMapping;
  /** byte offset of row 0 in the file */
  offset: number;
  dtype: 'float32' | 'uint8';
  rows: number;
  cols: number;
  /** the file's path */
  file: string;
}

export interface RowSelection {
  of: DataMatrix;
  indices: ArrayLike<number>;
  rows: number; // indices.length
  cols: number; // of's
}

/** The forms with a size (what the loaders give). */
export type DataMatrix = Matrix | MappedMatrix | ByteMatrix | CsrMatrix | RowSelection;
/** Any form (a Rows is an input already checked). */
export type DataInput = MatrixLike | DataMatrix | Rows;

/** What crosses to the native layer (data_binding.h). */
export type NativeRows =
  | Float32Array
  | Uint8Array
  | { mapping: NativeMapping; offset: number; dtype: 'float32' | 'uint8' }
  | { indptr: BigInt64Array; indices: Int32Array; values: Float32Array }
  | { base: NativeRows; rows: BigInt64Array };

/** A checked input: its size and its native form (and the matrix itself when it is dense float32 in memory). */
export class Rows {
  constructor(
    readonly rows: number,
    readonly cols: number,
    readonly native: NativeRows,
    /** The dense matrix, when the input was an in-memory float32 one. */
    readonly dense?: Matrix,
  ) {}

  /** Checked in-memory float32 rows. */
  static ofMatrix(m: Matrix): Rows {
    return new Rows(m.rows, m.cols, m.data, m);
  }
}

const tag = (v: unknown) => Object.prototype.toString.call(v).slice(8, -1);
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

export function isByteMatrix(x: unknown): x is ByteMatrix {
  return isObject(x) && tag(x.data) === 'Uint8Array' && !('indptr' in x);
}
export function isCsrMatrix(x: unknown): x is CsrMatrix {
  return isObject(x) && 'indptr' in x;
}
export function isRowSelection(x: unknown): x is RowSelection {
  return isObject(x) && 'of' in x && 'indices' in x;
}
export function isMappedMatrix(x: unknown): x is MappedMatrix {
  return isObject(x) && 'mapping' in x && 'dtype' in x;
}

/** The rows of `indices` of x, selected without a copy. */
export function selectRows(x: DataMatrix, indices: ArrayLike<number>): RowSelection {
  return { of: x, indices, rows: indices.length, cols: x.cols };
}

/** Rows [start, end) of a checked input, without a copy (a selection of its native rows). */
export function rowRange(x: Rows, start: number, end: number): Rows {
  const n = x.native;
  if (typeof n === 'object' && 'base' in n) return new Rows(end - start, x.cols, { base: n.base, rows: n.rows.slice(start, end) });
  return new Rows(end - start, x.cols, { base: n, rows: BigInt64Array.from({ length: end - start }, (_, i) => BigInt(start + i)) });
}

/**
 * Rows `indices` of x as a new dense float32 matrix, without checking values against a likelihood (for the few rows
 * a picture or a report shows; a model checks what it reads).
 */
export function takeDataRows(x: DataMatrix, indices: ArrayLike<number>): Matrix {
  return denseRows(rowsOf('x', x, { unchecked: true }), indices);
}

/** The whole of x as a dense float32 matrix (x itself when it is one in memory). */
export function denseMatrix(x: DataMatrix): Matrix {
  const r = rowsOf('x', x, { unchecked: true });
  return r.dense ?? denseRows(r, null);
}

export interface ToRowsOptions extends Pick<ToMatrixOptions, 'cols' | 'allowEmpty'> {
  /** Checks the values of an in-memory float32 matrix (a mapped one is checked natively as it is read). */
  check?: (m: Matrix) => void;
  /** No value checks (takeDataRows): shapes only */
  unchecked?: boolean;
}

/** Checks x (any form) and gives its Rows; `name` names it in every error. */
export function toRows(name: string, x: unknown, options: ToRowsOptions = {}): Rows {
  const r = rowsOf(name, x, options);
  if (!options.allowEmpty && r.rows === 0) fail(name, 'at least one row', x);
  if (options.cols !== undefined && r.cols !== options.cols) failReceived(name, `rows of length ${options.cols}`, `rows of length ${r.cols}`);
  return r;
}

function rowsOf(name: string, x: unknown, options: ToRowsOptions): Rows {
  if (x instanceof Rows) return x;
  if (isRowSelection(x)) return selectionRows(name, x, options);
  if (isCsrMatrix(x)) return csrRows(name, x);
  if (isByteMatrix(x)) {
    const { rows, cols } = shape(name, x);
    if (x.data.length !== rows * cols) fail(`${name}.data`, `a Uint8Array of length rows·cols = ${rows * cols}`, x.data);
    return new Rows(rows, cols, x.data);
  }
  if (isMappedMatrix(x)) {
    const { rows, cols } = shape(name, x);
    return new Rows(rows, cols, { mapping: x.mapping, offset: x.offset, dtype: x.dtype });
  }
  const m = toMatrix(name, x, { cols: options.cols, allowEmpty: true, finite: !options.unchecked });
  if (!options.unchecked) options.check?.(m);
  return Rows.ofMatrix(m);
}

function shape(name: string, x: { rows: unknown; cols: unknown }): { rows: number; cols: number } {
  const { rows, cols } = x;
  if (typeof rows !== 'number' || !Number.isInteger(rows) || rows < 0) fail(`${name}.rows`, 'an integer >= 0', rows, typeof rows === 'number' ? 'range' : 'type');
  if (typeof cols !== 'number' || !Number.isInteger(cols) || cols < 1) fail(`${name}.cols`, 'an integer >= 1', cols, typeof cols === 'number' ? 'range' : 'type');
  return { rows, cols };
}

/** An integer array field as the typed array native needs, each value checked to fit. */
function integers<T extends BigInt64Array | Int32Array>(name: string, v: unknown, make: (n: number) => T, max: number): T {
  const t = tag(v);
  if (!(Array.isArray(v) || t === 'Int32Array' || t === 'Uint32Array' || t === 'BigInt64Array'))
    fail(name, 'an Int32Array, Uint32Array, BigInt64Array or number[]', v, 'type');
  const src = v as ArrayLike<number | bigint>;
  const out = make(src.length);
  const big = tag(out) === 'BigInt64Array';
  for (let i = 0; i < src.length; i++) {
    const n = Number(src[i]);
    if (!Number.isInteger(n) || n < 0 || n > max) failReceived(name, `integers in [0, ${max}]`, `${describeValue(src[i])} at position ${i}`);
    (out as unknown as Array<number | bigint>)[i] = big ? BigInt(n) : n;
  }
  return out;
}

function csrRows(name: string, x: CsrMatrix): Rows {
  const { rows, cols } = shape(name, x);
  const indptr = integers(`${name}.indptr`, x.indptr, (n) => new BigInt64Array(n), Number.MAX_SAFE_INTEGER);
  const indices = integers(`${name}.indices`, x.indices, (n) => new Int32Array(n), 2 ** 31 - 1);
  const t = tag(x.data);
  if (!(Array.isArray(x.data) || t === 'Float32Array' || t === 'Float64Array')) fail(`${name}.data`, 'a Float32Array, Float64Array or number[]', x.data, 'type');
  const values = isFloat32Array(x.data) ? x.data : Float32Array.from(x.data as ArrayLike<number>);
  if (indptr.length !== rows + 1) fail(`${name}.indptr`, `rows + 1 = ${rows + 1} entries`, x.indptr);
  if (values.length !== indices.length) fail(`${name}.data`, `one value per index (${indices.length})`, x.data);
  // Structure and values are checked natively, once per call (data_binding.h).
  return new Rows(rows, cols, { indptr, indices, values });
}

function selectionRows(name: string, x: RowSelection, options: ToRowsOptions): Rows {
  const base = rowsOf(name, x.of, options);
  const idx = integers(`${name}.indices`, x.indices, (n) => new BigInt64Array(n), Math.max(0, base.rows - 1));
  if (base.rows === 0 && idx.length > 0) fail(`${name}.indices`, 'no indices (the input has no rows)', x.indices);
  return new Rows(idx.length, base.cols, { base: base.native, rows: idx });
}

/** Rows `indices` (null: every row) of checked rows, densified natively into a new float32 matrix. */
export function denseRows(x: Rows, indices: ArrayLike<number> | null): Matrix {
  const n = indices ? indices.length : x.rows;
  const out: Matrix = { data: new Float32Array(n * x.cols), rows: n, cols: x.cols };
  const idx = new BigInt64Array(n);
  for (let i = 0; i < n; i++) idx[i] = BigInt(indices ? indices[i] : i);
  if (idx.length > 0) native().data.gather(x.native, x.rows, x.cols, idx, out.data);
  return out;
}

/** Rows `indices` of x, copied into a dense in-memory Rows. */
export function pickRows(x: Rows, indices: ArrayLike<number>): Rows {
  return Rows.ofMatrix(denseRows(x, indices));
}

/** Each row's sum (a count row's library size), densified a few thousand rows at a time. */
export function rowSums(x: Rows): Float64Array {
  const sums = new Float64Array(x.rows);
  const step = Math.max(1, Math.floor((1 << 22) / x.cols));
  for (let r0 = 0; r0 < x.rows; r0 += step) {
    const n = Math.min(step, x.rows - r0);
    const m = x.dense ? { data: x.dense.data.subarray(r0 * x.cols, (r0 + n) * x.cols) } : denseRows(x, Array.from({ length: n }, (_, i) => r0 + i));
    for (let r = 0; r < n; r++) {
      let s = 0;
      for (let c = 0; c < x.cols; c++) s += m.data[r * x.cols + c];
      sums[r0 + r] = s;
    }
  }
  return sums;
}

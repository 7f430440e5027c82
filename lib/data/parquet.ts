// data/parquet.ts — Apache Parquet tables read through hyparquet (pure JavaScript, no dependencies, by the
// Hyperparam team; an ES module that Node >= 20.19 require()s natively) with hyparquet-compressors' codecs (snappy,
// gzip, zstd, brotli, lz4). Numeric columns (float, double, int32, int64, boolean as 0 / 1, decimal), chosen by name
// or else every numeric one but the label column, become a float32 matrix (rows × chosen columns, row-major, in the
// order chosen); a label column — strings (categories in sorted order), booleans or integers in [0, 255] — gives the
// labels. The chosen columns are decoded a row group at a time into that one matrix. Every missing column,
// non-numeric choice, null value and unreadable file is an error naming the file and the column.
import type { AsyncBuffer, FileMetaData, SchemaTree } from 'hyparquet';
import { LatentkitError } from '../errors';
import { Matrix } from '../matrix';
import { readAt, withDataFile } from './file';
import { LabelColumn, labelCodes } from './labels';
import type { LabelledData } from './mnist';

type Codecs = Record<string, (input: Uint8Array, outputLength: number) => Uint8Array>;
// ES modules, loaded by require (Node >= 20.19; jest transpiles them, jest.config.js) on the first read: the codecs
// compile WebAssembly, which a program that reads no Parquet should not pay for.
let reader: { hyparquet: typeof import('hyparquet'); compressors: Codecs } | undefined;
function parquetReader(): { hyparquet: typeof import('hyparquet'); compressors: Codecs } {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  reader ??= { hyparquet: require('hyparquet'), compressors: (require('hyparquet-compressors') as { compressors: Codecs }).compressors };
  return reader;
}

export interface ParquetOptions {
  /** the numeric columns that make the matrix, in this order (default: every numeric column but labelKey) */
  columns?: string[];
  /** the column whose values are the labels */
  labelKey?: string;
}

export interface ParquetTable extends LabelledData {
  /** the names of the matrix's columns */
  columns: string[];
  /** the label column's categories (strings, booleans) or '0' … the largest label (integers) */
  labelNames?: string[];
}

/** What a top-level column holds, from its schema: a number per row, or something else (named for errors). */
function columnKind(t: SchemaTree): { numeric: boolean; what: string } {
  const e = t.element;
  if (t.children.length > 0) return { numeric: false, what: 'nested values (a list, map or struct)' };
  const logical = e.logical_type?.type;
  const converted = e.converted_type;
  if (logical === 'STRING' || converted === 'UTF8' || logical === 'ENUM' || converted === 'ENUM') return { numeric: false, what: 'strings' };
  if (logical === 'DATE' || logical === 'TIME' || logical === 'TIMESTAMP' || /^(DATE|TIME|TIMESTAMP)/.test(converted ?? '') || e.type === 'INT96')
    return { numeric: false, what: 'dates or times' };
  if (logical === 'DECIMAL' || converted === 'DECIMAL' || logical === 'FLOAT16') return { numeric: true, what: 'numbers' };
  if (['FLOAT', 'DOUBLE', 'INT32', 'INT64', 'BOOLEAN'].includes(e.type ?? '') && !logical?.match(/JSON|BSON|UUID|VARIANT|GEO/))
    return { numeric: true, what: 'numbers' };
  return { numeric: false, what: `${logical ?? converted ?? e.type ?? 'unknown'} values` };
}

/** An open file as hyparquet's AsyncBuffer (byte ranges read on demand). */
function fileBuffer(fh: import('fs').promises.FileHandle, size: number): AsyncBuffer {
  return {
    byteLength: size,
    async slice(start: number, end = size) {
      const buf = await readAt(fh, start, Math.max(0, end - start));
      return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length) as ArrayBuffer;
    },
  };
}

/** Reads `file` (see the header): the matrix of the chosen numeric columns, their names, and the labels. */
export async function readParquet(file: string, options: ParquetOptions = {}): Promise<ParquetTable> {
  const bad = (why: string): never => {
    throw new LatentkitError('LATENTKIT_BAD_DATA', `${file}: ${why}`);
  };
  const { hyparquet, compressors } = parquetReader();
  return withDataFile(file, async (fh, size) => {
    const buffer = fileBuffer(fh, size);
    let metadata: FileMetaData;
    try {
      metadata = await hyparquet.parquetMetadataAsync(buffer);
    } catch (e) {
      return bad(`it is not a readable Parquet file (${(e as Error).message})`);
    }
    const top = hyparquet.parquetSchema(metadata).children;
    const byName = new Map(top.map((t) => [t.element.name, t]));
    const numeric = top.filter((t) => columnKind(t).numeric).map((t) => t.element.name);
    const column = (name: string, use: string): SchemaTree =>
      byName.get(name) ?? bad(`${use} ${JSON.stringify(name)}: no such column (it has ${top.map((t) => t.element.name).join(', ') || 'none'})`);
    const { labelKey } = options;
    if (labelKey !== undefined) column(labelKey, 'labelKey');
    const chosen = options.columns ?? numeric.filter((n) => n !== labelKey);
    if (chosen.length === 0) bad(options.columns ? 'columns: none given' : `it has no numeric column${labelKey !== undefined ? ' besides the label column' : ''} (its columns: ${top.map((t) => t.element.name).join(', ')})`);
    for (const name of chosen) {
      const kind = columnKind(column(name, 'columns'));
      if (!kind.numeric) bad(`columns ${JSON.stringify(name)}: it holds ${kind.what}, not numbers (numeric columns: ${numeric.join(', ') || 'none'})`);
    }
    if (new Set(chosen).size !== chosen.length) bad(`columns: ${chosen.join(', ')} names a column twice`);
    const rows = Number(metadata.num_rows);
    const cols = chosen.length;
    const x: Matrix = { data: new Float32Array(rows * cols), rows, cols };
    const position = new Map(chosen.map((n, j) => [n, j]));
    const labelValues: unknown[] = labelKey === undefined ? [] : new Array(rows);
    let firstNull: string | undefined; // an error thrown inside onChunk would escape parquetRead's promise
    try {
      await hyparquet.parquetRead({
        file: buffer, metadata, compressors, columns: labelKey === undefined || position.has(labelKey) ? chosen : [...chosen, labelKey],
        onChunk: ({ columnName, columnData, rowStart, rowEnd }) => {
          if (columnName === labelKey) for (let r = rowStart; r < rowEnd; r++) labelValues[r] = columnData[r - rowStart];
          const j = position.get(columnName);
          if (j === undefined) return;
          for (let r = rowStart; r < rowEnd; r++) {
            const v = columnData[r - rowStart];
            if ((v === null || v === undefined) && firstNull === undefined) firstNull = `column ${JSON.stringify(columnName)} has no value (null) at row ${r}`;
            x.data[r * cols + j] = Number(v);
          }
        },
      });
    } catch (e) {
      if (e instanceof LatentkitError) throw e;
      return bad(`its data could not be read (${(e as Error).message})`);
    }
    if (firstNull !== undefined) bad(firstNull);
    const table: ParquetTable = { x, labels: new Uint8Array(rows), columns: chosen };
    if (labelKey !== undefined) {
      const l = labelCodes(labelColumn(labelValues), `${file}: labelKey ${JSON.stringify(labelKey)}`);
      table.labels = l.codes;
      table.labelNames = l.names;
    }
    return table;
  });
}

/** A label column's values as categories (strings, booleans: sorted) or numbers; null is a missing category. */
function labelColumn(values: unknown[]): LabelColumn {
  if (values.every((v) => typeof v === 'number' || typeof v === 'bigint')) return { kind: 'numeric', values: Float64Array.from(values, Number) };
  const names = [...new Set(values.filter((v) => v !== null && v !== undefined).map(String))].sort();
  const code = new Map(names.map((n, i) => [n, i]));
  return { kind: 'categorical', codes: Int32Array.from(values, (v) => (v === null || v === undefined ? -1 : code.get(String(v))!)), categories: names };
}

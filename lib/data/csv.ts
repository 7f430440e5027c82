// data/csv.ts — numeric CSV through csv-parse (quoting, \n / \r\n / lone-\r line ends): comma-, semicolon- or
// tab-separated (whichever the first line uses), an optional header row (kept as column names), every other row the
// same number of fields, each a plain decimal number within float32's range. Returns a float32 matrix (rows, cols).
import { parse } from 'csv-parse/sync';
import { LatentkitError } from '../errors';
import { readDataFile } from './file';
import { Matrix } from '../matrix';

// A decimal number: no hex (0x10), binary (0b11), octal, Infinity or NaN spellings, which Number() would accept.
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const FLOAT32_MAX = 3.4028234663852886e38;

export function parseCsv(text: string, name = 'the CSV data'): Matrix & { header?: string[] } {
  const bad = (why: string): never => {
    throw new LatentkitError('LATENTKIT_BAD_DATA', `${name}: ${why}`);
  };
  const firstLine = /^[^\r\n]*/.exec(text)![0];
  const delimiter = firstLine.includes(',') ? ',' : firstLine.includes(';') ? ';' : firstLine.includes('\t') ? '\t' : ',';
  let parsed: Array<{ record: string[]; info: { lines: number } }>;
  try {
    parsed = parse(text, { delimiter, trim: true, skip_empty_lines: true, relax_column_count: true, info: true }) as unknown as typeof parsed;
  } catch (e) {
    return bad((e as Error).message);
  }
  const records = parsed.map((p) => p.record);
  if (records.length === 0) bad('it is empty');
  // A header is a first row of names only: a row with a number in it is data (an empty or NaN field there is an error).
  const header = records[0].every((f) => f !== '' && !DECIMAL.test(f)) ? records[0] : undefined;
  const first = header ? 1 : 0;
  const cols = records[0].length;
  const rows = records.length - first;
  const data = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const fields = records[first + r];
    const line = parsed[first + r].info.lines;
    if (fields.length !== cols) bad(`line ${line} has ${fields.length} fields, expected ${cols}`);
    for (let c = 0; c < cols; c++) {
      const f = fields[c];
      if (!DECIMAL.test(f)) bad(`line ${line}, field ${c + 1} is not a number (a plain decimal): ${JSON.stringify(f)}`);
      const v = Number(f);
      if (!(Math.abs(v) <= FLOAT32_MAX)) bad(`line ${line}, field ${c + 1} (${f}) is outside float32's range`);
      data[r * cols + c] = v;
    }
  }
  return { data, rows, cols, header };
}

export async function readCsv(file: string): Promise<Matrix & { header?: string[] }> {
  return parseCsv((await readDataFile(file)).toString('utf8'), file);
}

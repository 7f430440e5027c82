// data/csv.ts — numeric CSV: comma- (or semicolon/tab-) separated, an optional header row (kept as column names),
// every other row the same number of numeric fields. Returns a float32 matrix.
import * as fs from 'fs';
import { LatentkitError } from '../errors';
import { Matrix } from '../matrix';

export function parseCsv(text: string, name = 'the CSV data'): Matrix & { header?: string[] } {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length === 0) throw new LatentkitError('LATENTKIT_BAD_DATA', `${name} is empty`);
  const sep = lines[0].includes(',') ? ',' : lines[0].includes(';') ? ';' : lines[0].includes('\t') ? '\t' : ',';
  const split = (l: string) => l.split(sep).map((f) => f.trim());
  let first = 0;
  let header: string[] | undefined;
  const head = split(lines[0]);
  if (head.some((f) => f === '' || Number.isNaN(Number(f)))) {
    header = head;
    first = 1;
  }
  const cols = header ? header.length : head.length;
  const rows = lines.length - first;
  const data = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const fields = split(lines[first + r]);
    if (fields.length !== cols)
      throw new LatentkitError('LATENTKIT_BAD_DATA', `${name}: line ${first + r + 1} has ${fields.length} fields, expected ${cols}`);
    for (let c = 0; c < cols; c++) {
      const v = Number(fields[c]);
      if (fields[c] === '' || Number.isNaN(v))
        throw new LatentkitError('LATENTKIT_BAD_DATA', `${name}: line ${first + r + 1}, field ${c + 1} is not a number: ${JSON.stringify(fields[c])}`);
      data[r * cols + c] = v;
    }
  }
  return { data, rows, cols, header };
}

export async function readCsv(file: string): Promise<Matrix & { header?: string[] }> {
  return parseCsv(await fs.promises.readFile(file, 'utf8'), file);
}

// data/labels.ts — a table column used as labels (an AnnData obs column, a Parquet column): categorical (codes into
// categories) or numeric, turned into the uint8 codes and names every loader gives (LabelledData.labels, labelNames).
import { LatentkitError } from '../errors';

/** A column of labels: categorical (codes −1 for missing) or numeric. */
export type LabelColumn = { kind: 'categorical'; codes: Int32Array; categories: string[] } | { kind: 'numeric'; values: Float64Array };

/**
 * The codes (uint8) and names of a label column: a categorical one's codes and categories (at most 255, none
 * missing); a numeric one's integers in [0, 255], named '0' … String(max). `what` names the column in errors
 * (`${file}: labelKey "batch"`); `rowName(i)` names a row.
 */
export function labelCodes(col: LabelColumn, what: string, rowName: (i: number) => string = (i) => `row ${i}`): { codes: Uint8Array; names: string[] } {
  const bad = (why: string): never => {
    throw new LatentkitError('LATENTKIT_BAD_DATA', `${what}: ${why}`);
  };
  if (col.kind === 'categorical') {
    if (col.categories.length > 255) bad(`it has ${col.categories.length} categories; at most 255 are supported`);
    const missing = col.codes.findIndex((c) => c < 0);
    if (missing >= 0) bad(`${rowName(missing)} has no category`);
    return { codes: Uint8Array.from(col.codes), names: col.categories };
  }
  const wrong = col.values.findIndex((v) => !Number.isInteger(v) || v < 0 || v > 255);
  if (wrong >= 0) bad(`it is numeric and ${rowName(wrong)} holds ${col.values[wrong]}; codes are integers in [0, 255] (or use a categorical column)`);
  let max = 0;
  for (const v of col.values) max = Math.max(max, v);
  return { codes: Uint8Array.from(col.values), names: Array.from({ length: max + 1 }, (_, i) => String(i)) };
}

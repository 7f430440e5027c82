// cli/args.ts — what every latentkit command shares: option parsing helpers that name the bad option, and the
// train/test split of a data source (MNIST's own split; a seeded 10 % of a file).
import { loadData, mnist, trainTestSplit, LabelledData } from '../data';
import { LatentkitError } from '../errors';

export type Flags = Record<string, string | boolean | undefined>;

export function usage(message: string): never {
  throw new LatentkitError('LATENTKIT_INVALID_ARGUMENT', `${message}\nRun latentkit --help for the options.`);
}

export function num(flags: Flags, name: string, fallback: number, integer = true): number {
  const v = flags[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)))
    usage(`--${name} expects ${integer ? 'an integer' : 'a number'} but received ${JSON.stringify(v)}`);
  return n;
}

/**
 * The train/test split of `source`; `labelsFile` (a one-column .npy / .csv of integer labels 0…255, one per row)
 * gives a file's rows their labels (MNIST brings its own).
 */
export async function loadSplit(source: string, seed: number, labelsFile?: string): Promise<{ train: LabelledData; test: LabelledData; name: string }> {
  if (source === 'mnist') {
    if (labelsFile !== undefined) usage('--labels applies to file data; mnist brings its own labels');
    return { train: await mnist({ split: 'train' }), test: await mnist({ split: 'test' }), name: 'mnist' };
  }
  const d = await loadData(source);
  if (labelsFile !== undefined) {
    const l = (await loadData(labelsFile)).x;
    if (l.cols !== 1 || l.rows !== d.x.rows)
      usage(`--labels expects one column of ${d.x.rows} labels (one per row of ${d.name}) but ${labelsFile} is ${l.rows} × ${l.cols}`);
    for (const v of l.data) if (!Number.isInteger(v) || v < 0 || v > 255) usage(`--labels expects integer labels in [0, 255] but ${labelsFile} holds ${v}`);
    d.labels = Uint8Array.from(l.data);
  }
  return { ...trainTestSplit(d.x, d.labels, { testFraction: 0.1, seed }), name: d.name };
}


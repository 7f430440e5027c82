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

export async function loadSplit(source: string, seed: number): Promise<{ train: LabelledData; test: LabelledData; name: string }> {
  if (source === 'mnist') return { train: await mnist({ split: 'train' }), test: await mnist({ split: 'test' }), name: 'mnist' };
  const d = await loadData(source);
  return { ...trainTestSplit(d.x, d.labels, { testFraction: 0.1, seed }), name: d.name };
}


// cli/args.ts — what every latentkit command shares: option parsing helpers that name the bad option, and the
// train/test split of a data source (MNIST's own split, a test file, or a seeded 10 % of a file) and the rows eval / score
// evaluate.
import * as fs from 'fs';
import * as path from 'path';
import { DataMatrix, denseMatrix, loadData, mnist, trainTestSplit, LabelledData } from '../data';
import { parseArgs, ParseArgsConfig } from 'util';
import { LatentkitError } from '../errors';
import { resolvePrecision } from '../precision';

export type Flags = Record<string, string | boolean | undefined>;

/** A usage error: the command line is wrong (exit status 2, the convention). */
export function usage(message: string, command?: string): never {
  throw new LatentkitError('LATENTKIT_USAGE', `${message}\nRun latentkit ${command ? `${command} ` : ''}--help for the options.`);
}

/** Thrown by parseCommand for --help / -h: main prints `text` and exits 0. */
export class HelpRequested extends Error {
  constructor(readonly text: string) {
    super('help');
  }
}


export type CommandOptions = NonNullable<ParseArgsConfig['options']>;
export type ParsedCommand<T extends CommandOptions> = ReturnType<typeof parseArgs<{ args: string[]; strict: true; allowPositionals: boolean; options: T }>>;

/** Levenshtein distance, for suggesting the option a typo meant. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length];
}

/**
 * parseArgs (strict) for `latentkit <command>`, with --help / -h (the command's section of `help`), and unknown or
 * malformed options reported as usage errors that suggest the nearest option name.
 */
export function parseCommand<const T extends CommandOptions>(command: string, argv: string[], options: T, help: string, allowPositionals = false): ParsedCommand<T> {
  if (argv.includes('--help') || argv.includes('-h')) throw new HelpRequested(help);
  try {
    return parseArgs({ args: argv, strict: true as const, allowPositionals, options });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (!err.code?.startsWith('ERR_PARSE_ARGS')) throw e;
    const unknown = /Unknown option '(-{1,2}[^']+)'/.exec(err.message)?.[1];
    if (unknown) {
      const name = unknown.replace(/^-+/, '');
      const nearest = Object.keys(options).map((o) => [o, distance(name, o)] as const).sort((a, b) => a[1] - b[1])[0];
      const hint = nearest && nearest[1] <= Math.max(2, Math.floor(name.length / 3)) ? `; did you mean --${nearest[0]}?` : '';
      return usage(`unknown option ${unknown} for latentkit ${command}${hint}`, command);
    }
    return usage(`${err.message.split('.')[0]} (latentkit ${command})`, command);
  }
}

/** --precision fp32|bf16|auto, resolved for this CPU (precision.ts); a bad or unavailable one is a usage error. */
export function precisionFlag(flags: Flags, command: string): 'fp32' | 'bf16' {
  try {
    return resolvePrecision(flags.precision);
  } catch (e) {
    return usage(`--precision: ${(e as Error).message.replace(/ for precision but received (.*)$/, ', not $1')}`, command);
  }
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
 * Where a run's data came from, as train / fit record it in metrics.json (`config.source`, paths made absolute) so
 * that eval / score can evaluate on the same test rows without being told again.
 */
export interface DataSource {
  data: string;
  labels?: string;
  testData?: string;
  testLabels?: string;
  seed: number;
  /** --mmap: the data files are memory-mapped, not read (loadData's mmap) */
  mmap?: boolean;
  /** .h5ad: --layer, and the obs column of the labels (--label-key, or --condition-key's; .parquet: the label column) */
  layer?: string;
  labelKey?: string;
  /** .parquet: --columns, the numeric columns that make the matrix */
  columns?: string[];
}

export function dataSource(flags: Flags, seed: number): DataSource {
  const file = (name: string) => (flags[name] === undefined ? undefined : String(flags[name]));
  const abs = (f: string | undefined) => (f === undefined || f === 'mnist' ? f : path.resolve(f));
  const src: DataSource = { data: abs(file('data') ?? 'mnist')!, seed, ...(flags.mmap ? { mmap: true } : {}) };
  if (flags['label-key'] !== undefined && flags['condition-key'] !== undefined)
    usage('--label-key and --condition-key both choose the labels (a conditional model is pictured by its condition); give one');
  const labelKey = file('label-key') ?? file('condition-key');
  if (file('layer') !== undefined) src.layer = file('layer');
  if (labelKey !== undefined) src.labelKey = labelKey;
  if (file('columns') !== undefined) src.columns = file('columns')!.split(',').map((c) => c.trim()).filter((c) => c !== '');
  const isH5ad = /\.h5ad$/i.test(src.data), isParquet = /\.parquet$/i.test(src.data);
  if (src.layer !== undefined && !isH5ad) usage('--layer applies to an .h5ad --data');
  if (labelKey !== undefined && !isH5ad && !isParquet)
    usage(`--${flags['label-key'] !== undefined ? 'label-key' : 'condition-key'} applies to an .h5ad or .parquet --data`);
  if (src.columns !== undefined && !isParquet) usage('--columns applies to a .parquet --data');
  for (const [key, flag] of [['labels', 'labels'], ['testData', 'test-data'], ['testLabels', 'test-labels']] as const) {
    const v = abs(file(flag));
    if (v !== undefined) src[key] = v;
  }
  if (src.testLabels !== undefined && src.testData === undefined) usage('--test-labels needs --test-data');
  return src;
}

/** Every row of `source` ('mnist': its `split`), with the labels of `labelsFile` when given. */
export async function loadRows(source: string, labelsFile?: string, split: 'train' | 'test' = 'train', mmap = false,
  table: { layer?: string; labelKey?: string; columns?: string[] } = {}): Promise<LabelledData<DataMatrix> & { name: string }> {
  if (source === 'mnist') {
    if (labelsFile !== undefined) usage('--labels applies to file data; mnist brings its own labels');
    return { ...(await mnist({ split, mmap })), name: 'mnist' };
  }
  const d = await loadData(source, { mmap, layer: table.layer, labelKey: table.labelKey, columns: table.columns });
  if (labelsFile !== undefined) {
    const l = denseMatrix((await loadData(labelsFile)).x);
    if (l.cols !== 1 || l.rows !== d.x.rows)
      usage(`--labels expects one column of ${d.x.rows} labels (one per row of ${d.name}) but ${labelsFile} is ${l.rows} × ${l.cols}`);
    for (const v of l.data) if (!Number.isInteger(v) || v < 0 || v > 255) usage(`--labels expects integer labels in [0, 255] but ${labelsFile} holds ${v}`);
    d.labels = Uint8Array.from(l.data);
  }
  return d;
}

/**
 * The train/test split of a source: MNIST's own split; a separate test file (--test-data: every row of each); or a
 * seeded 10 % of one file held out. Labels (a one-column .npy / .csv of integers 0…255, one per row) give a
 * file's rows their labels; IDX images bring the label file beside them.
 */
export async function loadSplit(src: DataSource): Promise<{ train: LabelledData<DataMatrix>; test: LabelledData<DataMatrix>; name: string }> {
  const mmap = src.mmap ?? false;
  if (src.testData !== undefined) {
    const train = await loadRows(src.data, src.labels, 'train', mmap, src);
    const test = await loadRows(src.testData, src.testLabels, 'test', mmap, src);
    if (test.x.cols !== train.x.cols) usage(`--test-data has ${test.x.cols} columns but --data has ${train.x.cols}`);
    return { train, test, name: train.name };
  }
  if (src.data === 'mnist') {
    if (src.labels !== undefined) usage('--labels applies to file data; mnist brings its own labels');
    return { train: await mnist({ split: 'train', mmap }), test: await mnist({ split: 'test', mmap }), name: 'mnist' };
  }
  const d = await loadRows(src.data, src.labels, 'train', mmap, src);
  const split = trainTestSplit(d.x, d.labels, { testFraction: 0.1, seed: src.seed });
  return { train: { ...split.train, labelNames: d.labelNames }, test: { ...split.test, labelNames: d.labelNames }, name: d.name };
}

/**
 * The rows eval / score evaluate: every row of --data (MNIST: its --split), or else the test rows of the run that
 * wrote the model (metrics.json beside it records its source). Without either, a usage error: nothing is guessed.
 */
export async function evaluationRows(modelFile: string, flags: Flags, split: 'train' | 'test', command: string): Promise<LabelledData<DataMatrix> & { name: string }> {
  if (flags.data !== undefined) return loadRows(String(flags.data), flags.labels === undefined ? undefined : String(flags.labels), split, Boolean(flags.mmap), dataSource(flags, 0));
  const metricsFile = path.join(path.dirname(modelFile), 'metrics.json');
  let source: DataSource | undefined;
  try {
    source = JSON.parse(fs.readFileSync(metricsFile, 'utf8')).config?.source;
  } catch {
    source = undefined;
  }
  if (!source || typeof source.data !== 'string')
    return usage(`${command} needs --data <src>: ${modelFile} has no metrics.json beside it recording the data it was trained on`, command);
  const d = await loadSplit(source);
  return { ...d[split], name: d.name };
}

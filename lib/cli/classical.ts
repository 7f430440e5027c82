// cli/classical.ts — `latentkit fit gmm|pca|ppca|fa` (fit on the train split, write model.safetensors, metrics.json
// and a picture) and `latentkit score` (mean log-likelihood of a saved classical model on a data split).
import * as fs from 'fs';
import * as path from 'path';
import { DataMatrix, takeDataRows } from '../data/rows';
import { processGroup, shardOf } from '../distributed';
import { project2d } from '../eval/projection';
import { writeFileAtomic } from '../io/atomic';
import { Matrix } from '../matrix';
import { checkpointKind } from '../models/classical';
import { FactorAnalysis, PCA, PPCA } from '../models/linear';
import { COVARIANCE_TYPES, CovarianceType, GaussianMixture, GMM_INITS, GmmInit } from '../models/mixture';
import { VERSION } from '../version';
import { imageGridPng, squareSide } from '../viz/images';
import { lineChart, scatterChart, writePicture } from '../viz/chart';
import { dataSource, evaluationRows, Flags, loadSplit, num, parseCommand, usage } from './args';
import { commandHelp } from './help';

export const MODELS = ['gmm', 'pca', 'ppca', 'fa'] as const;
type ModelName = (typeof MODELS)[number];
type Classical = GaussianMixture | PCA | PPCA | FactorAnalysis;

function choice<T extends string>(flags: Flags, name: string, choices: readonly T[], fallback: T): T {
  const v = flags[name] ?? fallback;
  if (!choices.includes(v as T)) usage(`--${name} expects one of ${choices.join(', ')} but received ${JSON.stringify(v)}`);
  return v as T;
}

function build(model: ModelName, flags: Flags): Classical {
  const nComponents = num(flags, 'components', 10);
  const seed = num(flags, 'seed', 0);
  const threads = num(flags, 'threads', 0);
  const maxIter = flags['max-iter'] === undefined ? undefined : num(flags, 'max-iter', 100);
  const tol = flags.tol === undefined ? undefined : num(flags, 'tol', 0, false);
  if (model === 'gmm')
    return new GaussianMixture({ nComponents, covarianceType: choice(flags, 'covariance', COVARIANCE_TYPES, 'full') as CovarianceType,
      init: choice(flags, 'init', GMM_INITS, 'kmeans') as GmmInit, nInit: num(flags, 'n-init', 1), regCovar: num(flags, 'reg-covar', 1e-6, false),
      seed, threads, maxIter, tol });
  if (model === 'pca') return new PCA({ nComponents, threads });
  if (model === 'ppca') return new PPCA({ nComponents, method: choice(flags, 'method', ['closed', 'em'] as const, 'closed'), seed, threads, maxIter, tol });
  const estep = choice(flags, 'estep', ['expectation', 'sample'] as const, 'expectation');
  // --estep sample implies EM; otherwise scikit-learn's SVD-based fit unless --method em
  const method = choice(flags, 'method', ['svd', 'em'] as const, estep === 'sample' ? 'em' : 'svd');
  return new FactorAnalysis({ nComponents, method, estep, samples: num(flags, 'samples', 1), seed, threads, maxIter, tol });
}

/** Test rows the scatter shows at most (the first ones, densified for the picture alone). */
const SCATTER_ROWS = 10_000;

/**
 * What the picture shows: component means (GMM) or axes / loadings as images, else a 2-D scatter of the test rows
 * coloured by cluster (GMM) or label; returns the files written.
 */
async function writeModelPicture(out: string, model: Classical, test: DataMatrix, testLabels: Uint8Array): Promise<string[]> {
  const side = squareSide(test.cols);
  if (side !== undefined) {
    const rows = model instanceof GaussianMixture ? model.means : model.components;
    const images = { data: Float32Array.from(rows.data), rows: rows.shape[0], cols: test.cols };
    await writeFileAtomic(path.join(out, 'components.png'), imageGridPng(images, { height: side, columns: Math.min(images.rows, 10), normalize: !(model instanceof GaussianMixture), zoom: 3 }));
    return ['components.png'];
  }
  const shown = Math.min(test.rows, SCATTER_ROWS);
  const x: Matrix = takeDataRows(test, Array.from({ length: shown }, (_, i) => i));
  const labels = testLabels.subarray(0, shown);
  const gmm = model instanceof GaussianMixture;
  return writePicture(out, 'scatter', await scatterChart(project2d(x), gmm ? model.predict(x) : labels, { title: 'test rows on their first two principal axes',
    xTitle: 'principal axis 1', yTitle: 'principal axis 2', legendTitle: gmm ? 'component' : 'label' }));
}

export async function fitCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommand('fit', argv, {
    data: { type: 'string', default: 'mnist' }, components: { type: 'string' }, covariance: { type: 'string' }, init: { type: 'string' },
    'n-init': { type: 'string' }, 'reg-covar': { type: 'string' }, method: { type: 'string' }, estep: { type: 'string' },
    samples: { type: 'string' }, 'max-iter': { type: 'string' }, tol: { type: 'string' }, seed: { type: 'string' },
    threads: { type: 'string' }, out: { type: 'string' }, labels: { type: 'string' }, 'test-data': { type: 'string' },
    'test-labels': { type: 'string' }, mmap: { type: 'boolean', default: false }, layer: { type: 'string' },
    'label-key': { type: 'string' }, columns: { type: 'string' }, distributed: { type: 'boolean', default: false } }, commandHelp('fit'), true);
  const flags = values as Flags;
  if (positionals.length !== 1 || !MODELS.includes(positionals[0] as ModelName))
    usage(`fit expects one model, ${MODELS.join(' | ')}, but received ${JSON.stringify(positionals.join(' '))}`);
  const name = positionals[0] as ModelName;
  const model = build(name, flags);
  const source = dataSource(flags, num(flags, 'seed', 0));
  // Any form is read natively a chunk of rows at a time: mapped (--mmap), bytes, sparse (.npz, .h5ad).
  const data = await loadSplit(source);
  // --distributed: each rank fits on its shard of the train rows (rank r of n: rows ⌊N r / n⌋ …), the fit the
  // whole set's; rank 0 scores and writes the run folder.
  const group = flags.distributed ? processGroup() : null;
  const writer = !group || group.rank === 0;
  const shard = group ? shardOf(data.train.x, group) : data.train.x;
  const out = String(flags.out ?? `runs/${name}`);
  if (writer)
    process.stderr.write(`fitting ${name} (${JSON.stringify(model.options)}) on ${data.name}: ${data.train.x.rows} train / ${data.test.x.rows} test rows × ${data.train.x.cols}` +
      `${group ? `, ${group.size} ranks` : ''}\n`);
  const t0 = performance.now();
  // Ctrl-C cancels the fit (nothing is written); each EM iteration's log-likelihood shows on a terminal.
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  const tty = process.stderr.isTTY && writer;
  try {
    await model.fit(shard, { signal: controller.signal, distributed: Boolean(group), progress: (p) => {
      if (tty) process.stderr.write(`\r${p.init > 0 ? `init ${p.init + 1}, ` : ''}iteration ${p.iteration}: log-likelihood ${p.logLikelihood.toFixed(4)} per row   `);
    } });
  } finally {
    process.removeListener('SIGINT', onSigint);
    if (tty) process.stderr.write('\n');
  }
  const seconds = (performance.now() - t0) / 1000;
  if (!writer) return; // every rank holds the fitted model; rank 0 writes it
  const curve = model instanceof GaussianMixture ? model.lowerBounds : model.loglike;
  const final: Record<string, unknown> = { trainLogLikelihood: model.score(data.train.x), testLogLikelihood: model.score(data.test.x), seconds };
  if (model instanceof GaussianMixture)
    Object.assign(final, { bic: model.bic(data.train.x), aic: model.aic(data.train.x), nIter: model.nIter, converged: model.converged });
  else if (!(model instanceof PCA)) Object.assign(final, { nIter: model.nIter, converged: model.converged });
  const metrics = { config: { model: name, data: data.name, source, ...model.options, trainRows: data.train.x.rows, testRows: data.test.x.rows, cols: data.train.x.cols, version: VERSION },
    logLikelihoodPerIteration: curve, final };
  await fs.promises.mkdir(out, { recursive: true });
  await model.save(path.join(out, 'model.safetensors'));
  await writeFileAtomic(path.join(out, 'metrics.json'), JSON.stringify(metrics, null, 2) + '\n');
  const written = ['model.safetensors', 'metrics.json'];
  if (curve.length > 1) {
    written.push(...(await writePicture(out, 'loglike', await lineChart([{ name: 'train', points: curve.map((v, i) => [i + 1, v]) }],
      { title: `${name}: mean log-likelihood per row (${data.name})`, xTitle: 'EM iteration', yTitle: 'nats per row' }))));
  }
  written.push(...(await writeModelPicture(out, model, data.test.x, data.test.labels)));
  process.stdout.write(`test log-likelihood ${(final.testLogLikelihood as number).toFixed(3)} nats per row (train ${(final.trainLogLikelihood as number).toFixed(3)}); ` +
    `${seconds.toFixed(2)} s; wrote ${written.join(', ')} to ${out}\n`);
}

const LOADERS: Record<string, (file: string) => Promise<Classical>> = {
  'gaussian-mixture': (f) => GaussianMixture.load(f), pca: (f) => PCA.load(f), ppca: (f) => PPCA.load(f), 'factor-analysis': (f) => FactorAnalysis.load(f),
};

export async function scoreCommand(argv: string[]): Promise<void> {
  const { values } = parseCommand('score', argv, {
    model: { type: 'string' }, data: { type: 'string' }, labels: { type: 'string' }, split: { type: 'string', default: 'test' },
    mmap: { type: 'boolean', default: false }, layer: { type: 'string' }, 'label-key': { type: 'string' }, columns: { type: 'string' } },
    commandHelp('score'));
  const flags = values as Flags;
  if (!values.model) usage('score needs --model <model.safetensors> (written by latentkit fit)');
  const kind = await checkpointKind(values.model);
  const load = LOADERS[kind];
  if (!load) usage(kind === 'vae' ? `${values.model} is a VAE: use latentkit eval --model ${values.model}` : `${values.model} holds a ${kind}, not a model latentkit score knows`);
  const model = await load(values.model);
  const split = choice(flags, 'split', ['test', 'train'] as const, 'test');
  const x = (await evaluationRows(values.model, flags, split, 'score')).x;
  const t0 = performance.now();
  const result = { model: kind, split, rows: x.rows, logLikelihood: model.score(x), seconds: 0 };
  result.seconds = (performance.now() - t0) / 1000;
  process.stdout.write(`${split} log-likelihood ${result.logLikelihood.toFixed(3)} nats per row on ${x.rows} rows\n${JSON.stringify(result)}\n`);
}

// eval/vae.ts — evaluation of a trained VAE: the per-example ELBO and its terms, the importance-sampled
// log-likelihood, anomaly scores, active units, KL per dimension and the mutual information I_q (the native
// evaluation job is evaluateTerms in models/vae/model.ts).
import { LatentkitError } from '../errors';
import { DataInput, pickRows } from '../data/rows';
import { MatrixLike, matrix, takeRows } from '../matrix';
import { native } from '../native';
import { Precision, resolvePrecision } from '../precision';
import { RngPurpose, rngStream } from '../rng';
import { binarizeOption, conditionOf, evaluateTerms, inputOf, subsetIndices, Vae } from '../models/vae/model';
import { fail, finiteNumber, integer, knownKeys, oneOf, plainObject } from '../validate';

/** The seed evaluations use by default (and fit's validation and I_q). */
export const EVAL_SEED = 0x5eed;

export interface ElboResult {
  elbo: Float32Array; // per example: −(reconstruction + kl)
  reconstruction: Float32Array; // −log p(x | z), averaged over the samples
  kl: Float32Array; // KL(q(z | x) || N(0, I)), closed form
}

/**
 * Per-example ELBO terms with `samples` draws of z. kl 'analytic' (default) uses the closed-form KL; 'mc' the
 * Monte-Carlo estimate log q(z | x) − log p(z) at the same draws (then the k = 1 logLikelihood equals the ELBO).
 */
export async function elbo(vae: Vae, x: DataInput, options: { samples?: number; seed?: number; binarize?: boolean; kl?: 'analytic' | 'mc'; condition?: MatrixLike; precision?: Precision } = {}): Promise<ElboResult> {
  const o = plainObject('elboOptions', options);
  knownKeys('elboOptions', o, ['samples', 'seed', 'binarize', 'kl', 'condition', 'precision']);
  const precision = resolvePrecision(o.precision);
  const samples = integer('samples', o.samples ?? 1, 1, 1 << 20);
  const seed = integer('seed', o.seed ?? EVAL_SEED, 0);
  const binarize = binarizeOption(vae, o.binarize);
  const normal = vae.options.prior === 'normal';
  const analytic = oneOf('kl', o.kl ?? (normal ? 'analytic' : 'mc'), ['analytic', 'mc'] as const) === 'analytic';
  if (analytic && !normal) fail('kl', "'mc' (a mixture prior has no closed-form KL)", o.kl);
  const m = inputOf(vae, 'x', x);
  const t = await evaluateTerms(vae, m, conditionOf(vae, o.condition, m.rows), samples, seed, binarize, { analyticKl: analytic, terms: true }, precision);
  const elbo = new Float32Array(m.rows);
  for (let i = 0; i < m.rows; i++) elbo[i] = -(t.reconstruction[i] + t.kl[i]);
  return { elbo, reconstruction: t.reconstruction, kl: t.kl };
}

/**
 * The importance-sampled log-likelihood per example, log (1/k) Σ_j p(x | z_j) p(z_j) / q(z_j | x) with
 * z_j ~ q(z | x) (Burda et al. 2016): a lower bound on log p(x) in expectation that tightens as k grows.
 * Runs natively in chunks of about 2048 decoder rows, so memory stays bounded for any k.
 */
export async function logLikelihood(vae: Vae, x: DataInput, options: { k?: number; seed?: number; binarize?: boolean; condition?: MatrixLike; precision?: Precision } = {}): Promise<Float32Array> {
  const o = plainObject('logLikelihoodOptions', options);
  knownKeys('logLikelihoodOptions', o, ['k', 'seed', 'binarize', 'condition', 'precision']);
  const precision = resolvePrecision(o.precision);
  const k = integer('k', o.k ?? 1000, 1, 1 << 30);
  const seed = integer('seed', o.seed ?? EVAL_SEED, 0);
  const binarize = binarizeOption(vae, o.binarize);
  const m = inputOf(vae, 'x', x);
  return (await evaluateTerms(vae, m, conditionOf(vae, o.condition, m.rows), k, seed, binarize, { analyticKl: true, logLikelihood: true }, precision)).logLikelihood;
}

/** Per-row anomaly score: the negative ELBO (method 'elbo', `samples` draws) or negative IS log-likelihood ('iw', k). */
export async function anomalyScore(vae: Vae, x: DataInput, options: { method?: 'elbo' | 'iw'; k?: number; samples?: number; seed?: number; binarize?: boolean; condition?: MatrixLike; precision?: Precision } = {}): Promise<Float32Array> {
  const o = plainObject('anomalyOptions', options);
  knownKeys('anomalyOptions', o, ['method', 'k', 'samples', 'seed', 'binarize', 'condition', 'precision']);
  const method = oneOf('method', o.method ?? 'elbo', ['elbo', 'iw'] as const);
  const common = { seed: o.seed as number, binarize: o.binarize as boolean, condition: o.condition as MatrixLike | undefined, precision: o.precision as Precision };
  const score = method === 'elbo'
    ? (await vae.elbo(x, { samples: o.samples as number, ...common })).elbo
    : await vae.logLikelihood(x, { k: o.k as number, ...common });
  return score.map((v) => -v);
}

/**
 * Active units (Burda et al. 2016, §5.2): dimension u is active when A_u = Var_x(E_q[z_u | x]) > threshold.
 * perDimension holds A_u.
 */
export function activeUnits(vae: Vae, x: DataInput, options: { threshold?: number; condition?: MatrixLike } = {}): { count: number; perDimension: Float64Array } {
  const o = plainObject('activeUnitsOptions', options);
  knownKeys('activeUnitsOptions', o, ['threshold', 'condition']);
  const threshold = finiteNumber('threshold', o.threshold ?? 0.01, { min: 0 });
  const { mean } = vae.encode(inputOf(vae, 'x', x), o.condition as MatrixLike | undefined);
  const L = vae.latentDim, n = mean.rows;
  const mu = new Float64Array(L), variance = new Float64Array(L);
  for (let i = 0; i < n; i++) for (let d = 0; d < L; d++) mu[d] += mean.data[i * L + d] / n;
  for (let i = 0; i < n; i++) for (let d = 0; d < L; d++) variance[d] += (mean.data[i * L + d] - mu[d]) ** 2 / Math.max(1, n - 1);
  return { count: variance.filter((v) => v > threshold).length, perDimension: variance };
}

/** The mean over x of KL(q(z_d | x) || N(0, 1)) for each latent dimension d (nats); normal prior only. */
export function klPerDimension(vae: Vae, x: DataInput, options: { condition?: MatrixLike } = {}): Float64Array {
  const o = plainObject('klOptions', options);
  knownKeys('klOptions', o, ['condition']);
  if (vae.options.prior !== 'normal')
    throw new LatentkitError('LATENTKIT_INVALID_ARGUMENT', "klPerDimension needs prior: 'normal' (a mixture prior's KL does not split per dimension)");
  const { mean, logVar } = vae.encode(inputOf(vae, 'x', x), o.condition as MatrixLike | undefined);
  const L = vae.latentDim, n = mean.rows;
  const kl = new Float64Array(L);
  for (let i = 0; i < n * L; i++) kl[i % L] += 0.5 * (Math.exp(logVar.data[i]) + mean.data[i] ** 2 - 1 - logVar.data[i]) / n;
  return kl;
}

/**
 * The mutual information I_q(x; z) under q(x, z) = p_data(x) q(z | x) (He et al. 2019, after Hoffman & Johnson
 * 2016): E_x E_q[log q(z | x)] − E_q[log q(z)], with q(z) the aggregated posterior over the rows of x (at most
 * maxRows, a seeded random subset), log q(z) = log (1/N) Σ_n q(z | x_n) evaluated natively as an N-component
 * diagonal Gaussian mixture. Bounded above by log N.
 */
export function mutualInformation(vae: Vae, x: DataInput, options: { seed?: number; maxRows?: number; condition?: MatrixLike } = {}): number {
  const o = plainObject('mutualInformationOptions', options);
  knownKeys('mutualInformationOptions', o, ['seed', 'maxRows', 'condition']);
  const seed = integer('seed', o.seed ?? EVAL_SEED, 0);
  const maxRows = integer('maxRows', o.maxRows ?? 5000, 2, 1 << 16);
  let m = inputOf(vae, 'x', x);
  if (m.rows < 2) fail('x', 'at least 2 rows (the aggregated posterior needs several)', `${m.rows} row`);
  let c = conditionOf(vae, o.condition, m.rows);
  if (m.rows > maxRows) {
    const picked = subsetIndices(m.rows, maxRows, seed);
    m = pickRows(m, picked);
    c = c && takeRows(c, picked);
  }
  const { mean, logVar } = vae.encode(m, c);
  const N = m.rows, L = vae.latentDim;
  const eps = new Float32Array(N * L);
  native().kernels.rng_normal_fill(eps, eps.length, seed, rngStream(RngPurpose.Sample, 4), 0);
  const z = matrix(N, L);
  const means = new Float64Array(N * L), precChol = new Float64Array(N * L);
  let negEntropy = 0; // Σ_n E_q[log q(z | x_n)] = Σ −½ Σ_d (log 2π + 1 + log σ²)
  for (let i = 0; i < N * L; i++) {
    z.data[i] = mean.data[i] + Math.exp(0.5 * logVar.data[i]) * eps[i];
    means[i] = mean.data[i];
    precChol[i] = Math.exp(-0.5 * logVar.data[i]);
    negEntropy -= 0.5 * (Math.log(2 * Math.PI) + 1 + logVar.data[i]);
  }
  const logQz = new Float64Array(N);
  native().classical.gmmLogProb(z.data, N, L, { nComponents: N, covarianceType: 'diag', weights: new Float64Array(N).fill(1 / N), means, precisionsCholesky: precChol }, null, logQz);
  return (negEntropy - logQz.reduce((a, b) => a + b, 0)) / N;
}

export function meanNegElbo(t: { reconstruction: Float32Array; kl: Float32Array }): number {
  let s = 0;
  for (let i = 0; i < t.kl.length; i++) s += t.reconstruction[i] + t.kl[i];
  return s / t.kl.length;
}

// models/mixture.ts — GaussianMixture, scikit-learn's API camelCased, fitted by native EM (native/models/gmm.*).
// Data x: (rows, cols) in any form of data/rows.ts (dense float32, bytes, CSR, a mapped file), read natively a chunk
// at a time; parameters float64: weights (K), means (K, d), covariances and precisionsCholesky
// shaped by covarianceType — full (K, d, d), tied (d, d), diag (K, d), spherical (K). Σ⁻¹ = P Pᵀ for each factor P.
import { DataInput } from '../data/rows';
import { Matrix, matrix } from '../matrix';
import { native, NativeGmmParams } from '../native';
import { RngPurpose, rngStream } from '../rng';
import { fail, finiteNumber, integer, knownKeys, oneOf, plainObject } from '../validate';
import { convergenceWarning, dataRows, FitOptions, flatFloat64, loadModel, notFitted, runFit, saveModel, Tensor64, tensor64 } from './classical';
import { threadsOption } from '../threads';

export const COVARIANCE_TYPES = ['full', 'tied', 'diag', 'spherical'] as const;
export const GMM_INITS = ['kmeans', 'k-means++', 'random', 'random_from_data'] as const;
export type CovarianceType = (typeof COVARIANCE_TYPES)[number];
export type GmmInit = (typeof GMM_INITS)[number];

export interface GaussianMixtureOptions {
  nComponents?: number;
  covarianceType?: CovarianceType;
  tol?: number;
  maxIter?: number;
  nInit?: number;
  init?: GmmInit;
  regCovar?: number;
  seed?: number;
  threads?: number;
  /** Initial parameters (scikit-learn's weights_init, means_init, precisions_init): nested arrays or typed arrays. */
  weightsInit?: ArrayLike<number> | number[];
  meansInit?: unknown;
  precisionsInit?: unknown;
}

type Resolved = Required<Omit<GaussianMixtureOptions, 'weightsInit' | 'meansInit' | 'precisionsInit'>>;
const KEYS = ['nComponents', 'covarianceType', 'tol', 'maxIter', 'nInit', 'init', 'regCovar', 'seed', 'threads', 'weightsInit', 'meansInit', 'precisionsInit'] as const;

function covarianceShape(type: CovarianceType, K: number, d: number): number[] {
  return type === 'full' ? [K, d, d] : type === 'tied' ? [d, d] : type === 'diag' ? [K, d] : [K];
}

interface Fitted {
  d: number;
  weights: Float64Array;
  means: Tensor64;
  covariances: Tensor64;
  precisionsCholesky: Tensor64;
  converged: boolean;
  nIter: number;
  lowerBound: number;
  lowerBounds: number[];
}

export class GaussianMixture {
  readonly options: Resolved;
  readonly #init: { weights?: unknown; means?: unknown; precisions?: unknown };
  #fit?: Fitted;

  constructor(options: GaussianMixtureOptions = {}) {
    const o = plainObject('options', options);
    knownKeys('options', o, KEYS);
    this.options = {
      nComponents: integer('nComponents', o.nComponents ?? 1, 1, 1 << 20),
      covarianceType: oneOf('covarianceType', o.covarianceType ?? 'full', COVARIANCE_TYPES),
      tol: finiteNumber('tol', o.tol ?? 1e-3, { min: 0 }),
      maxIter: integer('maxIter', o.maxIter ?? 100, 1, 1 << 24),
      nInit: integer('nInit', o.nInit ?? 1, 1, 1 << 16),
      init: oneOf('init', o.init ?? 'kmeans', GMM_INITS),
      regCovar: finiteNumber('regCovar', o.regCovar ?? 1e-6, { min: 0 }),
      seed: integer('seed', o.seed ?? 0, 0),
      threads: threadsOption(o.threads),
    };
    this.#init = { weights: o.weightsInit, means: o.meansInit, precisions: o.precisionsInit };
  }

  /**
   * Fits by EM (best of nInit initialisations); emits a ConvergenceWarning when EM stops at maxIter. `signal` cancels
   * the fit (LATENTKIT_CANCELLED; a fitted model stays as it was); `progress` gets each iteration's lower bound.
   */
  async fit(x: DataInput, options: FitOptions = {}): Promise<this> {
    const o = this.options;
    const m = dataRows('x', x, undefined, 2);
    const K = o.nComponents, d = m.cols;
    if (K > m.rows) fail('nComponents', `at most the number of rows (${m.rows})`, K);
    const size = covarianceShape(o.covarianceType, K, d).reduce((a, b) => a * b, 1);
    const init = {
      weightsInit: this.#init.weights === undefined ? undefined : flatFloat64('weightsInit', this.#init.weights, K, 'nComponents weights'),
      meansInit: this.#init.means === undefined ? undefined : flatFloat64('meansInit', this.#init.means, K * d, `an (nComponents, ${d}) array of means`),
      precisionsInit: this.#init.precisions === undefined ? undefined
        : flatFloat64('precisionsInit', this.#init.precisions, size, `a ${covarianceShape(o.covarianceType, K, d).join(' × ')} array of precisions`),
    };
    if (init.weightsInit) {
      const sum = init.weightsInit.reduce((a, b) => a + b, 0);
      if (init.weightsInit.some((w) => w < 0) || Math.abs(sum - 1) > 1e-6) fail('weightsInit', 'non-negative weights summing to 1', this.#init.weights);
    }
    const { threads: _threads, ...described } = o;
    const r = await runFit('GaussianMixture', options, (onProgress, distributed) => native().classical.gmmFit(m.native, m.rows, d, {
      nComponents: K, covarianceType: o.covarianceType, tol: o.tol, maxIter: o.maxIter, nInit: o.nInit,
      init: o.init, regCovar: o.regCovar, seed: o.seed, threads: o.threads, ...init, ...(onProgress ? { onProgress } : {}),
      ...(distributed ? { distributed } : {}),
    }), { options: described, cols: d, init: Object.fromEntries(Object.entries(init).map(([k, v]) => [k, v ? Array.from(v) : null])) });
    const shape = covarianceShape(o.covarianceType, K, d);
    this.#fit = {
      d, weights: r.weights, means: tensor64(r.means, [K, d]), covariances: tensor64(r.covariances, shape),
      precisionsCholesky: tensor64(r.precisionsCholesky, shape), converged: r.converged, nIter: r.nIter,
      lowerBound: r.lowerBound, lowerBounds: Array.from(r.lowerBounds),
    };
    if (!r.converged)
      convergenceWarning(`GaussianMixture did not converge in ${o.maxIter} EM iterations (the lower bound still changed by ≥ tol ${o.tol}); ` +
        'increase maxIter or tol, or check the data');
    return this;
  }

  async fitPredict(x: DataInput): Promise<Int32Array> {
    const m = dataRows('x', x, undefined, 2);
    await this.fit(m);
    return this.predict(m);
  }

  #fitted(method: string): Fitted {
    return this.#fit ?? notFitted('GaussianMixture', method);
  }

  #logProb(method: string, x: DataInput, withResp: boolean): { logNorm: Float64Array; resp: Float64Array | null; rows: number } {
    const f = this.#fitted(method);
    const m = dataRows('x', x, f.d);
    const K = this.options.nComponents;
    const params: NativeGmmParams = { nComponents: K, covarianceType: this.options.covarianceType,
      weights: f.weights, means: f.means.data, precisionsCholesky: f.precisionsCholesky.data };
    const logNorm = new Float64Array(m.rows);
    const resp = withResp ? new Float64Array(m.rows * K) : null;
    native().classical.gmmLogProb(m.native, m.rows, f.d, params, resp, logNorm);
    return { logNorm, resp, rows: m.rows };
  }

  /** log p(x_i) per row. */
  scoreSamples(x: DataInput): Float64Array {
    return this.#logProb('scoreSamples', x, false).logNorm;
  }

  /** Mean log-likelihood per row. */
  score(x: DataInput): number {
    const s = this.scoreSamples(x);
    return s.reduce((a, b) => a + b, 0) / s.length;
  }

  /** Posterior component probabilities (rows, nComponents), row-major float64. */
  predictProba(x: DataInput): { data: Float64Array; rows: number; cols: number } {
    const { resp, rows } = this.#logProb('predictProba', x, true);
    return { data: resp!, rows, cols: this.options.nComponents };
  }

  /** The most probable component of each row. */
  predict(x: DataInput): Int32Array {
    const { resp, rows } = this.#logProb('predict', x, true);
    const K = this.options.nComponents;
    const labels = new Int32Array(rows);
    for (let i = 0; i < rows; i++) {
      let best = 0;
      for (let k = 1; k < K; k++) if (resp![i * K + k] > resp![i * K + best]) best = k;
      labels[i] = best;
    }
    return labels;
  }

  /** n draws from the mixture: component by weight, then x = μ_k + L_k ε (Σ_k = L_k L_kᵀ); seeded Philox draws. */
  sample(n: number, options: { seed?: number } = {}): { x: Matrix; labels: Int32Array } {
    const f = this.#fitted('sample');
    integer('n', n, 1, 1 << 24);
    const o = plainObject('options', options);
    knownKeys('options', o, ['seed']);
    const seed = integer('seed', o.seed ?? 0, 0);
    const { nComponents: K, covarianceType: type } = this.options;
    const d = f.d;
    const u = new Float32Array(n);
    const eps = new Float32Array(n * d);
    native().kernels.rng_uniform_fill(u, n, seed, rngStream(RngPurpose.MixtureSample, 0), 0);
    native().kernels.rng_normal_fill(eps, n * d, seed, rngStream(RngPurpose.MixtureSample, 1), 0);
    // Per-component square roots of the covariance: lower Cholesky factors (full/tied) or standard deviations.
    const roots: Float64Array[] = [];
    for (let k = 0; k < K; k++) {
      if (type === 'full' || type === 'tied') {
        const c = f.covariances.data.slice(type === 'full' ? k * d * d : 0, (type === 'full' ? k + 1 : 1) * d * d);
        native().classical.cholesky(c, d);
        roots.push(c);
      } else roots.push(Float64Array.from({ length: d }, (_, j) => Math.sqrt(f.covariances.data[type === 'diag' ? k * d + j : k])));
    }
    const x = matrix(n, d);
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      let k = 0;
      for (let acc = f.weights[0]; k < K - 1 && u[i] >= acc; acc += f.weights[++k]);
      labels[i] = k;
      const L = roots[k];
      for (let a = 0; a < d; a++) {
        let v = f.means.data[k * d + a];
        if (L.length === d) v += L[a] * eps[i * d + a];
        else for (let b = 0; b <= a; b++) v += L[a * d + b] * eps[i * d + b];
        x.data[i * d + a] = v;
      }
    }
    return { x, labels };
  }

  /** Free parameters (scikit-learn's _n_parameters). */
  get nParameters(): number {
    const f = this.#fitted('nParameters');
    const { nComponents: K, covarianceType: type } = this.options;
    const d = f.d;
    const cov = type === 'full' ? (K * d * (d + 1)) / 2 : type === 'tied' ? (d * (d + 1)) / 2 : type === 'diag' ? K * d : K;
    return cov + K * d + K - 1;
  }

  /** Bayesian information criterion on x (lower is better). */
  bic(x: DataInput): number {
    const m = dataRows('x', x, this.#fitted('bic').d);
    return -2 * this.score(m) * m.rows + this.nParameters * Math.log(m.rows);
  }

  /** Akaike information criterion on x (lower is better). */
  aic(x: DataInput): number {
    const m = dataRows('x', x, this.#fitted('aic').d);
    return -2 * this.score(m) * m.rows + 2 * this.nParameters;
  }

  get weights(): Float64Array { return this.#fitted('weights').weights; }
  get means(): Tensor64 { return this.#fitted('means').means; }
  get covariances(): Tensor64 { return this.#fitted('covariances').covariances; }
  get precisionsCholesky(): Tensor64 { return this.#fitted('precisionsCholesky').precisionsCholesky; }
  get converged(): boolean { return this.#fitted('converged').converged; }
  get nIter(): number { return this.#fitted('nIter').nIter; }
  /** Mean log-likelihood per row at the last E-step (scikit-learn's lower_bound_). */
  get lowerBound(): number { return this.#fitted('lowerBound').lowerBound; }
  /** lowerBound after every EM iteration of the best initialisation. */
  get lowerBounds(): number[] { return this.#fitted('lowerBounds').lowerBounds; }
  get nFeatures(): number { return this.#fitted('nFeatures').d; }

  async save(file: string): Promise<void> {
    const f = this.#fitted('save');
    await saveModel(file, 'gaussian-mixture', this.options, {
      weights: tensor64(f.weights, [f.weights.length]), means: f.means, covariances: f.covariances, precisionsCholesky: f.precisionsCholesky,
    }, { converged: f.converged, nIter: f.nIter, lowerBound: f.lowerBound, lowerBounds: f.lowerBounds });
  }

  static async load(file: string): Promise<GaussianMixture> {
    const { model: g, state, tensors, bad } = await loadModel(file, 'gaussian-mixture',
      (options) => new GaussianMixture(options as GaussianMixtureOptions), (m) => {
        const covDims = covarianceShape(m.options.covarianceType, 1, 1).length;
        return { weights: 1, means: 2, covariances: covDims, precisionsCholesky: covDims };
      });
    const { nComponents: K, covarianceType: type } = g.options;
    const d = tensors.means.shape[1];
    const want = covarianceShape(type, K, d);
    if (tensors.weights.shape[0] !== K || tensors.means.shape[0] !== K || d < 1)
      bad(`weights [${tensors.weights.shape}] and means [${tensors.means.shape}] where nComponents is ${K}`);
    for (const name of ['covariances', 'precisionsCholesky'] as const)
      if (tensors[name].shape.join() !== want.join()) bad(`${name} has shape [${tensors[name].shape}] where ${type} covariances need [${want}]`);
    const w = tensors.weights.data;
    if (w.some((v) => v < 0) || Math.abs(w.reduce((a, b) => a + b, 0) - 1) > 1e-6) bad('its weights are not a probability vector (non-negative, summing to 1)');
    checkCovariances(type, tensors.covariances.data, tensors.precisionsCholesky.data, d, bad);
    g.#fit = { d, weights: w, means: tensors.means, covariances: tensors.covariances, precisionsCholesky: tensors.precisionsCholesky,
      converged: Boolean(state.converged), nIter: Number(state.nIter ?? 0), lowerBound: Number(state.lowerBound ?? NaN),
      lowerBounds: Array.isArray(state.lowerBounds) ? (state.lowerBounds as number[]) : [] };
    return g;
  }
}

/**
 * Covariances that a mixture can use: variances (diag, spherical) and the diagonals of full / tied matrices positive,
 * full / tied matrices symmetric; precision Cholesky factors with a positive diagonal (a finite log-determinant).
 */
function checkCovariances(type: CovarianceType, cov: Float64Array, prec: Float64Array, d: number, bad: (why: string) => never): void {
  if (type === 'diag' || type === 'spherical') {
    if (cov.some((v) => !(v > 0)) || prec.some((v) => !(v > 0))) bad('its variances (or precisions) are not all positive');
    return;
  }
  for (let m = 0; m < cov.length / (d * d); m++) {
    const o = m * d * d;
    for (let i = 0; i < d; i++) {
      if (!(cov[o + i * d + i] > 0) || !(prec[o + i * d + i] > 0)) bad(`covariance ${m} has a diagonal entry that is not positive`);
      for (let j = 0; j < i; j++) {
        const a = cov[o + i * d + j], b = cov[o + j * d + i];
        if (Math.abs(a - b) > 1e-9 * Math.max(1, Math.abs(a), Math.abs(b))) bad(`covariance ${m} is not symmetric`);
      }
    }
  }
}

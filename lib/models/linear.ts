// models/linear.ts — the linear Gaussian latent-variable models, scikit-learn's API camelCased: PCA, PPCA and
// FactorAnalysis. Each is x = W z + mean + ε with z ~ N(0, I_q) and ε ~ N(0, diag ψ) (ψ = σ² for PCA/PPCA), so they
// share one scoring path (native log-density and posterior mean through the matrix inversion lemma). Data
// (rows, d) in any form of data/rows.ts (dense float32, bytes, CSR, a mapped file), read natively a chunk at a time; parameters float64: mean (d), W (d, q) row-major, ψ (d); components are (q, d).
import { DataInput, Rows } from '../data/rows';
import { Matrix, MatrixLike, matrix } from '../matrix';
import { native, NativeJob, NativeLinearGaussian, NativeProgress } from '../native';
import { RngPurpose, rngStream } from '../rng';
import { fail, finiteNumber, integer, knownKeys, oneOf, plainObject } from '../validate';
import { convergenceWarning, dataMatrix, dataRows, FitOptions, loadModel, notFitted, runFit, saveModel, Tensor64, tensor64 } from './classical';
import { threadsOption } from '../threads';

interface LinearFit {
  d: number;
  q: number;
  mean: Float64Array;
  W: Float64Array; // (d, q)
  psi: Float64Array; // (d)
  components: Float64Array; // (q, d)
  explainedVariance: Float64Array; // (q)
  totalVariance: number;
  loglike: number[];
  nIter: number;
  converged: boolean;
}

/** Eigenvalues of W Wᵀ + σ² I along W's column space (descending), from the q × q matrix WᵀW. */
function varianceAlongW(W: Float64Array, d: number, q: number, sigma2: number): Float64Array {
  const wtw = new Float64Array(q * q);
  for (let j = 0; j < d; j++) for (let a = 0; a < q; a++) for (let b = 0; b < q; b++) wtw[a * q + b] += W[j * q + a] * W[j * q + b];
  const w = new Float64Array(q);
  native().classical.symmetricEigen(wtw, q, w);
  return w.map((v) => v + sigma2);
}

/** What PCA, PPCA and FactorAnalysis share once fitted. */
abstract class LinearGaussianModel {
  protected fitted?: LinearFit;
  protected abstract readonly kind: string;
  abstract readonly options: { nComponents: number };

  protected model(method: string): LinearFit {
    return this.fitted ?? notFitted(this.constructor.name, method);
  }

  protected nativeModel(method: string): NativeLinearGaussian {
    const f = this.model(method);
    if (!f.psi.every((v) => v > 0))
      fail('noiseVariance', 'positive noise variances for a likelihood (the model keeps every direction: use nComponents < min(rows, columns))', 0);
    return { nComponents: f.q, mean: f.mean, W: f.W, psi: f.psi };
  }

  /** log N(x_i | mean, W Wᵀ + diag ψ) per row (scikit-learn's score_samples). */
  scoreSamples(x: DataInput): Float64Array {
    const m = this.nativeModel('scoreSamples');
    const data = dataRows('x', x, m.mean.length);
    const out = new Float64Array(data.rows);
    native().classical.linearGaussianLogDensity(data.native, data.rows, data.cols, m, out);
    return out;
  }

  /** Mean log-likelihood per row. */
  score(x: DataInput): number {
    const s = this.scoreSamples(x);
    return s.reduce((a, b) => a + b, 0) / s.length;
  }

  /** The posterior mean E[z | x] = G⁻¹ Wᵀ Ψ⁻¹ (x − mean), (rows, q). */
  transform(x: DataInput): Matrix {
    const m = this.nativeModel('transform');
    const data = dataRows('x', x, m.mean.length);
    const out = new Float64Array(data.rows * m.nComponents);
    native().classical.linearGaussianPosteriorMean(data.native, data.rows, data.cols, m, out);
    return { data: Float32Array.from(out), rows: data.rows, cols: m.nComponents };
  }

  /** z (rows, q) → W z + mean (the mean of p(x | z)). */
  inverseTransform(z: MatrixLike): Matrix {
    const f = this.model('inverseTransform');
    return this.decodeWith(z, f.W, 'z');
  }

  protected decodeWith(z: MatrixLike, W: Float64Array, name: string): Matrix {
    const f = this.model('inverseTransform');
    const zm = dataMatrix(name, z, f.q);
    const out = matrix(zm.rows, f.d);
    const wt = new Float32Array(f.q * f.d); // Wᵀ (q, d)
    for (let j = 0; j < f.d; j++) for (let a = 0; a < f.q; a++) wt[a * f.d + j] = W[j * f.q + a];
    native().kernels.gemm(false, false, zm.rows, f.d, f.q, 1, zm.data, wt, 0, out.data);
    for (let i = 0; i < zm.rows; i++) for (let j = 0; j < f.d; j++) out.data[i * f.d + j] += f.mean[j];
    return out;
  }

  /** n draws x = W z + mean + ε from the fitted model (seeded Philox draws). */
  sample(n: number, options: { seed?: number } = {}): Matrix {
    const f = this.model('sample');
    integer('n', n, 1, 1 << 24);
    const seed = integer('seed', plainObject('options', options).seed ?? 0, 0);
    const z = matrix(n, f.q);
    const eps = new Float32Array(n * f.d);
    native().kernels.rng_normal_fill(z.data, z.data.length, seed, rngStream(RngPurpose.Sample, 0), 0);
    native().kernels.rng_normal_fill(eps, eps.length, seed, rngStream(RngPurpose.Sample, 1), 0);
    const x = this.decodeWith(z, f.W, 'z');
    for (let i = 0; i < n; i++) for (let j = 0; j < f.d; j++) x.data[i * f.d + j] += Math.sqrt(f.psi[j]) * eps[i * f.d + j];
    return x;
  }

  /** The model covariance W Wᵀ + diag ψ, (d, d). */
  getCovariance(): Tensor64 {
    const f = this.model('getCovariance');
    const { d, q, W, psi } = f;
    const c = new Float64Array(d * d);
    for (let i = 0; i < d; i++)
      for (let j = 0; j <= i; j++) {
        let s = i === j ? psi[i] : 0;
        for (let a = 0; a < q; a++) s += W[i * q + a] * W[j * q + a];
        c[i * d + j] = c[j * d + i] = s;
      }
    return tensor64(c, [d, d]);
  }

  /** The model precision by the matrix inversion lemma: Ψ⁻¹ − Ψ⁻¹W (I + WᵀΨ⁻¹W)⁻¹ WᵀΨ⁻¹, (d, d). */
  getPrecision(): Tensor64 {
    const m = this.nativeModel('getPrecision');
    const f = this.model('getPrecision');
    const { d, q } = f;
    const A = new Float64Array(d * q); // Ψ⁻¹W
    for (let j = 0; j < d; j++) for (let a = 0; a < q; a++) A[j * q + a] = m.W[j * q + a] / m.psi[j];
    const G = new Float64Array(q * q);
    for (let a = 0; a < q; a++) G[a * q + a] = 1;
    for (let j = 0; j < d; j++) for (let a = 0; a < q; a++) for (let b = 0; b < q; b++) G[a * q + b] += m.W[j * q + a] * A[j * q + b];
    native().classical.spdInverse(G, q);
    const AG = new Float64Array(d * q);
    for (let j = 0; j < d; j++) for (let b = 0; b < q; b++) { let s = 0; for (let a = 0; a < q; a++) s += A[j * q + a] * G[a * q + b]; AG[j * q + b] = s; }
    const p = new Float64Array(d * d);
    for (let i = 0; i < d; i++)
      for (let j = 0; j <= i; j++) {
        let s = i === j ? 1 / m.psi[i] : 0;
        for (let a = 0; a < q; a++) s -= AG[i * q + a] * A[j * q + a];
        p[i * d + j] = p[j * d + i] = s;
      }
    return tensor64(p, [d, d]);
  }

  get mean(): Float64Array { return this.model('mean').mean; }
  /** (q, d): the principal axes (PCA, PPCA closed form) or the loading matrix Wᵀ (PPCA em, FactorAnalysis). */
  get components(): Tensor64 { const f = this.model('components'); return tensor64(f.components, [f.q, f.d]); }
  get nFeatures(): number { return this.model('nFeatures').d; }
  get nIter(): number { return this.model('nIter').nIter; }
  get converged(): boolean { return this.model('converged').converged; }
  /** Mean log-likelihood per row before each EM iteration's M-step (empty for closed-form fits). */
  get loglike(): number[] { return this.model('loglike').loglike; }

  async save(file: string): Promise<void> {
    const f = this.model('save');
    await saveModel(file, this.kind, this.options, {
      mean: tensor64(f.mean, [f.d]), W: tensor64(f.W, [f.d, f.q]), psi: tensor64(f.psi, [f.d]),
      components: tensor64(f.components, [f.q, f.d]), explainedVariance: tensor64(f.explainedVariance, [f.q]),
    }, { totalVariance: f.totalVariance, loglike: f.loglike, nIter: f.nIter, converged: f.converged });
  }

  /** Reads a checkpoint of this kind: options through `construct`, then tensors consistent with nComponents. */
  protected static async restore<M extends LinearGaussianModel>(file: string, kind: string, construct: (options: Record<string, unknown>) => M): Promise<M> {
    const { model, state, tensors, bad } = await loadModel(file, kind, construct,
      () => ({ mean: 1, W: 2, psi: 1, components: 2, explainedVariance: 1 }));
    const [d, q] = tensors.W.shape;
    if (d < 1 || q < 1 || tensors.mean.shape[0] !== d || tensors.psi.shape[0] !== d || tensors.components.shape.join() !== `${q},${d}` ||
        tensors.explainedVariance.shape[0] !== q)
      bad(`its tensor shapes disagree (W [${tensors.W.shape}], mean [${tensors.mean.shape}], psi [${tensors.psi.shape}], components [${tensors.components.shape}])`);
    if (q !== model.options.nComponents) bad(`W has ${q} columns where nComponents is ${model.options.nComponents}`);
    if (tensors.psi.data.some((v) => !(v >= 0))) bad('its noise variances are not all >= 0');
    if (tensors.explainedVariance.data.some((v) => !(v >= 0))) bad('its explained variances are not all >= 0');
    model.fitted = { d, q, mean: tensors.mean.data, W: tensors.W.data, psi: tensors.psi.data, components: tensors.components.data,
      explainedVariance: tensors.explainedVariance.data, totalVariance: Number(state.totalVariance ?? NaN),
      loglike: Array.isArray(state.loglike) ? (state.loglike as number[]) : [], nIter: Number(state.nIter ?? 0), converged: Boolean(state.converged) };
    return model;
  }
}

/** From closed-form PCA: W = Vᵀ diag(√(λ − σ²)), the maximum-likelihood PPCA loadings (Tipping & Bishop 1999). */
async function closedForm(x: Rows, q: number, threads: number, options: FitOptions): Promise<LinearFit> {
  const d = x.cols;
  if (q > Math.min(x.rows, d)) fail('nComponents', `at most min(rows, columns) = ${Math.min(x.rows, d)}`, q);
  const r = await runFit('PCA', options, (_, distributed) => native().classical.pcaFit(x.native, x.rows, d, q, threads, Boolean(distributed)),
    { nComponents: q, cols: d });
  const W = new Float64Array(d * q);
  for (let a = 0; a < q; a++) {
    const scale = Math.sqrt(Math.max(r.explainedVariance[a] - r.noiseVariance, 0));
    for (let j = 0; j < d; j++) W[j * q + a] = r.components[a * d + j] * scale;
  }
  return { d, q, mean: r.mean, W, psi: new Float64Array(d).fill(r.noiseVariance), components: r.components,
    explainedVariance: r.explainedVariance, totalVariance: r.totalVariance, loglike: [], nIter: 0, converged: true };
}

export interface PcaOptions { nComponents: number; threads?: number }

/** Principal component analysis by eigendecomposition of the sample covariance (denominator n − 1, as scikit-learn). */
export class PCA extends LinearGaussianModel {
  protected readonly kind = 'pca';
  readonly options: Required<PcaOptions>;
  constructor(options: PcaOptions) {
    super();
    const o = plainObject('options', options);
    knownKeys('options', o, ['nComponents', 'threads']);
    this.options = { nComponents: integer('nComponents', o.nComponents, 1, 1 << 20), threads: threadsOption(o.threads) };
  }
  /** `signal` (optional) cancels the fit. */
  async fit(x: DataInput, options: FitOptions = {}): Promise<this> {
    this.fitted = await closedForm(dataRows('x', x, undefined, 2), this.options.nComponents, this.options.threads, options);
    return this;
  }
  /** Projection on the principal axes, (x − mean) Vᵀ (scikit-learn's PCA.transform). */
  override transform(x: DataInput): Matrix {
    const f = this.model('transform');
    const data = dataRows('x', x, f.d);
    const out = matrix(data.rows, f.q);
    native().classical.pcaTransform(data.native, data.rows, data.cols, { nComponents: f.q, mean: f.mean, components: f.components }, out.data);
    return out;
  }
  /** z (rows, q) in principal-axis coordinates → z V + mean. */
  override inverseTransform(z: MatrixLike): Matrix {
    const f = this.model('inverseTransform');
    const V = new Float64Array(f.d * f.q);
    for (let a = 0; a < f.q; a++) for (let j = 0; j < f.d; j++) V[j * f.q + a] = f.components[a * f.d + j];
    return this.decodeWith(z, V, 'z');
  }
  get explainedVariance(): Float64Array { return this.model('explainedVariance').explainedVariance; }
  get explainedVarianceRatio(): Float64Array { const f = this.model('explainedVarianceRatio'); return f.explainedVariance.map((v) => v / f.totalVariance); }
  get noiseVariance(): number { return this.model('noiseVariance').psi[0]; }
  static async load(file: string): Promise<PCA> {
    return LinearGaussianModel.restore(file, 'pca', (o) => new PCA(o as unknown as PcaOptions));
  }
}

export interface PpcaOptions { nComponents: number; method?: 'closed' | 'em'; tol?: number; maxIter?: number; seed?: number; threads?: number }

/** Probabilistic PCA: closed-form maximum likelihood, or EM (E[z], E[zzᵀ] then W, σ²) for data too large to decompose. */
export class PPCA extends LinearGaussianModel {
  protected readonly kind = 'ppca';
  readonly options: Required<PpcaOptions>;
  constructor(options: PpcaOptions) {
    super();
    const o = plainObject('options', options);
    knownKeys('options', o, ['nComponents', 'method', 'tol', 'maxIter', 'seed', 'threads']);
    this.options = { nComponents: integer('nComponents', o.nComponents, 1, 1 << 20), method: oneOf('method', o.method ?? 'closed', ['closed', 'em'] as const),
      tol: finiteNumber('tol', o.tol ?? 1e-4, { min: 0 }), maxIter: integer('maxIter', o.maxIter ?? 1000, 1, 1 << 24),
      seed: integer('seed', o.seed ?? 0, 0), threads: threadsOption(o.threads) };
  }
  /** `signal` cancels the fit; `progress` (method 'em') gets each EM iteration's mean log-likelihood. */
  async fit(x: DataInput, options: FitOptions = {}): Promise<this> {
    const o = this.options;
    const m = dataRows('x', x, undefined, 2);
    if (o.method === 'closed') {
      this.fitted = await closedForm(m, o.nComponents, o.threads, options);
      return this;
    }
    if (o.nComponents >= m.cols) fail('nComponents', `less than the number of columns (${m.cols}) for method 'em'`, o.nComponents);
    this.fitted = await linearEm(m, { nComponents: o.nComponents, isotropic: true, ddof: 1, tol: o.tol, maxIter: o.maxIter, seed: o.seed,
      sampleEstep: false, samples: 1, threads: o.threads }, 'PPCA', options);
    return this;
  }
  get explainedVariance(): Float64Array { return this.model('explainedVariance').explainedVariance; }
  get noiseVariance(): number { return this.model('noiseVariance').psi[0]; }
  static async load(file: string): Promise<PPCA> {
    return LinearGaussianModel.restore(file, 'ppca', (o) => new PPCA(o as unknown as PpcaOptions));
  }
}

export interface FactorAnalysisOptions {
  nComponents: number;
  /**
   * 'svd' (default): scikit-learn's SVD-based fixed point, which reaches scikit-learn's answer at its defaults;
   * 'em': EM (Ghahramani & Hinton 1996), with `estep` 'expectation' or 'sample' (Monte-Carlo EM).
   */
  method?: 'svd' | 'em';
  tol?: number;
  maxIter?: number;
  seed?: number;
  /** method 'em': 'expectation' (closed-form E-step) or 'sample' (Monte-Carlo EM: z ~ p(z | x), `samples` draws per row). */
  estep?: 'expectation' | 'sample';
  samples?: number;
  threads?: number;
}

/** Factor analysis with diagonal noise Ψ: scikit-learn's SVD-based algorithm by default, or EM. */
export class FactorAnalysis extends LinearGaussianModel {
  protected readonly kind = 'factor-analysis';
  readonly options: Required<FactorAnalysisOptions>;
  constructor(options: FactorAnalysisOptions) {
    super();
    const o = plainObject('options', options);
    knownKeys('options', o, ['nComponents', 'method', 'tol', 'maxIter', 'seed', 'estep', 'samples', 'threads']);
    this.options = { nComponents: integer('nComponents', o.nComponents, 1, 1 << 20), method: oneOf('method', o.method ?? 'svd', ['svd', 'em'] as const),
      tol: finiteNumber('tol', o.tol ?? 1e-2, { min: 0 }),
      maxIter: integer('maxIter', o.maxIter ?? 1000, 1, 1 << 24), seed: integer('seed', o.seed ?? 0, 0),
      estep: oneOf('estep', o.estep ?? 'expectation', ['expectation', 'sample'] as const), samples: integer('samples', o.samples ?? 1, 1, 1 << 16),
      threads: threadsOption(o.threads) };
    if (this.options.method === 'svd' && (this.options.estep !== 'expectation' || this.options.samples !== 1))
      fail(this.options.estep !== 'expectation' ? 'estep' : 'samples', "estep 'expectation' and samples 1 with method 'svd' (a sampling E-step belongs to method 'em')",
        this.options.estep !== 'expectation' ? this.options.estep : this.options.samples);
  }
  /** `signal` cancels the fit; `progress` gets each iteration's mean log-likelihood. */
  async fit(x: DataInput, options: FitOptions = {}): Promise<this> {
    const o = this.options;
    const m = dataRows('x', x, undefined, 2);
    if (o.nComponents > m.cols) fail('nComponents', `at most the number of columns (${m.cols})`, o.nComponents);
    this.fitted = o.method === 'svd'
      ? await linearFit(m, (onProgress, distributed) => native().classical.factorAnalysisSvd(m.native, m.rows, m.cols, { nComponents: o.nComponents, tol: o.tol, maxIter: o.maxIter, threads: o.threads, ...(onProgress ? { onProgress } : {}), ...(distributed ? { distributed } : {}) }),
        { q: o.nComponents, isotropic: false, maxIter: o.maxIter, tol: o.tol, warnOnMaxIter: true }, 'FactorAnalysis', options)
      : await linearEm(m, { nComponents: o.nComponents, isotropic: false, ddof: 0, tol: o.tol, maxIter: o.maxIter, seed: o.seed,
        sampleEstep: o.estep === 'sample', samples: o.samples, threads: o.threads }, 'FactorAnalysis', options);
    const floored = this.fitted.psi.filter((v) => v <= 1e-12).length;
    if (floored > 0)
      process.emitWarning(`FactorAnalysis: ${floored} feature(s) have no noise left (constant in the training data, or fully explained); their ` +
        'noise variance is floored at 1e-12, so log-likelihoods of rows that vary there are meaningless. Drop constant columns first.',
      { type: 'DataWarning', code: 'LATENTKIT_DEGENERATE_NOISE' });
    return this;
  }
  /** Ψ, the noise variance of each feature. */
  get noiseVariance(): Float64Array { return this.model('noiseVariance').psi; }
  static async load(file: string): Promise<FactorAnalysis> {
    return LinearGaussianModel.restore(file, 'factor-analysis', (o) => new FactorAnalysis(o as unknown as FactorAnalysisOptions));
  }
}

type NativeLinearFit = Awaited<ReturnType<ReturnType<typeof native>['classical']['linearGaussianEm']>>;

async function linearEm(m: Rows, opts: Parameters<ReturnType<typeof native>['classical']['linearGaussianEm']>[3], model: string, options: FitOptions): Promise<LinearFit> {
  return linearFit(m, (onProgress, distributed) => native().classical.linearGaussianEm(m.native, m.rows, m.cols, { ...opts, ...(onProgress ? { onProgress } : {}), ...(distributed ? { distributed } : {}) }),
    { q: opts.nComponents, isotropic: opts.isotropic, maxIter: opts.maxIter, tol: opts.tol, warnOnMaxIter: !opts.sampleEstep }, model, options);
}

/** Runs a native linear-Gaussian fit and derives components, explained and total variance from its W and ψ. */
async function linearFit(m: Rows, start: (onProgress?: NativeProgress, distributed?: boolean) => NativeJob<NativeLinearFit>, o: { q: number; isotropic: boolean; maxIter: number; tol: number; warnOnMaxIter: boolean },
  model: string, options: FitOptions): Promise<LinearFit> {
  const r = await runFit(model, options, start, { ...o, cols: m.cols });
  const d = m.cols, q = o.q;
  const components = new Float64Array(q * d);
  for (let j = 0; j < d; j++) for (let a = 0; a < q; a++) components[a * d + j] = r.W[j * q + a];
  let total = 0;
  for (let j = 0; j < d; j++) {
    let s = r.psi[j];
    for (let a = 0; a < q; a++) s += r.W[j * q + a] ** 2;
    total += s;
  }
  if (!r.converged && o.warnOnMaxIter)
    convergenceWarning(`${model} did not converge in ${o.maxIter} iterations (the log-likelihood still changed by ≥ tol ${o.tol}); increase maxIter or tol`);
  const sigma2 = r.psi.reduce((a, b) => a + b, 0) / d;
  return { d, q, mean: r.mean, W: r.W, psi: r.psi, components, explainedVariance: varianceAlongW(r.W, d, q, o.isotropic ? sigma2 : 0),
    totalVariance: total, loglike: Array.from(r.loglike), nIter: r.nIter, converged: r.converged };
}

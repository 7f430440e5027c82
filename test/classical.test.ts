// The classical models against scikit-learn (fixtures from test/fixtures/make_classical.py, data included) and
// against direct float64 evaluations of their densities; EM's monotone lower bound; sampling and refitting; the
// Monte-Carlo E-step; checkpoints; bad input.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { COVARIANCE_TYPES, CovarianceType, GaussianMixture } from '../lib/models/mixture';
import { FactorAnalysis, PCA, PPCA } from '../lib/models/linear';
import { Matrix, toMatrix } from '../lib/matrix';
import { randn } from './helpers';

const fx = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'classical_sklearn.json'), 'utf8'));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'latentkit-classical-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

/** Lower Cholesky factor of a (d × d) in float64 — the test's own reference, independent of LAPACK. */
function cholesky(a: ArrayLike<number>, d: number): Float64Array {
  const L = new Float64Array(d * d);
  for (let i = 0; i < d; i++)
    for (let j = 0; j <= i; j++) {
      let s = a[i * d + j];
      for (let k = 0; k < j; k++) s -= L[i * d + k] * L[j * d + k];
      L[i * d + j] = i === j ? Math.sqrt(s) : s / L[j * d + j];
    }
  return L;
}

/** log N(x | mean, cov) in float64 by forward substitution. */
function mvnLogPdf(x: ArrayLike<number>, mean: ArrayLike<number>, cov: ArrayLike<number>, d: number): number {
  const L = cholesky(cov, d);
  const y = new Float64Array(d);
  let quad = 0, logdet = 0;
  for (let i = 0; i < d; i++) {
    let s = x[i] - mean[i];
    for (let k = 0; k < i; k++) s -= L[i * d + k] * y[k];
    y[i] = s / L[i * d + i];
    quad += y[i] * y[i];
    logdet += 2 * Math.log(L[i * d + i]);
  }
  return -0.5 * (d * Math.log(2 * Math.PI) + logdet + quad);
}

/** Component k's full covariance from a fitted mixture, whatever its type. */
function componentCovariance(g: GaussianMixture, k: number): Float64Array {
  const d = g.nFeatures;
  const c = g.covariances.data;
  const out = new Float64Array(d * d);
  for (let i = 0; i < d; i++)
    for (let j = 0; j < d; j++) {
      const t = g.options.covarianceType;
      out[i * d + j] = t === 'full' ? c[k * d * d + i * d + j] : t === 'tied' ? c[i * d + j] : i !== j ? 0 : t === 'diag' ? c[k * d + i] : c[k];
    }
  return out;
}

function row(m: Matrix, i: number): Float32Array {
  return m.data.subarray(i * m.cols, (i + 1) * m.cols);
}

describe('GaussianMixture matches scikit-learn from the same initial parameters', () => {
  const x = toMatrix('x', fx.gmm.x);
  const xTest = toMatrix('x', fx.gmm.x_test);
  test.each(COVARIANCE_TYPES.map((t) => [t]))('%s', async (type) => {
    const ref = fx.gmm.results[type];
    const g = await new GaussianMixture({ nComponents: 3, covarianceType: type as CovarianceType, weightsInit: fx.gmm.weights_init,
      meansInit: fx.gmm.means_init, precisionsInit: ref.precisions_init, threads: 1 }).fit(x);
    expect(rel(g.lowerBound, ref.lower_bound)).toBeLessThan(1e-3);
    expect(rel(g.score(x), ref.score)).toBeLessThan(1e-3);
    expect(rel(g.score(xTest), ref.score_test)).toBeLessThan(1e-3);
    expect(Math.abs(g.nIter - ref.n_iter)).toBeLessThanOrEqual(1);
    expect(g.converged).toBe(ref.converged);
    const p = g.predictProba(x);
    let worst = 0;
    ref.predict_proba.forEach((r: number[], i: number) => r.forEach((v, k) => (worst = Math.max(worst, Math.abs(v - p.data[i * 3 + k])))));
    expect(worst).toBeLessThan(1e-4);
    expect(rel(g.bic(x), ref.bic)).toBeLessThan(1e-3);
    expect(rel(g.aic(x), ref.aic)).toBeLessThan(1e-3);
    // EM never decreases the lower bound (float32 GEMMs: a relative slack of 1e-7).
    const lb = g.lowerBounds;
    expect(lb.length).toBe(g.nIter);
    for (let i = 1; i < lb.length; i++) expect(lb[i]).toBeGreaterThanOrEqual(lb[i - 1] - 1e-7 * Math.abs(lb[i - 1]));
  });
});

describe.each(COVARIANCE_TYPES.map((t) => [t]))('GaussianMixture %s', (type) => {
  const x = toMatrix('x', fx.gmm.x);
  let g: GaussianMixture;
  beforeAll(async () => {
    g = await new GaussianMixture({ nComponents: 3, covarianceType: type as CovarianceType, seed: 1, threads: 1 }).fit(x);
  });

  test('scoreSamples equals a direct float64 evaluation of the mixture density', () => {
    const probe = { data: Float32Array.from(randn(20 * 4, 7, 3)), rows: 20, cols: 4 };
    const s = g.scoreSamples(probe);
    for (let i = 0; i < probe.rows; i++) {
      let acc = 0;
      for (let k = 0; k < 3; k++) acc += g.weights[k] * Math.exp(mvnLogPdf(row(probe, i), g.means.data.subarray(k * 4, k * 4 + 4), componentCovariance(g, k), 4));
      expect(Math.abs(s[i] - Math.log(acc))).toBeLessThan(1e-4 * Math.max(1, Math.abs(Math.log(acc))));
    }
  });

  test('fitPredict(x) equals fit(x).predict(x); predictProba rows sum to 1', async () => {
    const again = new GaussianMixture({ nComponents: 3, covarianceType: type as CovarianceType, seed: 1, threads: 1 });
    const labels = await again.fitPredict(x);
    expect(Array.from(labels)).toEqual(Array.from(g.predict(x)));
    const p = g.predictProba(x);
    for (let i = 0; i < p.rows; i++) expect(p.data[i * 3] + p.data[i * 3 + 1] + p.data[i * 3 + 2]).toBeCloseTo(1, 10);
  });

  test('sampling from the fitted model and refitting recovers its parameters', async () => {
    const { x: draws, labels } = g.sample(20000, { seed: 3 });
    expect(labels.length).toBe(20000);
    const refit = await new GaussianMixture({ nComponents: 3, covarianceType: type as CovarianceType, weightsInit: g.weights,
      meansInit: g.means.data, threads: 1 }).fit(draws);
    for (let k = 0; k < 3; k++) expect(Math.abs(refit.weights[k] - g.weights[k])).toBeLessThan(0.02);
    for (let i = 0; i < 12; i++) expect(Math.abs(refit.means.data[i] - g.means.data[i])).toBeLessThan(0.1);
    expect(Math.abs(refit.score(x) - g.score(x))).toBeLessThan(0.05);
  });

  test('save → load gives the same scores', async () => {
    const file = path.join(tmp, `gmm-${type}.safetensors`);
    await g.save(file);
    const back = await GaussianMixture.load(file);
    expect(Array.from(back.scoreSamples(x))).toEqual(Array.from(g.scoreSamples(x)));
    expect(back.nIter).toBe(g.nIter);
  });
});

describe('PCA and PPCA', () => {
  const x = toMatrix('x', fx.pca.x);
  const xTest = toMatrix('x', fx.pca.x_test);

  test('PCA.score, explained and noise variance match scikit-learn', async () => {
    const p = await new PCA({ nComponents: 2 }).fit(x);
    expect(rel(p.score(x), fx.pca.score)).toBeLessThan(1e-4);
    expect(rel(p.score(xTest), fx.pca.score_test)).toBeLessThan(1e-4);
    p.explainedVariance.forEach((v, i) => expect(rel(v, fx.pca.explained_variance[i])).toBeLessThan(1e-4));
    expect(rel(p.noiseVariance, fx.pca.noise_variance)).toBeLessThan(1e-4);
    const s = p.scoreSamples(xTest);
    fx.pca.score_samples_test.forEach((v: number, i: number) => expect(rel(s[i], v)).toBeLessThan(1e-4));
    // transform / inverseTransform: projections onto orthonormal axes round-trip within the kept subspace
    const back = p.inverseTransform(p.transform(x));
    const again = p.transform(back);
    const t = p.transform(x);
    for (let i = 0; i < t.data.length; i++) expect(Math.abs(again.data[i] - t.data[i])).toBeLessThan(1e-3);
  });

  test('PPCA closed form and EM agree; scoreSamples equals the float64 Gaussian density', async () => {
    const closed = await new PPCA({ nComponents: 2 }).fit(x);
    const em = await new PPCA({ nComponents: 2, method: 'em', tol: 1e-5, maxIter: 20000 }).fit(x);
    expect(em.converged).toBe(true);
    expect(rel(em.score(x), closed.score(x))).toBeLessThan(1e-4);
    // The likelihood is flat along the leading eigenvalue, so EM's parameters converge much later than its
    // likelihood: run 3000 iterations (tol 0, so a ConvergenceWarning) and compare them too.
    const emit = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const long = await new PPCA({ nComponents: 2, method: 'em', tol: 0, maxIter: 3000 }).fit(x);
    expect(emit).toHaveBeenCalledTimes(1);
    emit.mockRestore();
    expect(rel(long.noiseVariance, closed.noiseVariance)).toBeLessThan(1e-4);
    closed.explainedVariance.forEach((v, i) => expect(rel(long.explainedVariance[i], v)).toBeLessThan(1e-4));
    // Monotone up to the rounding of the float32 GEMMs the likelihood is computed from (1e-6 relative).
    for (let i = 1; i < em.loglike.length; i++) expect(em.loglike[i]).toBeGreaterThanOrEqual(em.loglike[i - 1] - 1e-6 * Math.abs(em.loglike[i - 1]));
    const cov = closed.getCovariance().data;
    const s = closed.scoreSamples(xTest);
    for (let i = 0; i < xTest.rows; i++) expect(Math.abs(s[i] - mvnLogPdf(row(xTest, i), closed.mean, cov, 6))).toBeLessThan(1e-4 * Math.abs(s[i]));
    // getPrecision (matrix inversion lemma) inverts getCovariance
    const P = closed.getPrecision().data;
    for (let i = 0; i < 6; i++)
      for (let j = 0; j < 6; j++) {
        let v = 0;
        for (let k = 0; k < 6; k++) v += cov[i * 6 + k] * P[k * 6 + j];
        expect(Math.abs(v - (i === j ? 1 : 0))).toBeLessThan(1e-9);
      }
  });
});

describe('FactorAnalysis', () => {
  const x = toMatrix('x', fx.fa.x);
  const xTest = toMatrix('x', fx.fa.x_test);
  let fa: FactorAnalysis;
  beforeAll(async () => {
    fa = await new FactorAnalysis({ nComponents: 2, tol: 1e-5, maxIter: 100000 }).fit(x);
  });

  test('score matches scikit-learn FactorAnalysis.score; EM never decreases the likelihood', () => {
    expect(fa.converged).toBe(true);
    expect(rel(fa.score(x), fx.fa.score)).toBeLessThan(1e-4);
    expect(rel(fa.score(xTest), fx.fa.score_test)).toBeLessThan(1e-4);
    fa.noiseVariance.forEach((v, j) => expect(Math.abs(v - fx.fa.noise_variance[j])).toBeLessThan(2e-3 * Math.max(1, fx.fa.noise_variance[j])));
    for (let i = 1; i < fa.loglike.length; i++) expect(fa.loglike[i]).toBeGreaterThanOrEqual(fa.loglike[i - 1] - 1e-6 * Math.abs(fa.loglike[i - 1]));
  });

  test('scoreSamples equals the float64 Gaussian density of getCovariance; transform is the posterior mean', () => {
    const cov = fa.getCovariance().data;
    const s = fa.scoreSamples(xTest);
    for (let i = 0; i < xTest.rows; i++) expect(Math.abs(s[i] - mvnLogPdf(row(xTest, i), fa.mean, cov, 6))).toBeLessThan(1e-4 * Math.abs(s[i]));
    // E[z | x] = Wᵀ C⁻¹ (x − μ)
    const P = fa.getPrecision().data;
    const W = fa.components.data; // (2, 6)
    const z = fa.transform(xTest);
    for (let i = 0; i < 5; i++)
      for (let a = 0; a < 2; a++) {
        let v = 0;
        for (let j = 0; j < 6; j++) for (let k = 0; k < 6; k++) v += W[a * 6 + j] * P[j * 6 + k] * (xTest.data[i * 6 + k] - fa.mean[k]);
        expect(Math.abs(z.data[i * 2 + a] - v)).toBeLessThan(1e-4 * Math.max(1, Math.abs(v)));
      }
  });

  test("Monte-Carlo EM (estep: 'sample') reaches the same likelihood within Monte-Carlo error", async () => {
    const mc = await new FactorAnalysis({ nComponents: 2, method: 'em', estep: 'sample', samples: 20, maxIter: 300, seed: 2 }).fit(x);
    const tail = mc.loglike.slice(-50);
    const mean = tail.reduce((a, b) => a + b, 0) / tail.length;
    const sd = Math.sqrt(tail.reduce((a, b) => a + (b - mean) ** 2, 0) / (tail.length - 1));
    const exact = fa.score(x);
    // The sampled E-step's fixed point is the maximum likelihood; what remains is Monte-Carlo noise around it.
    expect(mean).toBeLessThanOrEqual(exact + 1e-9);
    expect(exact - mean).toBeLessThan(Math.max(4 * sd, 1e-3 * Math.abs(exact)));
    expect(rel(mc.score(x), exact)).toBeLessThan(2e-3);
  });

  test('sampling from the fitted model and refitting recovers its covariance and noise', async () => {
    const draws = fa.sample(20000, { seed: 5 });
    const refit = await new FactorAnalysis({ nComponents: 2, tol: 1e-3 }).fit(draws);
    const a = fa.getCovariance().data, b = refit.getCovariance().data;
    const scale = Math.max(...Array.from(a, Math.abs));
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThan(0.05 * scale);
    fa.noiseVariance.forEach((v, j) => expect(Math.abs(refit.noiseVariance[j] - v)).toBeLessThan(0.1 * v + 0.02));
    for (let j = 0; j < 6; j++) expect(Math.abs(refit.mean[j] - fa.mean[j])).toBeLessThan(0.1);
  });

  test('save → load keeps the model', async () => {
    const file = path.join(tmp, 'fa.safetensors');
    await fa.save(file);
    const back = await FactorAnalysis.load(file);
    expect(Array.from(back.scoreSamples(xTest))).toEqual(Array.from(fa.scoreSamples(xTest)));
    await expect(PCA.load(file)).rejects.toThrow(/not a latentkit pca checkpoint/);
  });
});

describe('bad input gets a clear error (or the documented warning)', () => {
  const x = toMatrix('x', fx.gmm.x);
  test('options and data', async () => {
    await expect(new GaussianMixture({ nComponents: 301 }).fit(x)).rejects.toThrow(/at most the number of rows \(300\) for nComponents but received 301/);
    expect(() => new GaussianMixture({ covarianceType: 'banded' as CovarianceType })).toThrow(/one of "full", "tied", "diag", "spherical" for covarianceType/);
    await expect(new GaussianMixture().fit([[1, 2]])).rejects.toThrow(/at least 2 rows for x but received 1 rows/);
    await expect(new GaussianMixture().fit([[1, 2], [NaN, 3]])).rejects.toThrow(/finite values for x but received NaN at row 1, column 0/);
    expect(() => new GaussianMixture().predict(x)).toThrow(/not fitted yet/);
    await expect(new PCA({ nComponents: 7 }).fit(toMatrix('x', fx.pca.x))).rejects.toThrow(/nComponents/);
    await expect(new FactorAnalysis({ nComponents: 2 }).fit([[1, 2, 3]])).rejects.toThrow(/at least 2 rows/);
    const g = await new GaussianMixture({ nComponents: 2, threads: 1 }).fit(x);
    expect(() => g.scoreSamples([[1, 2, 3]])).toThrow(/rows of length 4 for x but received rows of length 3/);
  });

  test('constant columns: regCovar keeps GMM defined; regCovar 0 gives the ill-defined-covariance error', async () => {
    const c = { data: new Float32Array(200 * 3), rows: 200, cols: 3 };
    const r = randn(200 * 2, 4);
    for (let i = 0; i < 200; i++) (c.data[i * 3] = r[i * 2] + (i % 2) * 5), (c.data[i * 3 + 1] = 7), (c.data[i * 3 + 2] = r[i * 2 + 1]);
    const g = await new GaussianMixture({ nComponents: 2, covarianceType: 'diag', threads: 1 }).fit(c);
    expect(Number.isFinite(g.score(c))).toBe(true);
    await expect(new GaussianMixture({ nComponents: 2, regCovar: 0, threads: 1 }).fit(c)).rejects.toMatchObject({
      code: 'LATENTKIT_NOT_POSITIVE_DEFINITE', message: expect.stringMatching(/decrease nComponents or increase regCovar/) });
    const emit = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const fa = await new FactorAnalysis({ nComponents: 1 }).fit(c);
    expect(emit).toHaveBeenCalledWith(expect.stringMatching(/1 feature\(s\) have no noise left/), expect.objectContaining({ type: 'DataWarning' }));
    emit.mockRestore();
    expect(fa.noiseVariance[1]).toBeLessThan(1e-9); // the constant feature's noise is floored, not NaN
  });

  test('EM stopped by maxIter emits a ConvergenceWarning and converged = false', async () => {
    const emit = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const g = await new GaussianMixture({ nComponents: 3, maxIter: 1, threads: 1 }).fit(x);
      expect(g.converged).toBe(false);
      expect(emit).toHaveBeenCalledWith(expect.stringMatching(/did not converge in 1 EM iterations/), expect.objectContaining({ type: 'ConvergenceWarning' }));
    } finally {
      emit.mockRestore();
    }
  });
});

// Per-thread accumulators filled under a dynamic schedule made fits at 2 threads differ from run to run (9 distinct
// diag fits in 10 before); chunks now go to fixed slots in a fixed order.
test('GaussianMixture fits are bit-identical across runs at the same seed and threads', async () => {
  const rows = 30000, d = 12;
  const x = { data: randn(rows * d, 21).map((v, i) => v + 3 * (Math.floor(i / d) % 3)), rows, cols: d };
  for (const covarianceType of ['diag', 'full'] as const) {
    const fits = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const g = await new GaussianMixture({ nComponents: 4, covarianceType, threads: 2, seed: 3 }).fit(x);
      fits.add(`${g.lowerBound}|${Array.from(g.means.data).join(',')}|${Array.from(g.covariances.data).join(',')}`);
    }
    expect({ covarianceType, distinct: fits.size }).toEqual({ covarianceType, distinct: 1 });
  }
});

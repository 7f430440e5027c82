// The decoder likelihoods beyond Bernoulli: on synthetic data drawn from each noise model with known parameters,
// the fitted VAE recovers what it should — a heteroscedastic σ(z) above its floor, the Laplace scale, NB dispersions,
// ZINB's zero inflation — the better-matched likelihood wins on held-out IS log-likelihood, count reconstructions
// scale with the library size, ancestral count draws have the model's mean and variance, and bad input is refused.
import { Matrix, matrix } from '../lib/matrix';
import { Vae, VaeOptions } from '../lib/models/vae';
import { gamma, negativeBinomial, poisson, UniformStream } from '../lib/sampling';
import { randn, rng } from './helpers';

const mean = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0) / a.length;

/** n rows of D counts from a rank-1 model: mean_d(t) = exp(a_d + b_d t), t ~ U(−1, 1), drawn by `draw(mean, d)`. */
function countData(n: number, D: number, seed: number, draw: (mu: number, d: number, u: UniformStream) => number): Matrix {
  const r = rng(seed);
  const u = new UniformStream(seed, 77);
  const x = matrix(n, D);
  for (let i = 0; i < n; i++) {
    const t = 2 * r() - 1;
    for (let d = 0; d < D; d++) x.data[i * D + d] = draw(Math.exp(1 + 0.8 * Math.sin(d) + 1.2 * Math.cos(d) * t), d, u);
  }
  return x;
}

async function fitted(options: Partial<VaeOptions>, x: Matrix, epochs = 30): Promise<Vae> {
  const vae = new Vae({ inputDim: x.cols, latentDim: 2, hidden: [32], activation: 'tanh', seed: 3, ...options } as VaeOptions);
  await vae.fit(x, { epochs, batchSize: 64, learningRate: 3e-3 });
  return vae;
}

describe('location-scale likelihoods', () => {
  test("sigma: 'decoder' learns a σ(z) that follows the data's noise level, never below minSigma", async () => {
    // Two clusters in 6 dimensions: around +1 with σ = 0.05, around −1 with σ = 0.5.
    const n = 1200, D = 6;
    const noise = randn(n * D, 11);
    const x = matrix(n, D);
    for (let i = 0; i < n; i++)
      for (let d = 0; d < D; d++) x.data[i * D + d] = i % 2 ? 1 + 0.05 * noise[i * D + d] : -1 + 0.5 * noise[i * D + d];
    const vae = await fitted({ likelihood: 'gaussian', sigma: 'decoder', minSigma: 0.01 }, x, 40);
    const scale = vae.decodeScale(vae.encode(x).mean).scale!;
    const perRow = (parity: number) => mean(Array.from({ length: n / 2 }, (_, k) => mean(scale.data.subarray((2 * k + parity) * D, (2 * k + parity + 1) * D))));
    const tight = perRow(1), loose = perRow(0);
    expect(tight).toBeGreaterThan(0.025);
    expect(tight).toBeLessThan(0.1);
    expect(loose).toBeGreaterThan(0.3);
    expect(loose).toBeLessThan(0.7);
    for (const s of scale.data) expect(s).toBeGreaterThanOrEqual(0.01 * (1 - 1e-5));
    // The floor holds however the decoder is pushed: a model floored at 0.2 on the same data cannot fit 0.05.
    const floored = await fitted({ likelihood: 'gaussian', sigma: 'decoder', minSigma: 0.2 }, x, 10);
    for (const s of floored.decodeScale(floored.encode(x).mean).scale!.data) expect(s).toBeGreaterThanOrEqual(0.2 * (1 - 1e-5));
  });

  test('laplace with a shared scale recovers b of Laplace noise, and beats the Gaussian on it', async () => {
    const n = 2000, D = 5, b = 0.3;
    const r = rng(21);
    const x = matrix(n, D);
    for (let i = 0; i < n; i++) {
      const t = 2 * r() - 1;
      for (let d = 0; d < D; d++) {
        const u = r() - 0.5;
        x.data[i * D + d] = Math.sin(d + 2 * t) - b * Math.sign(u) * Math.log(1 - 2 * Math.abs(u));
      }
    }
    const laplace = await fitted({ likelihood: 'laplace', sigma: 'shared' }, x);
    expect(laplace.sigma!).toBeGreaterThan(0.8 * b);
    expect(laplace.sigma!).toBeLessThan(1.15 * b);
    const gaussian = await fitted({ likelihood: 'gaussian', sigma: 'shared' }, x);
    const held = matrix(400, D);
    held.data.set(x.data.subarray(0, 400 * D));
    expect(mean(await laplace.logLikelihood(held, { k: 100 }))).toBeGreaterThan(mean(await gaussian.logLikelihood(held, { k: 100 })));
  });
});

describe('count likelihoods', () => {
  const D = 8;
  const theta = Array.from({ length: D }, (_, d) => (d < D / 2 ? 1.5 : 40));

  test('nb learns larger θ for the less dispersed features, and beats poisson on overdispersed counts', async () => {
    const x = countData(2000, D, 31, (mu, d, u) => negativeBinomial(mu, theta[d], u));
    const nb = await fitted({ likelihood: 'nb', library: 'none' }, x, 80);
    const learned = nb.dispersion()!;
    expect(mean(learned.subarray(D / 2)) / mean(learned.subarray(0, D / 2))).toBeGreaterThan(4);
    expect(mean(learned.subarray(0, D / 2))).toBeGreaterThan(1.1); // true θ = 1.5 (the θ = 40 side is harder to pin)
    expect(mean(learned.subarray(0, D / 2))).toBeLessThan(2);
    const pois = await fitted({ likelihood: 'poisson', library: 'none' }, x);
    const held = countData(300, D, 32, (mu, d, u) => negativeBinomial(mu, theta[d], u));
    expect(mean(await nb.logLikelihood(held, { k: 100 }))).toBeGreaterThan(mean(await pois.logLikelihood(held, { k: 100 })) + 0.5);
  });

  test('zinb recovers the zero-inflation probability and beats nb on zero-inflated counts', async () => {
    const pi = 0.35;
    const draw = (mu: number, d: number, u: UniformStream) => (u.next() < pi ? 0 : negativeBinomial(mu, theta[d], u));
    const x = countData(2000, D, 41, draw);
    const zinb = await fitted({ likelihood: 'zinb', library: 'none' }, x, 40);
    const dropout = zinb.decodeScale(zinb.encode(x).mean).dropout!;
    expect(mean(dropout.data)).toBeGreaterThan(pi - 0.1);
    expect(mean(dropout.data)).toBeLessThan(pi + 0.1);
    const nb = await fitted({ likelihood: 'nb', library: 'none' }, x, 40);
    const held = countData(300, D, 42, draw);
    expect(mean(await zinb.logLikelihood(held, { k: 100 }))).toBeGreaterThan(mean(await nb.logLikelihood(held, { k: 100 })));
  });

  test('with the observed library size, reconstructions scale with each row\'s total count', async () => {
    const x = countData(600, D, 51, (mu, _d, u) => poisson(mu, u));
    const vae = await fitted({ likelihood: 'poisson' }, x, 5);
    expect(vae.options.library).toBe('observed');
    const row = matrix(2, D);
    row.data.set(x.data.subarray(0, D));
    for (let d = 0; d < D; d++) row.data[D + d] = 3 * row.data[d];
    const rec = vae.reconstruct(row);
    // Tripling the counts triples the library; the encoder sees different input, so compare the normalised rows.
    const total = (r: number) => rec.data.subarray(r * D, (r + 1) * D).reduce((a, v) => a + v, 0);
    const lib = (r: number) => row.data.subarray(r * D, (r + 1) * D).reduce((a, v) => a + v, 0);
    expect(total(1) / total(0)).toBeGreaterThan(1.5);
    const dec = vae.decode(vae.encode(row).mean);
    for (let d = 0; d < D; d++) expect(rec.data[D + d]).toBeCloseTo(dec.data[D + d] * lib(1), 3);
  });

  test('ancestral samples are integer counts with the model mean (Poisson) and variance μ + μ²/θ (NB)', async () => {
    const x = countData(600, D, 61, (mu, d, u) => negativeBinomial(mu, theta[d], u));
    const vae = await fitted({ likelihood: 'nb', library: 'none' }, x, 5);
    const n = 4000;
    const draws = vae.sample(n, { mode: 'ancestral', seed: 3, library: 2 });
    const means = vae.sample(n, { mode: 'mean', seed: 3, library: 2 }); // the same z: the conditional means
    const th = vae.dispersion()!;
    let resid = 0, expectedVar = 0;
    for (let i = 0; i < draws.data.length; i++) {
      expect(Number.isInteger(draws.data[i]) && draws.data[i] >= 0).toBe(true);
      const mu = means.data[i];
      resid += draws.data[i] - mu;
      expectedVar += mu + (mu * mu) / th[i % D];
    }
    // Σ (x − μ) has variance Σ Var x: within 4 standard deviations of 0.
    expect(Math.abs(resid)).toBeLessThan(4 * Math.sqrt(expectedVar));
    let sq = 0;
    for (let i = 0; i < draws.data.length; i++) sq += (draws.data[i] - means.data[i]) ** 2;
    expect(sq / expectedVar).toBeGreaterThan(0.9);
    expect(sq / expectedVar).toBeLessThan(1.1);
  });

  test('the samplers: Poisson and gamma moments over both algorithm branches', () => {
    const u = new UniformStream(9, 1);
    for (const lambda of [0.3, 4, 25, 400]) {
      const s = Array.from({ length: 20000 }, () => poisson(lambda, u));
      const m = mean(s);
      expect(Math.abs(m - lambda)).toBeLessThan(4 * Math.sqrt(lambda / s.length));
      expect(mean(s.map((v) => (v - m) ** 2)) / lambda).toBeGreaterThan(0.95);
      expect(mean(s.map((v) => (v - m) ** 2)) / lambda).toBeLessThan(1.05);
    }
    for (const shape of [0.4, 3]) {
      const s = Array.from({ length: 20000 }, () => gamma(shape, u));
      expect(Math.abs(mean(s) - shape)).toBeLessThan(4 * Math.sqrt(shape / s.length));
    }
  });
});

describe('bad input', () => {
  test('negative counts, and options that do not fit the likelihood, are refused naming the option', async () => {
    const vae = new Vae({ inputDim: 3, latentDim: 1, hidden: [4], likelihood: 'poisson' });
    const x = { data: Float32Array.from([1, 2, 0, 3, -1, 0]), rows: 2, cols: 3 };
    await expect(vae.fit(x)).rejects.toThrow(/x.*counts >= 0 \(likelihood: 'poisson'\).*-1 at row 1, column 1/);
    await expect(vae.logLikelihood(x)).rejects.toThrow(/counts >= 0/);
    expect(() => new Vae({ inputDim: 3, latentDim: 1, likelihood: 'nb', sigma: 2 })).toThrow(/sigma/);
    expect(() => new Vae({ inputDim: 3, latentDim: 1, likelihood: 'gaussian', minSigma: 0.1 })).toThrow(/minSigma.*sigma: 'decoder'/);
    expect(() => new Vae({ inputDim: 3, latentDim: 1, likelihood: 'gaussian', sigma: 'decoder', minSigma: 0 })).toThrow(/minSigma/);
    expect(() => new Vae({ inputDim: 3, latentDim: 1, likelihood: 'gaussian', library: 'observed' })).toThrow(/library/);
    expect(() => new Vae({ inputDim: 3, latentDim: 1, likelihood: 'zinb', library: 'all' as never })).toThrow(/library/);
    expect(() => vae.sample(2, { library: 0 })).toThrow(/library/);
  });
});

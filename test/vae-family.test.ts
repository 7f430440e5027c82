// The VAE family's objectives and evaluation: IWAE/ELBO identities, the importance-sampled log-likelihood against
// the exact PPCA likelihood of a linear-decoder VAE, warm-up and free-bits schedules, active units / KL per
// dimension / mutual information, and the latent-space uses (sampling modes, interpolation, traversal, imputation,
// anomaly scores), with their bad-input errors.
import { headRows, datasets } from '../lib/data';
import { Matrix, matrix } from '../lib/matrix';
import { PPCA } from '../lib/models/linear';
import { klWeight, resolveObjective } from '../lib/models/objective';
import { Vae } from '../lib/models/vae';
import { native } from '../lib/native';
import { randn } from './helpers';

const mean = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0) / a.length;
const sd = (a: ArrayLike<number>) => {
  const m = mean(a);
  return Math.sqrt(Array.from(a).reduce((s, v) => s + (v - m) ** 2, 0) / (a.length - 1));
};

let train: Matrix;
let test100: Matrix;
let vae: Vae; // a small Bernoulli VAE trained briefly on an MNIST slice, shared by the evaluation tests

beforeAll(async () => {
  train = headRows((await datasets.mnist({ split: 'train' })).x, 3000);
  test100 = headRows((await datasets.mnist({ split: 'test' })).x, 100);
  vae = new Vae({ inputDim: 784, latentDim: 8, hidden: [128], activation: 'tanh', seed: 1 });
  await vae.fit(train, { epochs: 4, batchSize: 64, learningRate: 2e-3, binarize: true });
});

describe('importance-sampled log-likelihood', () => {
  test('k = 1 equals the ELBO with a Monte-Carlo KL at the same draw, and the analytic ELBO in expectation', async () => {
    const ll1 = await vae.logLikelihood(test100, { k: 1, seed: 4 });
    const mc = await vae.elbo(test100, { samples: 1, seed: 4, kl: 'mc' });
    for (let i = 0; i < ll1.length; i++) expect(Math.abs(ll1[i] - mc.elbo[i])).toBeLessThan(1e-3 * Math.max(1, Math.abs(ll1[i])));
    const analytic = await vae.elbo(test100, { samples: 1, seed: 4 });
    const diff = Array.from(ll1, (v, i) => v - analytic.elbo[i]); // = KL − (log q − log p): zero-mean noise
    expect(Math.abs(mean(diff))).toBeLessThan((4 * sd(diff)) / Math.sqrt(diff.length));
  });

  test('is above the ELBO on average and rises with k; results do not depend on chunking', async () => {
    const elbo = mean((await vae.elbo(test100, { samples: 20 })).elbo);
    const ll = [];
    for (const k of [1, 10, 100, 1000]) ll.push(mean(await vae.logLikelihood(test100, { k, seed: 9 })));
    expect(ll[1]).toBeGreaterThan(elbo);
    for (let i = 1; i < ll.length; i++) expect(ll[i]).toBeGreaterThan(ll[i - 1]);
    // k = 3000 per row spans two native passes (2048 draws each); the first rows alone give the same numbers.
    const all = await vae.logLikelihood(headRows(test100, 3), { k: 3000, seed: 2 });
    const one = await vae.logLikelihood(headRows(test100, 1), { k: 3000, seed: 2 });
    expect(Math.abs(all[0] - one[0])).toBeLessThan(1e-4 * Math.abs(one[0]));
  });

  test('a linear-decoder Gaussian VAE: the IS estimate matches the exact PPCA likelihood of its own parameters', async () => {
    // Data from a PPCA model (d = 6, q = 2, σ = 0.3); the VAE x = W z + b + σ ε with z ~ N(0, I) IS a PPCA model,
    // whose exact log-likelihood the classical module computes.
    const d = 6, q = 2, n = 3000;
    const Wtrue = randn(d * q, 1);
    const z = randn(n * q, 2), noise = randn(n * d, 3);
    const x = matrix(n, d);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < d; j++) {
        let v = 0.5 * j + 0.3 * noise[i * d + j];
        for (let k = 0; k < q; k++) v += Wtrue[j * q + k] * z[i * q + k];
        x.data[i * d + j] = v;
      }
    const lin = new Vae({ inputDim: d, latentDim: q, hidden: [], likelihood: 'gaussian', sigma: 'shared', seed: 3 });
    await lin.fit(x, { epochs: 150, batchSize: 100, learningRate: 1e-2 });
    const { tensors } = lin.parameters();
    const get = (name: string) => tensors.find((t) => t.name === name)!.data;
    const Wdec = get('decoder.out.weight'); // (q, d), input-major
    const W = new Float64Array(d * q);
    for (let j = 0; j < d; j++) for (let k = 0; k < q; k++) W[j * q + k] = Wdec[k * d + j];
    const sigma2 = (lin.sigma as number) ** 2;
    const exact = new Float64Array(n);
    native().classical.linearGaussianLogDensity(x.data, n, d, { nComponents: q, mean: Float64Array.from(get('decoder.out.bias')), W, psi: new Float64Array(d).fill(sigma2) }, exact);
    const est = await lin.logLikelihood(x, { k: 1000, seed: 5 });
    const gap = Array.from(est, (v, i) => v - exact[i]);
    const se = sd(gap) / Math.sqrt(n);
    // IS is a stochastic lower bound: its mean sits at or just below the exact value, within Monte-Carlo error.
    expect(mean(gap)).toBeLessThan(4 * se + 1e-3);
    expect(mean(gap)).toBeGreaterThan(-0.01);
    // And the trained model is close to the maximum-likelihood PPCA fit of the same data.
    const ppca = await new PPCA({ nComponents: q }).fit(x);
    expect(mean(exact)).toBeGreaterThan(ppca.score(x) - 0.02);
    expect(mean(exact)).toBeLessThan(ppca.score(x) + 1e-6);
  }, 30_000);
});

describe('objectives in fit', () => {
  test('IWAE and S-sample ELBO train and log reconstruction, KL and the KL weight per epoch', async () => {
    const m = new Vae({ inputDim: 784, latentDim: 8, hidden: [64], activation: 'tanh', seed: 2 });
    const h = await m.fit(headRows(train, 1000), { epochs: 2, batchSize: 50, objective: 'iwae', k: 5, adamEps: 1e-4 });
    for (const r of h.epochs) {
      expect(r.klWeight).toBe(1);
      expect(r.kl).toBeGreaterThan(0);
      expect(r.trainLoss).toBeLessThan(r.reconstruction + r.kl); // the IWAE bound is tighter than the ELBO
    }
    expect(h.epochs[1].trainLoss).toBeLessThan(h.epochs[0].trainLoss);
    const s = await m.fit(headRows(train, 1000), { epochs: 1, batchSize: 50, samples: 3, beta: 2 });
    expect(s.epochs[0].trainLoss).toBeCloseTo(s.epochs[0].reconstruction + 2 * s.epochs[0].kl, 2);
  });

  test('KL warm-up is a pure linear schedule; the logged weights follow it', async () => {
    const o = resolveObjective({ beta: 2, klWarmup: { epochs: 4, from: 0.5 } });
    expect(klWeight(o, 0, 10)).toBe(1);
    expect(klWeight(o, 20, 10)).toBeCloseTo(2 * (0.5 + 0.5 * 0.5));
    expect(klWeight(o, 40, 10)).toBe(2);
    expect(klWeight(o, 400, 10)).toBe(2);
    expect(klWeight(resolveObjective({ klWarmup: { steps: 100 } }), 50, 10)).toBeCloseTo(0.5);
    const m = new Vae({ inputDim: 784, latentDim: 4, hidden: [32], seed: 2 });
    const h = await m.fit(headRows(train, 500), { epochs: 3, batchSize: 100, klWarmup: { epochs: 2 } });
    // 5 steps per epoch: the weights 0, 0.1, …, 0.9 over the first two epochs, then 1 (logged as each epoch's mean).
    expect(h.epochs[0].klWeight).toBeCloseTo(0.2, 6);
    expect(h.epochs[1].klWeight).toBeCloseTo(0.7, 6);
    expect(h.epochs[2].klWeight).toBe(1);
    // With weight < 1 the optimised loss is below the ELBO's negative.
    expect(h.epochs[0].trainLoss).toBeLessThan(h.epochs[0].reconstruction + h.epochs[0].kl);
  });

  test('free bits keep every dimension’s KL near λ under a strong β; without them the dimensions collapse', async () => {
    const fitWith = async (freeBits: number) => {
      const m = new Vae({ inputDim: 784, latentDim: 4, hidden: [64], seed: 5 });
      await m.fit(headRows(train, 1000), { epochs: 3, batchSize: 50, beta: 8, freeBits });
      return m.klPerDimension(test100);
    };
    const floored = await fitWith(0.5);
    const collapsed = await fitWith(0);
    expect(Math.min(...floored)).toBeGreaterThan(0.3);
    expect(mean(collapsed)).toBeLessThan(mean(floored));
  }, 30_000);
});

describe('likelihoods', () => {
  test("sigma: 'feature' learns a σ per input feature", async () => {
    const n = 2000, stds = [0.1, 0.1, 2, 2];
    const x = matrix(n, 4);
    const e = randn(n * 4, 7);
    for (let i = 0; i < n * 4; i++) x.data[i] = stds[i % 4] * e[i];
    const m = new Vae({ inputDim: 4, latentDim: 1, hidden: [8], activation: 'tanh', likelihood: 'gaussian', sigma: 'feature', seed: 1 });
    await m.fit(x, { epochs: 30, batchSize: 100, learningRate: 1e-2 });
    const s = m.sigmas()!;
    expect(s.length).toBe(4);
    expect(Math.max(s[0], s[1])).toBeLessThan(0.2);
    expect(Math.min(s[2], s[3])).toBeGreaterThan(1);
    expect(m.sample(3, { mode: 'ancestral', seed: 1 }).rows).toBe(3);
  }, 30_000);
});

describe('mixture-of-Gaussians prior', () => {
  test('one standard-normal component reproduces the normal-prior model exactly (IS estimate and Monte-Carlo ELBO)', async () => {
    const normal = new Vae({ inputDim: 784, latentDim: 8, hidden: [128], activation: 'tanh', seed: 1 });
    const mix = new Vae({ inputDim: 784, latentDim: 8, hidden: [128], activation: 'tanh', seed: 1, prior: { mixture: 1 } });
    const flat = mix.parameters();
    const base = vae.parameters().tensors; // the trained model's weights, with p(z) = 1 · N(0, I)
    for (const t of flat.tensors) t.data.set(base.find((b) => b.name === t.name)?.data ?? new Float32Array(t.data.length));
    mix.setParameters(flat.flat);
    normal.setParameters(vae.parameters().flat);
    const x = headRows(test100, 30);
    const a = await mix.logLikelihood(x, { k: 20, seed: 3 }), b = await normal.logLikelihood(x, { k: 20, seed: 3 });
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThan(1e-3 * Math.abs(b[i]));
    const ea = await mix.elbo(x, { seed: 3 }), eb = await normal.elbo(x, { seed: 3, kl: 'mc' });
    for (let i = 0; i < x.rows; i++) expect(Math.abs(ea.elbo[i] - eb.elbo[i])).toBeLessThan(1e-3 * Math.abs(eb.elbo[i]));
  });

  test('on clustered data the learned prior spreads its components over the clusters and sampling draws from it', async () => {
    // Three well-separated clusters in 10 dimensions, one latent dimension each would do.
    const n = 1500, D = 10;
    const noise = randn(n * D, 81);
    const centres = [0, 1, 2].map((c) => Array.from({ length: D }, (_, d) => 3 * Math.cos(c * 2.1 + d)));
    const x = matrix(n, D);
    for (let i = 0; i < n; i++) for (let d = 0; d < D; d++) x.data[i * D + d] = centres[i % 3][d] + 0.3 * noise[i * D + d];
    const mix = new Vae({ inputDim: D, latentDim: 2, hidden: [32], activation: 'tanh', likelihood: 'gaussian', sigma: 'shared', prior: { mixture: 3 }, seed: 2 });
    const h = await mix.fit(x, { epochs: 40, batchSize: 64, learningRate: 3e-3 });
    expect(h.epochs[39].kl).toBeGreaterThan(0); // the Monte-Carlo KL is logged like the closed form
    const prior = mix.priorMixture()!;
    expect(prior.weights.reduce((a, v) => a + v, 0)).toBeCloseTo(1, 6);
    for (const w of prior.weights) expect(w).toBeGreaterThan(0.15);
    // Each cluster's posterior means sit nearest a different prior component.
    const { mean: m } = mix.encode(x);
    const nearest = (i: number) => {
      let best = 0, bestD = Infinity;
      for (let c = 0; c < 3; c++) {
        const dist = (m.data[i * 2] - prior.means[c * 2]) ** 2 + (m.data[i * 2 + 1] - prior.means[c * 2 + 1]) ** 2;
        if (dist < bestD) [best, bestD] = [c, dist];
      }
      return best;
    };
    const owner = [0, 1, 2].map((c) => {
      const votes = [0, 0, 0];
      for (let i = c; i < n; i += 3) votes[nearest(i)]++;
      return votes.indexOf(Math.max(...votes));
    });
    expect(new Set(owner).size).toBe(3);
    // Prior samples decode near the cluster centres (within a few noise widths of the nearest one).
    const samples = mix.sample(60, { seed: 5 });
    let close = 0;
    for (let i = 0; i < 60; i++) {
      const dist = Math.min(...centres.map((c) => Math.sqrt(c.reduce((a, v, d) => a + (samples.data[i * D + d] - v) ** 2, 0) / D)));
      if (dist < 0.6) close++;
    }
    expect(close).toBeGreaterThan(50);
  });
});

describe('conditional VAE', () => {
  const oneHot = (labels: ArrayLike<number>) => {
    const m = matrix(labels.length, 10);
    for (let i = 0; i < labels.length; i++) m.data[i * 10 + labels[i]] = 1;
    return m;
  };
  let cvae: Vae;
  let trainLabels: Uint8Array, testLabels: Uint8Array;
  beforeAll(async () => {
    trainLabels = (await datasets.mnist({ split: 'train' })).labels.subarray(0, train.rows);
    testLabels = (await datasets.mnist({ split: 'test' })).labels.subarray(0, test100.rows);
    cvae = new Vae({ inputDim: 784, latentDim: 4, hidden: [128], activation: 'tanh', conditionDim: 10, seed: 2 });
    await cvae.fit(train, { epochs: 12, batchSize: 64, learningRate: 2e-3, condition: oneHot(trainLabels), validation: test100, validationCondition: oneHot(testLabels) });
  });

  test('the label steers generation: samples under label d are classified as d about as often as real test digits', () => {
    const classMean = Array.from({ length: 10 }, (_, d) => {
      const m = new Float64Array(784);
      let n = 0;
      for (let i = 0; i < train.rows; i++) if (trainLabels[i] === d) { n++; for (let j = 0; j < 784; j++) m[j] += train.data[i * 784 + j]; }
      return m.map((v) => v / n);
    });
    // A nearest-class-mean classifier: weak (~80 % on real digits) but independent of the model.
    const classify = (x: Float32Array, r: number) => {
      const dist = classMean.map((c) => c.reduce((a, v, j) => a + (x[r * 784 + j] - v) ** 2, 0));
      return dist.indexOf(Math.min(...dist));
    };
    let real = 0;
    for (let r = 0; r < test100.rows; r++) if (classify(test100.data, r) === testLabels[r]) real++;
    let right = 0;
    for (let d = 0; d < 10; d++) {
      const x = cvae.sample(10, { seed: 7, condition: oneHot([d]) }); // the same 10 z under every label
      for (let r = 0; r < 10; r++) if (classify(x.data, r) === d) right++;
    }
    expect(right).toBeGreaterThanOrEqual(Math.min(real - 10, 70)); // chance is 10 of 100
  });

  test('the true label explains a test image better than a wrong one; condition rows broadcast and are checked', async () => {
    const ll = await cvae.logLikelihood(test100, { k: 50, condition: oneHot(testLabels) });
    const wrong = await cvae.logLikelihood(test100, { k: 50, condition: oneHot(Array.from(testLabels, (l) => (l + 5) % 10)) });
    expect(mean(ll)).toBeGreaterThan(mean(wrong) + 5);
    const one = cvae.decode(matrix(3, 4), oneHot([2]));
    const three = cvae.decode(matrix(3, 4), oneHot([2, 2, 2]));
    expect(Array.from(one.data)).toEqual(Array.from(three.data));
    expect(() => cvae.decode(matrix(3, 4))).toThrow(/conditionDim 10.*for condition/);
    expect(() => cvae.encode(test100, matrix(100, 9))).toThrow(/for condition/);
    expect(() => cvae.decode(matrix(3, 4), oneHot([1, 2]))).toThrow(/3 rows.*or 1 row.*for condition/);
    expect(() => vae.decode(matrix(1, 8), oneHot([1]))).toThrow(/no condition.*for condition/);
    await expect(cvae.fit(headRows(test100, 10), { epochs: 1 })).rejects.toThrow(/for condition/);
  });
});

describe('aggressive inference-network training', () => {
  test('runs 10…100 encoder-only updates per step while I_q rises, logs phase and I_q, and switches off for good', async () => {
    const m = new Vae({ inputDim: 784, latentDim: 8, hidden: [64], activation: 'tanh', seed: 4 });
    const h = await m.fit(headRows(train, 600), { epochs: 4, batchSize: 100, aggressive: true, validation: test100 });
    const first = h.epochs[0];
    expect(first.aggressive).toBe(true);
    expect(first.encoderSteps).toBeGreaterThanOrEqual(10 * 6); // 6 steps, each checks the inner loss after 10
    expect(first.encoderSteps).toBeLessThanOrEqual(100 * 6);
    for (const r of h.epochs) expect(Number.isFinite(r.mutualInformation)).toBe(true);
    for (let i = 1; i < h.epochs.length; i++) {
      const prev = h.epochs[i - 1];
      // the phase of epoch i is decided by whether I_q rose over epoch i − 1; once off it stays off
      const rose = prev.mutualInformation! > (i >= 2 ? h.epochs[i - 2].mutualInformation! : -Infinity);
      expect(h.epochs[i].aggressive).toBe(prev.aggressive! && rose);
      if (!h.epochs[i].aggressive) expect(h.epochs[i].encoderSteps).toBe(0);
    }
    const plain = await new Vae({ inputDim: 784, latentDim: 8, hidden: [64], seed: 4 }).fit(headRows(train, 200), { epochs: 1, batchSize: 100 });
    expect(plain.epochs[0].aggressive).toBeUndefined();
  }, 30_000);
});

describe('latent diagnostics', () => {
  test('active units, KL per dimension and mutual information are consistent', async () => {
    const au = vae.activeUnits(test100);
    expect(au.perDimension.length).toBe(8);
    expect(au.count).toBe(au.perDimension.filter((v) => v > 0.01).length);
    expect(vae.activeUnits(test100, { threshold: 1e9 }).count).toBe(0);
    const kl = vae.klPerDimension(test100);
    const total = mean((await vae.elbo(test100)).kl);
    expect(kl.reduce((a, b) => a + b, 0)).toBeCloseTo(total, 2);
    const mi = vae.mutualInformation(test100);
    expect(mi).toBeGreaterThan(0.5);
    expect(mi).toBeLessThanOrEqual(Math.log(100) + 1e-9); // I_q ≤ log N for an N-row aggregated posterior
    expect(mi).toBeLessThanOrEqual(total + 1e-6); // and ≤ E KL(q(z|x) || p(z)) (KL = MI + KL(q(z) || p(z)))
  });
});

describe('sampling and uses', () => {
  test('sample modes: mean, ancestral, aggregate from data rows or from a latent mixture', async () => {
    expect(vae.sample(5, { mode: 'aggregate', data: test100, seed: 3 }).rows).toBe(5);
    const a = vae.sample(4, { mode: 'aggregate', data: test100, seed: 3 });
    expect(Array.from(a.data)).toEqual(Array.from(vae.sample(4, { mode: 'aggregate', data: test100, seed: 3 }).data));
    const gmm = await vae.fitLatentMixture(train, { nComponents: 5, covarianceType: 'diag' });
    const g = vae.sample(6, { mode: 'aggregate', latentMixture: gmm, seed: 1 });
    expect(g.rows).toBe(6);
    expect(g.data.every((v) => v >= 0 && v <= 1)).toBe(true);
    const anc = vae.sample(3, { mode: 'ancestral', seed: 2 });
    expect(anc.data.every((v) => v === 0 || v === 1)).toBe(true);
    expect(() => vae.sample(2, { mode: 'aggregate' })).toThrow(/exactly one of data or latentMixture/);
    expect(() => vae.sample(2, { mode: 'mean', data: test100 })).toThrow(/for data/);
  });

  test('interpolate: endpoints decode the posterior means; spherical keeps the norm between the two', () => {
    const xa = headRows(test100, 1), xb = { data: test100.data.subarray(784, 1568), rows: 1, cols: 784 };
    const lin = vae.interpolate(xa, xb, { steps: 5 });
    expect(lin.rows).toBe(5);
    const ends = vae.decode({ data: Float32Array.from([...vae.encode(xa).mean.data, ...vae.encode(xb).mean.data]), rows: 2, cols: 8 });
    for (let j = 0; j < 784; j++) {
      expect(lin.data[j]).toBeCloseTo(ends.data[j], 5);
      expect(lin.data[4 * 784 + j]).toBeCloseTo(ends.data[784 + j], 5);
    }
    const sph = vae.interpolate(xa, xb, { steps: 5, path: 'spherical' });
    expect(sph.rows).toBe(5);
    expect(() => vae.interpolate(test100, xb)).toThrow(/for xa/);
  });

  test('traverse varies one latent dimension over the range', () => {
    const t = vae.traverse(headRows(test100, 2), { dim: 1, range: [-2, 2], steps: 7 });
    expect(t.rows).toBe(14);
    expect(() => vae.traverse(test100, { dim: 8 })).toThrow(/for dim/);
  });

  test('impute keeps observed entries and beats the column-mean fill on hidden pixels', async () => {
    const x = headRows(test100, 50);
    const missing = matrix(50, 784);
    for (let i = 0; i < 50; i++) for (let j = 0; j < 392; j++) missing.data[i * 784 + j] = 1; // top half hidden
    const filled = vae.impute(x, missing, { iterations: 20 });
    const baseline = vae.impute(x, missing, { iterations: 1 });
    let errFill = 0, errMeanFill = 0;
    const colMean = new Float64Array(784);
    for (let i = 0; i < 50; i++) for (let j = 0; j < 784; j++) colMean[j] += x.data[i * 784 + j] / 50;
    for (let i = 0; i < 50 * 784; i++) {
      if (missing.data[i] === 0) expect(filled.data[i]).toBe(x.data[i]);
      else {
        errFill += (filled.data[i] - x.data[i]) ** 2;
        errMeanFill += (colMean[i % 784] - x.data[i]) ** 2;
      }
    }
    expect(errFill).toBeLessThan(errMeanFill);
    expect(baseline.rows).toBe(50);
    expect(() => vae.impute(x, headRows(missing, 3))).toThrow(/for missing/);
  });

  test('anomalyScore is the negative ELBO or negative IS log-likelihood; noise scores above digits', async () => {
    const e = await vae.elbo(test100, { seed: 3 });
    const s = await vae.anomalyScore(test100, { seed: 3 });
    for (let i = 0; i < 100; i++) expect(s[i]).toBeCloseTo(-e.elbo[i], 3);
    const noise = matrix(20, 784);
    const u = new Float32Array(20 * 784);
    native().kernels.rng_uniform_fill(u, u.length, 1, 0, 0);
    noise.data.set(u);
    const iwNoise = mean(await vae.anomalyScore(noise, { method: 'iw', k: 50 }));
    const iwDigits = mean(await vae.anomalyScore(test100, { method: 'iw', k: 50 }));
    expect(iwNoise).toBeGreaterThan(iwDigits);
  });
});

describe('bad input names the option', () => {
  test.each([
    [{ objective: 'iwae', k: 0 }, /for k/],
    [{ freeBits: -0.1 }, /for freeBits/],
    [{ k: 5 }, /for k/],
    [{ objective: 'iwae', freeBits: 1 }, /for freeBits/],
    [{ objective: 'iwae', samples: 3 }, /for samples/],
    [{ objective: 'vi' }, /for objective/],
    [{ beta: -1 }, /for beta/],
    [{ klWarmup: { epochs: 2, steps: 5 } }, /for klWarmup/],
    [{ klWarmup: { epochs: 0 } }, /for klWarmup.epochs/],
    [{ adamEps: 0 }, /for adamEps/],
    [{ aggressive: 'yes' }, /for aggressive/],
  ])('fit(%j)', async (options, message) => {
    await expect(vae.fit(headRows(test100, 10), options as never)).rejects.toThrow(message);
  });

  test('evaluation options', async () => {
    await expect(vae.logLikelihood(test100, { k: 0 })).rejects.toThrow(/for k/);
    await expect(vae.elbo(test100, { kl: 'exact' as never })).rejects.toThrow(/for kl/);
    expect(() => vae.activeUnits(test100, { threshold: -1 })).toThrow(/for threshold/);
    expect(() => vae.mutualInformation(headRows(test100, 1))).toThrow(/at least 2 rows/);
  });

  test('a mixture prior: options and the closed-form-only uses', async () => {
    expect(() => new Vae({ inputDim: 4, latentDim: 2, prior: { mixture: 0 } })).toThrow(/for prior.mixture/);
    expect(() => new Vae({ inputDim: 4, latentDim: 2, prior: 'vamp' as never })).toThrow(/for prior/);
    const mix = new Vae({ inputDim: 784, latentDim: 2, hidden: [8], prior: { mixture: 2 } });
    await expect(mix.fit(headRows(test100, 10), { freeBits: 0.5 })).rejects.toThrow(/prior: 'normal'.*for freeBits/);
    await expect(mix.elbo(test100, { kl: 'analytic' })).rejects.toThrow(/no closed-form KL.*for kl/);
    expect(() => mix.klPerDimension(test100)).toThrow(/prior: 'normal'/);
  });
});

describe('convolutional networks compose with every part of the model', () => {
  // MNIST images cropped to 12×12 (rows 8–19, columns 8–19): big enough for two strided stages, small enough to fit fast.
  const crop = (m: Matrix, n: number) => {
    const out = matrix(n, 144);
    for (let r = 0; r < n; r++) for (let i = 0; i < 12; i++) for (let j = 0; j < 12; j++) out.data[r * 144 + i * 12 + j] = m.data[r * 784 + (i + 8) * 28 + j + 8];
    return out;
  };
  const shape = { inputShape: [1, 12, 12], latentDim: 4, architecture: 'conv' as const, seed: 3 };
  test.each([
    ['bernoulli, normal prior', {}],
    ['gaussian σ(z) from a twin transposed-conv head', { likelihood: 'gaussian' as const, sigma: 'decoder' as const }],
    ['zinb counts (twin dropout head)', { likelihood: 'zinb' as const }],
    ['mixture prior (C = 3)', { prior: { mixture: 3 } }],
    ['conditional on 2 columns', { conditionDim: 2 }],
  ])('%s: fit, elbo, IS log-likelihood, sampling, latent tools, save / load', async (_name, extra) => {
    const counts = (extra as { likelihood?: string }).likelihood === 'zinb';
    const x = crop(train, 256);
    if (counts) x.data.forEach((v, i) => (x.data[i] = Math.round(5 * v)));
    const vae = new Vae({ ...shape, ...extra });
    const Q = vae.options.conditionDim;
    const condition = Q ? { data: Float32Array.from({ length: 256 * Q }, (_, i) => (i % Q === (i >> 1) % Q ? 1 : 0)), rows: 256, cols: Q } : undefined;
    const before = mean((await vae.elbo(x, { condition })).elbo);
    const h = await vae.fit(x, { epochs: 3, batchSize: 32, learningRate: 2e-3, condition });
    expect(h.epochs[2].trainLoss).toBeLessThan(h.epochs[0].trainLoss);
    const after = await vae.elbo(x, { condition });
    expect(mean(after.elbo)).toBeGreaterThan(before);
    const ll = await vae.logLikelihood(headRows(x, 16), { k: 64, condition: condition && headRows(condition, 16) });
    expect(mean(ll)).toBeGreaterThan(mean(after.elbo.subarray(0, 16)) - 2); // the IS bound sits at or above the ELBO
    const one = condition && headRows(condition, 1);
    expect(vae.sample(5, { mode: 'ancestral', seed: 1, condition: one }).rows).toBe(5);
    expect(vae.interpolate(headRows(x, 1), takeRow(x, 1), { steps: 3, condition: one }).rows).toBe(3);
    expect(vae.traverse(headRows(x, 1), { dim: 0, steps: 3, condition: one }).rows).toBe(3);
    expect(Number.isFinite(vae.mutualInformation(headRows(x, 64), { condition: condition && headRows(condition, 64) }))).toBe(true);
    const file = `${require('os').tmpdir()}/latentkit-conv-${process.pid}-${Math.random().toString(36).slice(2)}.safetensors`;
    await vae.save(file);
    const back = await Vae.load(file);
    require('fs').rmSync(file);
    expect(back.options).toEqual(vae.options);
    expect(back.encode(headRows(x, 8), condition && headRows(condition, 8)).mean.data).toEqual(vae.encode(headRows(x, 8), condition && headRows(condition, 8)).mean.data);
  }, 60_000);
});

function takeRow(m: Matrix, r: number): Matrix {
  return { data: m.data.slice(r * m.cols, (r + 1) * m.cols), rows: 1, cols: m.cols };
}

// test/scripts/distributed-classical.js — node distributed-classical.js <out.json> [distributed]: fits a
// GaussianMixture (full, init 'random'; and from k-means, k-means++ and rows of the data), PCA, PPCA (EM),
// FactorAnalysis (SVD, and sampling EM) on a seeded 901-row
// set; under mpirun with 'distributed' each rank fits on its shard of the rows (rank r of n: rows ⌊901 r / n⌋ …,
// the shards in rank order) with fit({ distributed: true }). Rank 0 (or the one process) writes every fitted
// parameter to out.json. Used by test/distributed.test.ts.
const fs = require('fs');
const path = require('path');
const lk = require(path.join(__dirname, '..', '..', 'dist'));

(async () => {
  const [out, mode] = process.argv.slice(2);
  const distributed = mode === 'distributed';
  const rows = 901, d = 8;
  const data = new Float32Array(rows * d);
  const noise = new Float32Array(rows * d);
  lk.native().kernels.rng_normal_fill(noise, noise.length, 7, 0, 0);
  for (let i = 0; i < rows; i++) for (let j = 0; j < d; j++) data[i * d + j] = noise[i * d + j] * (1 + j / 4) + 3 * ((i % 3) - 1) * (j < 4 ? 1 : -0.5) + 0.3 * noise[i * d + ((j + 1) % d)];
  const group = distributed ? lk.processGroup() : null;
  const [r, n] = group ? [group.rank, group.size] : [0, 1];
  const lo = Math.floor((rows * r) / n), hi = Math.floor((rows * (r + 1)) / n);
  const x = { data: data.subarray(lo * d, hi * d), rows: hi - lo, cols: d };
  const fit = { distributed };
  const gmm = await new lk.GaussianMixture({ nComponents: 3, covarianceType: 'full', init: 'random', maxIter: 30, tol: 0, seed: 1 }).fit(x, fit);
  // The initialisations from the data: k-means (k-means++ seeding, Lloyd's iterations), k-means++ alone, K rows drawn.
  const mixture = (o) => new lk.GaussianMixture({ nComponents: 3, seed: 2, ...o }).fit(x, fit);
  const kmeans = await mixture({ covarianceType: 'full', init: 'kmeans' });
  const plusPlus = await mixture({ covarianceType: 'diag', init: 'k-means++' });
  const fromData = await mixture({ covarianceType: 'spherical', init: 'random_from_data', nInit: 2 });
  const pca = await new lk.PCA({ nComponents: 3 }).fit(x, fit);
  const ppca = await new lk.PPCA({ nComponents: 3, method: 'em', maxIter: 30, tol: 0 }).fit(x, fit);
  const fa = await new lk.FactorAnalysis({ nComponents: 3 }).fit(x, fit);
  const sampled = await new lk.FactorAnalysis({ nComponents: 2, method: 'em', estep: 'sample', samples: 2, maxIter: 5, seed: 3 }).fit(x, fit);
  if (r !== 0) return;
  const a = (v) => Array.from(v);
  fs.writeFileSync(out, JSON.stringify({
    size: n, gmm: { bound: gmm.lowerBound, bounds: gmm.lowerBounds, params: [...a(gmm.weights), ...a(gmm.means.data), ...a(gmm.covariances.data)] },
    ...Object.fromEntries([['gmmKmeans', kmeans], ['gmmPlusPlus', plusPlus], ['gmmFromData', fromData]].map(([k, m]) =>
      [k, { bound: m.lowerBound, iterations: m.nIter, params: [...a(m.weights), ...a(m.means.data), ...a(m.covariances.data)] }])),
    pca: { params: [...a(pca.components.data), ...a(pca.explainedVariance), ...a(pca.mean), pca.noiseVariance] },
    ppca: { bound: ppca.loglike.at(-1), params: [...a(ppca.components.data), ppca.noiseVariance] },
    fa: { bound: fa.loglike.at(-1), params: [...a(fa.components.data), ...a(fa.noiseVariance)] },
    sampled: { params: [...a(sampled.components.data), ...a(sampled.noiseVariance)] },
  }));
})().catch((e) => {
  console.error(`rank error: ${e.code ?? ''} ${e.message}`);
  process.exit(1);
});

#!/usr/bin/env node
// bench/classical_vs_sklearn.js — seconds per EM iteration of latentkit vs scikit-learn (Debian python3-sklearn),
// side by side in one run: GaussianMixture(10 components, diag and full) on the 50-dimensional PCA features of the
// MNIST training set, and FactorAnalysis(20) on MNIST itself (60,000 × 784). Per-iteration time = (fit with
// maxIter M − fit with maxIter 1) / (M − 1), both with tol 0 so every iteration runs; initialisation
// random_from_data for the mixtures (cheap and the same kind in both). Both use all cores (numpy's OpenBLAS
// threads; latentkit's OpenMP team). Also reports the mean log-likelihood each reaches after M iterations.
// Usage: node bench/classical_vs_sklearn.js [--rounds 3] [--iters 11]   (needs `npm run build:ts` and python3-sklearn)
// Writes bench/results/classical_vs_sklearn.json and prints a Markdown table.
'use strict';
const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { parseArgs } = require('util');
const { GaussianMixture, FactorAnalysis, PCA, datasets, encodeNpy } = require('../dist');

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, iters: { type: 'string', default: '11' },
  python: { type: 'string', default: '/usr/bin/python3' } } });
const rounds = Number(values.rounds), M = Number(values.iters);
const median = (a) => { const s = [...a].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

async function seconds(fn) {
  const t0 = performance.now();
  const r = await fn();
  return [(performance.now() - t0) / 1000, r];
}

function latentkitModel(name, maxIter) {
  if (name === 'fa') return new FactorAnalysis({ nComponents: 20, tol: 0, maxIter });
  return new GaussianMixture({ nComponents: 10, covarianceType: name.slice(4), init: 'random_from_data', tol: 0, maxIter, seed: 0 });
}

(async () => {
  process.removeAllListeners('warning'); // tol 0: a ConvergenceWarning per fit is expected; print the others
  process.on('warning', (w) => { if (w.name !== 'ConvergenceWarning') console.error(w); });
  const mnist = (await datasets.mnist({ split: 'train' })).x;
  const pca = await new PCA({ nComponents: 50 }).fit(mnist);
  const features = pca.transform(mnist);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'latentkit-classical-bench-'));
  const files = { features: path.join(dir, 'features.npy'), mnist: path.join(dir, 'mnist.npy') };
  fs.writeFileSync(files.features, encodeNpy(features));
  fs.writeFileSync(files.mnist, encodeNpy(mnist));
  const cases = [
    { name: 'gmm-diag', label: 'GaussianMixture(10, diag), MNIST PCA-50 features', data: features, file: files.features },
    { name: 'gmm-full', label: 'GaussianMixture(10, full), MNIST PCA-50 features', data: features, file: files.features },
    { name: 'fa', label: 'FactorAnalysis(20), MNIST 60000 × 784', data: mnist, file: files.mnist },
  ];
  const rows = [];
  let sklearnVersion = '';
  try {
    for (const c of cases) {
      const lk = { one: [], many: [], score: NaN };
      const sk = { one: [], many: [], score: NaN };
      for (let r = 0; r < rounds; r++) {
        lk.one.push((await seconds(() => latentkitModel(c.name, 1).fit(c.data)))[0]);
        const [t, m] = await seconds(() => latentkitModel(c.name, M).fit(c.data));
        lk.many.push(t);
        lk.score = m.score(c.data);
        const out = JSON.parse(execFileSync(values.python, [path.join(__dirname, 'sklearn_classical.py'), c.file, c.name, String(M), '1'], { encoding: 'utf8' }).trim().split('\n').pop());
        sklearnVersion = out.sklearn;
        sk.one.push(...out.one);
        sk.many.push(...out.many);
        sk.score = out.score;
        process.stderr.write(`${c.name} round ${r + 1}/${rounds}: latentkit ${lk.many[r].toFixed(2)} s, scikit-learn ${sk.many[r].toFixed(2)} s for ${M} iterations\n`);
      }
      const perIter = (s) => (median(s.many) - median(s.one)) / (M - 1);
      rows.push({ model: c.label, latentkitSecondsPerIter: perIter(lk), sklearnSecondsPerIter: perIter(sk), ratio: perIter(sk) / perIter(lk),
        latentkitScore: lk.score, sklearnScore: sk.score, latentkit: lk, sklearn: sk });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const summary = { date: new Date().toISOString(), cpu: os.cpus()[0].model, cores: os.cpus().length, sklearn: sklearnVersion, rounds, iterations: M, rows };
  fs.writeFileSync(path.join(__dirname, 'results', 'classical_vs_sklearn.json'), JSON.stringify(summary, null, 2) + '\n');
  console.log(`| model | latentkit s/iter | scikit-learn ${sklearnVersion} s/iter | speed-up | mean log-lik after ${M} iters (latentkit / scikit-learn) |`);
  console.log('|---|---|---|---|---|');
  for (const r of rows)
    console.log(`| ${r.model} | ${r.latentkitSecondsPerIter.toFixed(4)} | ${r.sklearnSecondsPerIter.toFixed(4)} | ${r.ratio.toFixed(1)}× | ${r.latentkitScore.toFixed(2)} / ${r.sklearnScore.toFixed(2)} |`);
  console.log(`\nmedians over ${rounds} rounds; per-iteration = (fit with maxIter ${M} − fit with maxIter 1) / ${M - 1}`);
})().catch((e) => { console.error(e); process.exit(1); });

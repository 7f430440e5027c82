#!/usr/bin/env node
// bench/gmm_default_fit.js — the whole default GaussianMixture fit, latentkit vs scikit-learn side by side in one run:
// GaussianMixture(10) full and diag at each library's defaults (k-means initialisation — greedy k-means++ seeding,
// Lloyd to scikit-learn's tolerance — then EM to tol 1e-3) on the 60,000 × 50 PCA features of MNIST, once per seed.
// Reports median whole-fit seconds and their ratio, the final log-likelihood per row (mean, worst, best), and how many
// fits ended in a poor optimum (more than 0.5 nats/row below the best fit of either library). Both use all cores.
// Usage: node bench/gmm_default_fit.js [--seeds 10]   (needs `npm run build:ts` and python3-sklearn)
// Writes bench/results/gmm_default_fit.json and prints a Markdown table.
'use strict';
const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { parseArgs } = require('util');
const { GaussianMixture, PCA, datasets, encodeNpy, native } = require('../dist');

const { values } = parseArgs({ options: { seeds: { type: 'string', default: '10' }, python: { type: 'string', default: '/usr/bin/python3' } } });
const seeds = Array.from({ length: Number(values.seeds) }, (_, i) => i);
const median = (a) => { const s = [...a].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const mean = (a) => a.reduce((s, v) => s + v, 0) / a.length;

(async () => {
  process.removeAllListeners('warning');
  process.on('warning', (w) => { if (w.name !== 'ConvergenceWarning') console.error(w); });
  const mnist = (await datasets.mnist({ split: 'train' })).x;
  const features = (await new PCA({ nComponents: 50 }).fit(mnist)).transform(mnist);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'latentkit-gmm-bench-'));
  const file = path.join(dir, 'features.npy');
  fs.writeFileSync(file, encodeNpy(features));
  const rows = [];
  let sklearnVersion = '';
  try {
    for (const type of ['diag', 'full']) {
      const lk = [];
      for (const seed of seeds) {
        const t0 = performance.now();
        const g = await new GaussianMixture({ nComponents: 10, covarianceType: type, seed }).fit(features);
        lk.push({ seed, seconds: (performance.now() - t0) / 1000, score: g.score(features), nIter: g.nIter, converged: g.converged });
        process.stderr.write(`latentkit ${type} seed ${seed}: ${lk.at(-1).seconds.toFixed(2)} s, ${lk.at(-1).score.toFixed(3)}\n`);
      }
      const out = JSON.parse(execFileSync(values.python, [path.join(__dirname, 'sklearn_gmm_default.py'), file, type, '10', seeds.join(',')], { encoding: 'utf8' }).trim().split('\n').pop());
      sklearnVersion = out.sklearn;
      const sk = out.fits;
      for (const f of sk) process.stderr.write(`scikit-learn ${type} seed ${f.seed}: ${f.seconds.toFixed(2)} s, ${f.score.toFixed(3)}\n`);
      const bestScore = Math.max(...lk.map((f) => f.score), ...sk.map((f) => f.score));
      const poor = (fits) => fits.filter((f) => f.score < bestScore - 0.5).length;
      rows.push({ type, latentkitMedianSeconds: median(lk.map((f) => f.seconds)), sklearnMedianSeconds: median(sk.map((f) => f.seconds)),
        speedup: median(sk.map((f) => f.seconds)) / median(lk.map((f) => f.seconds)),
        latentkitMeanScore: mean(lk.map((f) => f.score)), sklearnMeanScore: mean(sk.map((f) => f.score)), bestScore,
        latentkitWorstScore: Math.min(...lk.map((f) => f.score)), sklearnWorstScore: Math.min(...sk.map((f) => f.score)),
        latentkitPoorOptima: poor(lk), sklearnPoorOptima: poor(sk), latentkit: lk, sklearn: sk });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const summary = { date: new Date().toISOString(), cpu: os.cpus()[0].model, cores: os.cpus().length, onednnIsa: native().info().isa, sklearn: sklearnVersion,
    seeds: seeds.length, rows };
  fs.writeFileSync(path.join(__dirname, 'results', 'gmm_default_fit.json'), JSON.stringify(summary, null, 2) + '\n');
  console.log(`${summary.cpu}, ${summary.cores} cores; scikit-learn ${sklearnVersion}; ${seeds.length} seeds`);
  console.log('| GaussianMixture(10), MNIST PCA-50 | latentkit whole fit (median s) | scikit-learn (median s) | speed-up | log-lik / row, mean (worst … best), latentkit | scikit-learn | fits > 0.5 below the best (latentkit / scikit-learn) |');
  console.log('|---|---|---|---|---|---|---|');
  const range = (fits, m) => `${m.toFixed(3)} (${Math.min(...fits.map((f) => f.score)).toFixed(2)} … ${Math.max(...fits.map((f) => f.score)).toFixed(2)})`;
  for (const r of rows)
    console.log(`| ${r.type} | ${r.latentkitMedianSeconds.toFixed(2)} | ${r.sklearnMedianSeconds.toFixed(2)} | ${r.speedup.toFixed(1)}× | ${range(r.latentkit, r.latentkitMeanScore)} | ${range(r.sklearn, r.sklearnMeanScore)} | ${r.latentkitPoorOptima} / ${r.sklearnPoorOptima} of ${seeds.length} |`);
})().catch((e) => { console.error(e); process.exit(1); });

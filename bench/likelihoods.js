#!/usr/bin/env node
// bench/likelihoods.js — what each decoder likelihood costs in the fused training step. One architecture
// (D-128-10, ReLU, batch 128, Adam) trained on the same synthetic single-cell-like counts (D = 2,000 features,
// 10,000 rows, rank-3 log-means, NB noise with θ = 2, 30 % extra zeros), once per likelihood; the Gaussian with a
// fixed σ is the baseline whose step is nearly all GEMM. Reported: median examples/s over 3 epochs after a warm-up
// epoch, the ratio to the baseline, and the held-out IS log-likelihood (k = 50) of each count model to show which
// fits. Usage: node bench/likelihoods.js [--rows 10000] [--features 2000] (needs `npm run build:ts`).
// Writes bench/results/likelihoods.json.
'use strict';
const fs = require('fs');
const path = require('path');
const { parseArgs } = require('util');
const { Vae } = require('../dist');
const { negativeBinomial, UniformStream } = require('../dist/sampling');

const { values } = parseArgs({ options: { rows: { type: 'string', default: '10000' }, features: { type: 'string', default: '2000' } } });
const N = Number(values.rows), D = Number(values.features), held = 500;
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const mean = (a) => Array.from(a).reduce((s, v) => s + v, 0) / a.length;

function countData(rows, seed) {
  const u = new UniformStream(seed, 1);
  const x = new Float32Array(rows * D);
  for (let i = 0; i < rows; i++) {
    const t = [u.normal(), u.normal(), u.normal()];
    for (let d = 0; d < D; d++) {
      const eta = -1 + 0.7 * Math.sin(d) + 0.6 * (t[0] * Math.cos(d) + t[1] * Math.sin(2 * d) + t[2] * Math.cos(3 * d));
      x[i * D + d] = u.next() < 0.3 ? 0 : negativeBinomial(Math.exp(eta), 2, u);
    }
  }
  return { data: x, rows, cols: D };
}

(async () => {
  const train = countData(N, 1), test = countData(held, 2);
  const configs = [
    ['gaussian, fixed σ (baseline)', { likelihood: 'gaussian', sigma: 1 }],
    ['gaussian, σ(z) decoder head', { likelihood: 'gaussian', sigma: 'decoder' }],
    ['laplace, per-feature scale', { likelihood: 'laplace', sigma: 'feature' }],
    ['poisson', { likelihood: 'poisson', library: 'none' }],
    ['nb', { likelihood: 'nb', library: 'none' }],
    ['zinb', { likelihood: 'zinb', library: 'none' }],
  ];
  const rows = [];
  for (const [name, options] of configs) {
    const vae = new Vae({ inputDim: D, latentDim: 10, hidden: [128], seed: 0, ...options });
    const h = await vae.fit(train, { epochs: 4, batchSize: 128, learningRate: 1e-3 });
    const rate = median(h.epochs.slice(1).map((e) => e.examplesPerSec));
    const ll = options.likelihood === 'gaussian' || options.likelihood === 'laplace' ? null : mean(await vae.logLikelihood(test, { k: 50 }));
    rows.push({ name, examplesPerSec: rate, testLogLikelihood: ll });
    process.stderr.write(`${name}: ${rate.toFixed(0)} examples/s${ll === null ? '' : `, held-out IS log-likelihood ${ll.toFixed(1)}`}\n`);
  }
  const base = rows[0].examplesPerSec;
  for (const r of rows) r.ratioToBaseline = r.examplesPerSec / base;
  console.log('| likelihood | examples/s | vs baseline | held-out log p(x) (k = 50) |\n|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.name} | ${r.examplesPerSec.toFixed(0)} | ${r.ratioToBaseline.toFixed(2)}× | ${r.testLogLikelihood === null ? '—' : r.testLogLikelihood.toFixed(1)} |`);
  const out = path.join(__dirname, 'results', 'likelihoods.json');
  fs.writeFileSync(out, JSON.stringify({ rows: N, features: D, heldOut: held, architecture: `${D}-128-10 relu`, batch: 128, results: rows }, null, 2) + '\n');
})().catch((e) => {
  console.error(e);
  process.exit(1);
});

#!/usr/bin/env node
// bench/sparse.js — fitting from a CSR matrix against its dense twin, on synthetic counts of --cells × --genes at
// --density: a ZINB VAE (genes-128-10, batch 128, examples/s), a diagonal GaussianMixture (10 components, 10 EM
// iterations from random_from_data, seconds per fit) and PCA (20 components, seconds per fit). Each case alternates
// the two forms for --rounds rounds and reports the medians, the CSR/dense ratio of speeds, whether the two fitted
// models are bit-identical, and the bytes each form holds.
// Usage: node bench/sparse.js [--cells 20000] [--genes 2000] [--density 0.05] [--epochs 2] [--rounds 3]
// [--threads 2] (needs `npm run build:ts`). Writes bench/results/sparse.json.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { GaussianMixture, PCA, Vae, native } = require('../dist');

const { arg, median } = require('./args');
const cells = Number(arg('cells', 20000)), genes = Number(arg('genes', 2000)), density = Number(arg('density', 0.05));
const epochs = Number(arg('epochs', 2)), rounds = Number(arg('rounds', 3)), threads = Number(arg('threads', 2));

// Counts: each entry non-zero with probability `density`, then 1 + a geometric-ish count (a seeded LCG).
let state = 12345;
const uniform = () => ((state = (state * 1103515245 + 12345) >>> 0) / 2 ** 32);
const indptr = new Int32Array(cells + 1), indices = [], values = [];
const dense = { data: new Float32Array(cells * genes), rows: cells, cols: genes };
for (let r = 0; r < cells; r++) {
  for (let c = 0; c < genes; c++)
    if (uniform() < density) {
      const v = 1 + Math.floor(-Math.log(1 - uniform()) * 3);
      indices.push(c);
      values.push(v);
      dense.data[r * genes + c] = v;
    }
  indptr[r + 1] = indices.length;
}
const csr = { indptr, indices: Int32Array.from(indices), data: Float32Array.from(values), rows: cells, cols: genes };

// Each case fits a fresh model on x: its speed (higher is better) and the fitted model's bytes.
const cases = {
  vae: { unit: 'examples/s', async run(x) {
    const vae = new Vae({ inputDim: genes, latentDim: 10, hidden: [128], likelihood: 'zinb', seed: 1 });
    const h = await vae.fit(x, { epochs, threads, batchSize: 128 });
    return { speed: h.epochs.reduce((s, e) => s + e.examplesPerSec, 0) / h.epochs.length, model: Buffer.from(vae.parameters().flat.buffer) };
  } },
  gmm: { unit: 'fits/s', async run(x) {
    const t0 = performance.now();
    const g = await new GaussianMixture({ nComponents: 10, covarianceType: 'diag', init: 'random_from_data', maxIter: 10, tol: 0, threads }).fit(x);
    return { speed: 1000 / (performance.now() - t0), model: Buffer.concat([g.means.data, g.covariances.data, Float64Array.from(g.lowerBounds)].map((a) => Buffer.from(a.buffer))) };
  } },
  pca: { unit: 'fits/s', async run(x) {
    const t0 = performance.now();
    const p = await new PCA({ nComponents: 20, threads }).fit(x);
    return { speed: 1000 / (performance.now() - t0), model: Buffer.concat([p.components.data, p.explainedVariance].map((a) => Buffer.from(a.buffer))) };
  } },
};

(async () => {
  process.removeAllListeners('warning'); // tol 0: the mixture's ConvergenceWarning is expected
  const bytes = { dense: dense.data.byteLength, csr: csr.indptr.byteLength + csr.indices.byteLength + csr.data.byteLength };
  const result = { date: new Date().toISOString(), cpu: os.cpus()[0].model, isa: native().info().isa, threads, cells, genes,
    density: csr.indices.length / (cells * genes), epochs, rounds, bytes, cases: {} };
  process.stdout.write(`CPU ${result.cpu}, oneDNN ISA ${result.isa}, ${threads} threads; ${cells} × ${genes} counts at density ${result.density.toFixed(4)}; ` +
    `dense ${(bytes.dense / 2 ** 20).toFixed(1)} MiB, CSR ${(bytes.csr / 2 ** 20).toFixed(1)} MiB\n`);
  for (const [name, c] of Object.entries(cases)) {
    const speed = { dense: [], csr: [] };
    let identical = true;
    for (let r = 0; r < rounds; r++) {
      const model = {};
      for (const form of r % 2 ? ['csr', 'dense'] : ['dense', 'csr']) {
        const out = await c.run(form === 'csr' ? csr : dense);
        speed[form].push(out.speed);
        model[form] = out.model;
      }
      identical = identical && model.dense.equals(model.csr);
    }
    const m = { dense: median(speed.dense), csr: median(speed.csr) };
    result.cases[name] = { unit: c.unit, median: m, all: speed, ratio: m.csr / m.dense, identical };
    process.stdout.write(`${name}: dense ${m.dense.toPrecision(4)} ${c.unit}, CSR ${m.csr.toPrecision(4)} ${c.unit}: CSR/dense ${(m.csr / m.dense).toFixed(3)}; ` +
      `fitted models identical: ${identical}\n`);
  }
  fs.writeFileSync(path.join(__dirname, 'results', 'sparse.json'), JSON.stringify(result, null, 2) + '\n');
})().catch((e) => {
  console.error(e);
  process.exit(1);
});

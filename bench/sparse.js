#!/usr/bin/env node
// bench/sparse.js — training from a CSR matrix against its dense twin: a ZINB VAE (genes-128-10, batch 128) on
// synthetic counts of --cells × --genes at --density, the two fits alternated for --rounds rounds; the median
// examples/s of each, their ratio, whether the two trained models are bit-identical, and the bytes each form holds.
// Usage: node bench/sparse.js [--cells 20000] [--genes 2000] [--density 0.05] [--epochs 2] [--rounds 3]
// [--threads 2] (needs `npm run build:ts`). Writes bench/results/sparse.json.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { Vae, native } = require('../dist');

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1];
};
const cells = Number(arg('cells', 20000)), genes = Number(arg('genes', 2000)), density = Number(arg('density', 0.05));
const epochs = Number(arg('epochs', 2)), rounds = Number(arg('rounds', 3)), threads = Number(arg('threads', 2));
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];

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

(async () => {
  const options = { inputDim: genes, latentDim: 10, hidden: [128], likelihood: 'zinb', seed: 1 };
  const rate = { dense: [], csr: [] };
  let identical = true;
  for (let r = 0; r < rounds; r++) {
    const params = {};
    for (const form of r % 2 ? ['csr', 'dense'] : ['dense', 'csr']) {
      const vae = new Vae(options);
      const h = await vae.fit(form === 'csr' ? csr : dense, { epochs, threads, batchSize: 128 });
      rate[form].push(h.epochs.reduce((s, e) => s + e.examplesPerSec, 0) / h.epochs.length);
      params[form] = Buffer.from(vae.parameters().flat.buffer);
    }
    identical = identical && params.dense.equals(params.csr);
  }
  const bytes = { dense: dense.data.byteLength, csr: csr.indptr.byteLength + csr.indices.byteLength + csr.data.byteLength };
  const result = { date: new Date().toISOString(), cpu: os.cpus()[0].model, isa: native().info().isa, threads, cells, genes,
    density: csr.indices.length / (cells * genes), epochs, rounds, examplesPerSec: { dense: median(rate.dense), csr: median(rate.csr) },
    all: rate, ratio: median(rate.csr) / median(rate.dense), identical, bytes };
  process.stdout.write(`CPU ${result.cpu}, oneDNN ISA ${result.isa}, ${threads} threads; ${cells} × ${genes} counts at density ${result.density.toFixed(4)}\n` +
    `dense ${result.examplesPerSec.dense.toFixed(0)} ex/s (${(bytes.dense / 2 ** 20).toFixed(1)} MiB), CSR ${result.examplesPerSec.csr.toFixed(0)} ex/s ` +
    `(${(bytes.csr / 2 ** 20).toFixed(1)} MiB): CSR/dense ${result.ratio.toFixed(3)}; trained models identical: ${identical}\n`);
  fs.writeFileSync(path.join(__dirname, 'results', 'sparse.json'), JSON.stringify(result, null, 2) + '\n');
})().catch((e) => {
  console.error(e);
  process.exit(1);
});

#!/usr/bin/env node
// bench/contention.js — throughput when other processes compete for the cores: the default VAE (784-400-20, MNIST,
// batch 128) at 1 and 2 threads and a full-covariance GaussianMixture fit (10 components on 20,000 × 50 PCA-like
// features), quiet and with 1 and 2 busy-looping processes beside them. The fair share of a job is its quiet
// throughput × the share of the cores it can get: cores / (its threads + busy loops) of its threads, at most 1.
// The median of --rounds measurements each. BENCH_ENV (JSON) adds environment variables to the measured processes,
// e.g. '{"GOMP_SPINCOUNT":"300000"}' for libgomp's own default instead of latentkit's (lib/native.ts).
// Usage: node bench/contention.js [--rows 20000] [--epochs 2] [--rounds 3] (needs `npm run build:ts`). Each
// measurement runs in a child process so the OpenMP settings it starts with are its own. Writes
// bench/results/contention[-BENCH_TAG].json.
'use strict';
const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const { arg, median } = require('./args');
const rows = Number(arg('rows', 20000)), epochs = Number(arg('epochs', 2)), rounds = Number(arg('rounds', 3));

// One measurement in a child: { vae: examples/s of epochs after the first } or { gmm: seconds }.
const CHILD = `
const { Vae, GaussianMixture, datasets, headRows } = require(${JSON.stringify(path.join(__dirname, '..', 'dist'))});
(async () => {
  const [what, threads] = [process.argv[1], Number(process.argv[2])];
  const x = headRows((await datasets.mnist({ split: 'train' })).x, ${rows});
  if (what === 'vae') {
    const h = await new Vae({ inputDim: 784, latentDim: 20, hidden: [400], seed: 0 }).fit(x, { epochs: ${epochs} + 1, threads });
    const rest = h.epochs.slice(1);
    console.log(JSON.stringify({ value: rest.reduce((a, e) => a + e.examplesPerSec, 0) / rest.length }));
  } else {
    const d = 50, f = new Float32Array(x.rows * d);
    for (let r = 0; r < x.rows; r++) for (let j = 0; j < d; j++) { let s = 0; for (let k = j; k < 784; k += d) s += x.data[r * 784 + k]; f[r * d + j] = s; }
    const t0 = performance.now();
    await new GaussianMixture({ nComponents: 10, covarianceType: 'full', seed: 0, threads, maxIter: 30, tol: 0 }).fit({ data: f, rows: x.rows, cols: d });
    console.log(JSON.stringify({ value: (performance.now() - t0) / 1000 }));
  }
})();`;

function measure(what, threads, env) {
  const r = spawnSync(process.execPath, ['-e', CHILD, what, String(threads)], { encoding: 'utf8', env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()).value;
}

function busyLoops(n) {
  return Array.from({ length: n }, () => spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
}

(async () => {
  const cores = os.availableParallelism ? os.availableParallelism() : os.cpus().length;
  const env = process.env.BENCH_ENV ? JSON.parse(process.env.BENCH_ENV) : {};
  const result = { date: new Date().toISOString(), cpu: os.cpus()[0].model, cores, rows, epochs, rounds, env, runs: [] };
  for (const [what, threads] of [['vae', 1], ['vae', 2], ['gmm', 2]]) {
    const quiet = median(Array.from({ length: rounds }, () => measure(what, threads, env)));
    for (const busy of [0, 1, 2]) {
      const values = [];
      for (let r = 0; r < rounds && busy > 0; r++) {
        const loops = busyLoops(busy);
        await new Promise((done) => setTimeout(done, 300));
        values.push(measure(what, threads, env));
        loops.forEach((p) => p.kill('SIGKILL'));
      }
      const value = busy === 0 ? quiet : median(values);
      const share = Math.min(1, cores / (threads + busy));
      const fair = what === 'vae' ? quiet * share : quiet / share;
      const ofFair = what === 'vae' ? value / fair : fair / value;
      const run = { what, threads, busyLoops: busy, value, unit: what === 'vae' ? 'examples/s' : 's', fairShare: fair, ofFairShare: ofFair };
      result.runs.push(run);
      console.log(JSON.stringify(run));
    }
  }
  fs.writeFileSync(path.join(__dirname, 'results', `contention${process.env.BENCH_TAG ? '-' + process.env.BENCH_TAG : ''}.json`), JSON.stringify(result, null, 2) + '\n');
})().catch((e) => { console.error(e); process.exit(1); });

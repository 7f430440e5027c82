#!/usr/bin/env node
// bench/many_models.js — many models in one process on the compute pool (native/binding/executor.h): N VAEs
// (784-400-20, MNIST, the default batch 128) trained concurrently at 1 thread each, against the same N trained one
// after another at the whole budget; aggregate and per-model examples/s, the median of `--rounds` rounds (alternating
// the two ways), and whether each concurrent model's parameters equal the same model trained alone at 1 thread.
// Usage: node bench/many_models.js [--models 2,4] [--rows 20000] [--epochs 2] [--rounds 3] (needs `npm run build:ts`).
// Writes bench/results/many_models.json.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { Vae, datasets, headRows, native } = require('../dist');

const { arg, median } = require('./args');
const counts = arg('models', '2,4').split(',').map(Number);
const rows = Number(arg('rows', 20000)), epochs = Number(arg('epochs', 2)), rounds = Number(arg('rounds', 3));
const model = (seed) => new Vae({ inputDim: 784, latentDim: 20, hidden: [400], seed });

(async () => {
  const x = headRows((await datasets.mnist({ split: 'train' })).x, rows);
  const cores = native().info().cores;
  const result = { date: new Date().toISOString(), cpu: os.cpus()[0].model, isa: native().info().isa, cores, rows, epochs, runs: [] };
  for (const n of counts) {
    const seq = [], conc = [], perModel = [];
    let equal = true;
    for (let r = 0; r < rounds; r++) {
      let t0 = performance.now();
      for (let i = 0; i < n; i++) await model(i).fit(x, { epochs, threads: 0 });
      seq.push((n * rows * epochs) / ((performance.now() - t0) / 1000));
      const vaes = Array.from({ length: n }, (_, i) => model(i));
      t0 = performance.now();
      const each = await Promise.all(vaes.map(async (v) => {
        const s = performance.now();
        await v.fit(x, { epochs, threads: 1 });
        return (rows * epochs) / ((performance.now() - s) / 1000);
      }));
      conc.push((n * rows * epochs) / ((performance.now() - t0) / 1000));
      perModel.push(...each);
      if (r === 0) {
        for (let i = 0; i < n; i++) {
          const alone = model(i);
          await alone.fit(x, { epochs, threads: 1 });
          equal = equal && Buffer.from(alone.parameters().flat.buffer).equals(Buffer.from(vaes[i].parameters().flat.buffer));
        }
      }
    }
    const run = { models: n, sequentialAllThreadsExPerSec: median(seq), concurrentOneThreadExPerSec: median(conc), ratio: median(conc) / median(seq),
      perModelExPerSec: median(perModel), concurrentEqualsAlone: equal };
    result.runs.push(run);
    console.log(JSON.stringify(run));
  }
  console.log(`${result.cpu}, ${result.isa}, budget ${cores} cores`);
  fs.writeFileSync(path.join(__dirname, 'results', 'many_models.json'), JSON.stringify(result, null, 2) + '\n');
})().catch((e) => { console.error(e); process.exit(1); });

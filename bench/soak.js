#!/usr/bin/env node
// bench/soak.js — memory over a long run. (1) Trains the default MNIST VAE (784-400-20, batch 128) for --minutes
// (default 30), sampling the process's RSS every 10 s: start (after the first epoch), peak, end, and the growth per
// epoch fitted over the second half. (2) 10,000 rounds of encode / decode / sample / elbo on 64 rows each after 500
// rounds of warm-up: RSS before and after. Usage: node bench/soak.js [--minutes 30] [--rounds 10000]
// (needs `npm run build:ts`). Writes bench/results/soak.json.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { parseArgs } = require('util');
const { Vae, datasets, native } = require('../dist');

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '30' }, rounds: { type: 'string', default: '10000' } } });
const mb = () => process.memoryUsage().rss / 2 ** 20;

(async () => {
  const train = (await datasets.mnist({ split: 'train' })).x;
  const vae = new Vae({ inputDim: 784, latentDim: 20, hidden: [400], seed: 0 });
  const controller = new AbortController();
  const samples = [];
  const t0 = performance.now();
  let epochs = 0;
  const timer = setInterval(() => samples.push({ seconds: (performance.now() - t0) / 1000, rssMb: mb(), epochs }), 10000);
  const deadline = t0 + Number(values.minutes) * 60000;
  await vae.fit(train, { epochs: 1e6, signal: controller.signal, onEpoch: () => {
    epochs++;
    if (performance.now() > deadline) controller.abort();
  } }).catch((e) => { if (e.code !== 'LATENTKIT_CANCELLED') throw e; });
  clearInterval(timer);
  const afterFirst = samples.filter((s) => s.epochs >= 1);
  const half = afterFirst.filter((s) => s.seconds >= afterFirst.at(-1).seconds / 2);
  // least-squares slope of RSS against epochs over the second half
  const mx = half.reduce((a, s) => a + s.epochs, 0) / half.length, my = half.reduce((a, s) => a + s.rssMb, 0) / half.length;
  const slope = half.reduce((a, s) => a + (s.epochs - mx) * (s.rssMb - my), 0) / Math.max(1e-9, half.reduce((a, s) => a + (s.epochs - mx) ** 2, 0));
  const training = { minutes: Number(values.minutes), epochs, startMb: afterFirst[0]?.rssMb, peakMb: Math.max(...afterFirst.map((s) => s.rssMb)),
    endMb: afterFirst.at(-1)?.rssMb, secondHalfKbPerEpoch: slope * 1024, samples };
  console.log(JSON.stringify({ ...training, samples: undefined }));

  const x = { data: train.data.subarray(0, 64 * 784), rows: 64, cols: 784 };
  const round = async (i) => {
    const { mean } = vae.encode(x);
    vae.decode(mean);
    vae.sample(64, { seed: i });
    await vae.elbo(x);
  };
  for (let i = 0; i < 500; i++) await round(i);
  const before = mb();
  for (let i = 0; i < Number(values.rounds); i++) await round(i);
  const after = mb();
  const calls = { rounds: Number(values.rounds), beforeMb: before, afterMb: after, growthPercent: (100 * (after - before)) / before };
  console.log(JSON.stringify(calls));
  const result = { date: new Date().toISOString(), cpu: os.cpus()[0].model, isa: native().info().isa, node: process.version, training, calls };
  fs.writeFileSync(path.join(__dirname, 'results', 'soak.json'), JSON.stringify(result, null, 2) + '\n');
})().catch((e) => { console.error(e); process.exit(1); });

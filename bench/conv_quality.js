#!/usr/bin/env node
// bench/conv_quality.js — the conv preset against the default MLP on MNIST, both trained by the CLI
// (`latentkit train` and `latentkit train --arch conv`, 10 epochs, seed 0): test −ELBO on the 10,000 test images
// (from metrics.json) and the importance-sampled NLL with k = 5000 on the first 1,000 test images.
// Usage: node bench/conv_quality.js [--epochs 10] [--k 5000] [--rows 1000]   (needs `npm run build:ts`)
// Writes bench/results/conv_quality.json and prints a Markdown table.
'use strict';
const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { parseArgs } = require('util');
const { Vae, datasets, headRows, native } = require('../dist');

const { values } = parseArgs({ options: { epochs: { type: 'string', default: '10' }, k: { type: 'string', default: '5000' }, rows: { type: 'string', default: '1000' } } });
const bin = path.join(__dirname, '..', 'bin', 'latentkit.js');

(async () => {
  const test = headRows((await datasets.mnist({ split: 'test' })).x, Number(values.rows));
  const results = [];
  for (const [name, args] of [['mlp 784-400-20 (default)', []], ['conv preset', ['--arch', 'conv']]]) {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'latentkit-quality-'));
    const t0 = performance.now();
    execFileSync(process.execPath, [bin, 'train', '--epochs', values.epochs, '--out', out, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
    const trainSeconds = (performance.now() - t0) / 1000;
    const metrics = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
    const vae = await Vae.load(path.join(out, 'model.safetensors'));
    const t1 = performance.now();
    const ll = await vae.logLikelihood(test, { k: Number(values.k), seed: 0 });
    const nll = -ll.reduce((s, v) => s + v, 0) / ll.length;
    results.push({ name, params: vae.numParams, testNegElbo: metrics.final.testLoss, isNll: nll, k: Number(values.k), isRows: test.rows,
      examplesPerSec: metrics.final.examplesPerSec, trainSeconds, evalSeconds: (performance.now() - t1) / 1000, activeUnits: metrics.final.activeUnits });
    fs.rmSync(out, { recursive: true, force: true });
  }
  const info = native().info();
  const cpu = os.cpus()[0].model;
  const report = { cpu, isa: info.isa, threads: os.cpus().length, epochs: Number(values.epochs), results, date: new Date().toISOString() };
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  fs.writeFileSync(path.join(__dirname, 'results', 'conv_quality.json'), JSON.stringify(report, null, 2) + '\n');
  console.log(`${cpu}, oneDNN ISA ${info.isa}, ${os.cpus().length} threads, ${values.epochs} epochs, seed 0`);
  console.log('| model | parameters | test −ELBO (10,000 images) | IS NLL, k = ' + values.k + ' (' + test.rows + ' images) | active units | train ex/s |');
  console.log('|---|---|---|---|---|---|');
  for (const r of results)
    console.log(`| ${r.name} | ${r.params.toLocaleString('en')} | ${r.testNegElbo.toFixed(2)} | ${r.isNll.toFixed(2)} | ${r.activeUnits} | ${Math.round(r.examplesPerSec)} |`);
})().catch((e) => { console.error(e); process.exit(1); });

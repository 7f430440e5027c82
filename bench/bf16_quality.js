#!/usr/bin/env node
// bench/bf16_quality.js — what bf16 mixed precision costs in quality, and what it gains where training speed is not
// the GEMM-bound MLP step (bench/vae_vs_pytorch.js --precision fp32,bf16 measures that):
//   1. quality: the default MLP VAE, the conv preset and IWAE k = 5, each trained 10 epochs on MNIST's 60,000
//      training images in fp32 and in bf16 with the same seed; the test −ELBO (all 10,000 test images, evaluated in
//      fp32) of each, and for IWAE the test −IWAE bound (k = 5);
//   2. evaluation: the importance-sampled NLL (k = 5000, the first 1,000 test images) of the fp32-trained default
//      model, evaluated in fp32 and in bf16 — the difference and the time of each;
//   3. IWAE k = 50 training: examples/s of one epoch on 10,000 images, fp32 and bf16, at 1 and 2 threads.
// Usage: node bench/bf16_quality.js [--epochs 10] [--threads 2] [--parts quality,evaluation,iwae50]
// Writes bench/results/bf16_quality.json (bf16_quality_<parts>.json for a subset) and prints Markdown tables with the
// CPU model and oneDNN's ISA.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { parseArgs } = require('util');
const { Vae, datasets, headRows, native } = require('../dist');

const ALL = 'quality,evaluation,iwae50';
const { values } = parseArgs({ options: { epochs: { type: 'string', default: '10' }, threads: { type: 'string', default: '2' },
  parts: { type: 'string', default: ALL } } });
const epochs = Number(values.epochs), threads = Number(values.threads), parts = values.parts.split(',');
for (const p of parts) if (!ALL.split(',').includes(p)) throw new Error(`--parts expects some of ${ALL}, not ${p}`);
const mean = (a) => a.reduce((s, v) => s + v, 0) / a.length;

(async () => {
  const info = native().info();
  if (!info.bf16Native) throw new Error(`this CPU has no native bf16 (oneDNN's ISA is ${info.isa}): nothing to compare`);
  const train = (await datasets.mnist({ split: 'train' })).x, test = (await datasets.mnist({ split: 'test' })).x;
  const cases = [
    { name: 'default MLP 784-400-20, ELBO', options: { inputDim: 784, latentDim: 20, hidden: [400] }, fit: {} },
    { name: 'conv preset, ELBO', options: { inputShape: [1, 28, 28], latentDim: 20, architecture: 'conv' }, fit: {} },
    { name: 'MLP 784-400-20, IWAE k = 5', options: { inputDim: 784, latentDim: 20, hidden: [400] }, fit: { objective: 'iwae', k: 5 } },
  ];
  const quality = [];
  let defaultFp32;
  for (const c of parts.includes('quality') || parts.includes('evaluation') ? cases : []) {
    if (!parts.includes('quality') && c !== cases[0]) continue;
    const row = { case: c.name };
    for (const precision of ['fp32', 'bf16']) {
      const vae = new Vae({ ...c.options, seed: 0, threads });
      const h = await vae.fit(train, { epochs, ...c.fit, precision });
      const elbo = await vae.elbo(test);
      row[precision] = { testNegElbo: -mean(elbo.elbo), trainLoss: h.epochs[h.epochs.length - 1].trainLoss,
        examplesPerSec: mean(h.epochs.map((e) => e.examplesPerSec)) };
      if (c.fit.objective === 'iwae') row[precision].testNegIwae = -mean(await vae.logLikelihood(test, { k: c.fit.k }));
      if (c === cases[0] && precision === 'fp32') defaultFp32 = vae;
      process.stderr.write(`${c.name}, ${precision}: test −ELBO ${row[precision].testNegElbo.toFixed(3)}\n`);
    }
    row.difference = row.bf16.testNegElbo - row.fp32.testNegElbo;
    quality.push(row);
  }

  const x = headRows(test, 1000);
  const evaluation = {};
  for (const precision of parts.includes('evaluation') ? ['fp32', 'bf16'] : []) {
    const t0 = performance.now();
    const ll = await defaultFp32.logLikelihood(x, { k: 5000, precision });
    const seconds = (performance.now() - t0) / 1000;
    evaluation[precision] = { nll: -mean(ll), seconds, examplesPerSec: x.rows / seconds };
  }
  if (evaluation.bf16) evaluation.difference = evaluation.bf16.nll - evaluation.fp32.nll;

  const iwae50 = [];
  const small = headRows(train, 10000);
  for (const t of parts.includes('iwae50') ? [1, 2] : []) {
    const row = { threads: t };
    for (const precision of ['fp32', 'bf16']) {
      const vae = new Vae({ inputDim: 784, latentDim: 20, hidden: [400], seed: 0, threads: t });
      const h = await vae.fit(small, { epochs: 2, objective: 'iwae', k: 50, precision });
      row[precision] = h.epochs[1].examplesPerSec; // the second epoch: primitives created, pages faulted in
    }
    row.ratio = row.bf16 / row.fp32;
    iwae50.push(row);
  }

  const summary = { date: new Date().toISOString(), cpu: os.cpus()[0].model, isa: info.isa, cores: os.cpus().length, threads, epochs, quality, evaluation, iwae50 };
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  const name = values.parts === ALL ? 'bf16_quality.json' : `bf16_quality_${parts.join('_')}.json`;
  fs.writeFileSync(path.join(__dirname, 'results', name), JSON.stringify(summary, null, 2) + '\n');
  console.log(`${summary.cpu}, oneDNN ISA ${info.isa}; ${epochs} epochs on MNIST's 60,000 training images, seed 0, ${threads} threads`);
  if (quality.length) console.log('| model | fp32 test −ELBO | bf16 test −ELBO | bf16 − fp32 | fp32 ex/s | bf16 ex/s |');
  if (quality.length) console.log('|---|---|---|---|---|---|');
  for (const r of quality)
    console.log(`| ${r.case} | ${r.fp32.testNegElbo.toFixed(2)}${r.fp32.testNegIwae ? ` (−IWAE ${r.fp32.testNegIwae.toFixed(2)})` : ''} | ` +
      `${r.bf16.testNegElbo.toFixed(2)}${r.bf16.testNegIwae ? ` (−IWAE ${r.bf16.testNegIwae.toFixed(2)})` : ''} | ${r.difference >= 0 ? '+' : ''}${r.difference.toFixed(2)} | ` +
      `${Math.round(r.fp32.examplesPerSec)} | ${Math.round(r.bf16.examplesPerSec)} |`);
  if (evaluation.bf16) console.log(`\nIS NLL (k = 5000, 1,000 test images) of the fp32-trained default model: fp32 ${evaluation.fp32.nll.toFixed(3)} nats in ` +
    `${evaluation.fp32.seconds.toFixed(1)} s, bf16 ${evaluation.bf16.nll.toFixed(3)} nats in ${evaluation.bf16.seconds.toFixed(1)} s ` +
    `(difference ${evaluation.difference.toFixed(3)}, speed ${(evaluation.fp32.seconds / evaluation.bf16.seconds).toFixed(2)}×)`);
  if (iwae50.length) console.log('\n| IWAE k = 50 training, threads | fp32 ex/s | bf16 ex/s | bf16 / fp32 |\n|---|---|---|---|');
  for (const r of iwae50) console.log(`| ${r.threads} | ${Math.round(r.fp32)} | ${Math.round(r.bf16)} | ${r.ratio.toFixed(2)}× |`);
})().catch((e) => { console.error(e); process.exit(1); });

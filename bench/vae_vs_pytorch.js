#!/usr/bin/env node
// bench/vae_vs_pytorch.js — training throughput of latentkit vs PyTorch (CPU) on the 784-400-20 MNIST VAE, batch
// 128, Adam, whole MNIST in memory, run alternately in one invocation (rounds × threads), plus oneDNN sgemm
// GFLOP/s at the VAE's GEMM shapes measured in the same run, which gives the GEMM ceiling in examples/s.
// Usage: node bench/vae_vs_pytorch.js [--rounds 3] [--epochs 2] [--threads 1,2]   (needs `npm run build:ts`)
// Writes bench/results/vae_vs_pytorch.json and prints a Markdown table.
'use strict';
const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { parseArgs } = require('util');
const { Vae, datasets, native } = require('../dist');

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, epochs: { type: 'string', default: '2' },
  threads: { type: 'string', default: '1,2' }, python: { type: 'string', default: '/usr/bin/python3' } } });
const rounds = Number(values.rounds), epochs = Number(values.epochs);
const threadList = values.threads.split(',').map(Number);

// FLOPs of one example, forward + backward (no input gradient for the first layer): 2·(weights) forward, the same
// again for the weight gradients, and 2·(weights of every layer but the first) for the input gradients.
const layers = [[784, 400], [400, 20], [400, 20], [20, 400], [400, 784]];
const w = layers.map(([i, o]) => i * o);
const flopsPerExample = 2 * w.reduce((a, b) => a + b) * 2 + 2 * w.slice(1).reduce((a, b) => a + b);

const median = (a) => { const s = [...a].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

// The GEMMs of one training step at batch 128 (forward, weight gradients, input gradients), timed back to back.
function gemmGflops(threads) {
  const k = native().kernels;
  k.set_threads(threads);
  const B = 128;
  const shapes = [];
  for (const [i, o] of layers) shapes.push([false, false, B, o, i], [true, false, i, o, B]);
  for (const [i, o] of layers.slice(1)) shapes.push([false, true, B, i, o]);
  const times = [];
  for (let r = 0; r < 15; r++) times.push(median(k.gemm_benchmark(shapes, 20, r === 0 ? 20 : 2)));
  k.set_threads(0);
  return (flopsPerExample * B) / median(times) / 1e9;
}

async function latentkit(x, threads) {
  const vae = new Vae({ inputDim: 784, latentDim: 20, hidden: [400], seed: 0, threads });
  const h = await vae.fit(x, { epochs, batchSize: 128, learningRate: 1e-3 });
  return h.epochs.map((e) => e.examplesPerSec);
}

function pytorch(file, rows, threads) {
  const env = { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: String(threads) };
  const out = execFileSync(values.python, [path.join(__dirname, 'pytorch_vae.py'), file, String(rows), String(epochs), String(threads)], { env, encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop());
}

(async () => {
  const x = (await datasets.mnist({ split: 'train' })).x;
  const raw = path.join(os.tmpdir(), `latentkit-mnist-${process.pid}.f32`);
  fs.writeFileSync(raw, Buffer.from(x.data.buffer, x.data.byteOffset, x.data.byteLength));
  const res = {};
  for (const t of threadList) res[t] = { latentkit: [], pytorch: [], gemm: [] };
  let torchVersion = '';
  try {
    for (let r = 0; r < rounds; r++)
      for (const t of threadList) {
        res[t].gemm.push(gemmGflops(t));
        res[t].latentkit.push(...(await latentkit(x, t)));
        const p = pytorch(raw, x.rows, t);
        torchVersion = p.torch;
        res[t].pytorch.push(...p.examplesPerSec);
        process.stderr.write(`round ${r + 1}/${rounds}, ${t} thread(s): latentkit ${Math.round(median(res[t].latentkit))} ex/s, ` +
          `PyTorch ${Math.round(median(res[t].pytorch))} ex/s, sgemm ${median(res[t].gemm).toFixed(0)} GFLOP/s\n`);
      }
  } finally {
    fs.rmSync(raw, { force: true });
  }
  const rows = threadList.map((t) => {
    const lk = median(res[t].latentkit), pt = median(res[t].pytorch), gf = median(res[t].gemm);
    const ceiling = (gf * 1e9) / flopsPerExample;
    return { threads: t, latentkit: lk, pytorch: pt, ratio: lk / pt, sgemmGflops: gf, ceiling, fractionOfCeiling: lk / ceiling };
  });
  const summary = { date: new Date().toISOString(), cpu: os.cpus()[0].model, cores: os.cpus().length, torch: torchVersion, rounds, epochsPerRun: epochs,
    flopsPerExample, rows, samples: res };
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  fs.writeFileSync(path.join(__dirname, 'results', 'vae_vs_pytorch.json'), JSON.stringify(summary, null, 2) + '\n');
  console.log(`| threads | latentkit ex/s | PyTorch ${torchVersion} ex/s | ratio | oneDNN sgemm GFLOP/s | GEMM ceiling ex/s | latentkit / ceiling |`);
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows)
    console.log(`| ${r.threads} | ${Math.round(r.latentkit)} | ${Math.round(r.pytorch)} | ${r.ratio.toFixed(2)}× | ${r.sgemmGflops.toFixed(0)} | ${Math.round(r.ceiling)} | ${(100 * r.fractionOfCeiling).toFixed(0)}% |`);
  console.log(`\nmedians over ${rounds} rounds × ${epochs} epochs (60,000 examples each); ${(flopsPerExample / 1e6).toFixed(2)} MFLOP per example`);
})().catch((e) => { console.error(e); process.exit(1); });

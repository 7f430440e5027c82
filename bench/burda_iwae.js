#!/usr/bin/env node
// bench/burda_iwae.js — the shape of Burda, Grosse & Salakhutdinov (2016), "Importance Weighted Autoencoders",
// Table 1 (MNIST, one stochastic layer): 784-200-200-50 tanh, Bernoulli decoder, dynamic binarisation, Adam
// (β1 0.9, β2 0.999, ε 1e-4), batch 20, learning rate 1e-3·10^(−i/7) for 3^i passes in stage i (the paper runs
// i = 0…7, 3,280 passes; this runs the first `--stages`), test NLL by k = 5000 importance samples and active units
// (Cov_x E_q[z_u] > 0.01). Adam's moments restart at each stage (one fit call per stage).
// Also times the two hot paths against the GEMM ceiling measured in the same run: IWAE k = 50 training and the
// k = 5000 IS evaluation (examples/s).
// Usage: node bench/burda_iwae.js [--stages 3] [--test-rows 10000] [--k-eval 5000] [--models vae1,iwae5,iwae50]
// (needs `npm run build:ts`). Writes bench/results/burda_iwae.json and prints a Markdown table.
'use strict';
const fs = require('fs');
const path = require('path');
const { parseArgs } = require('util');
const { Vae, datasets, native } = require('../dist');

const { values } = parseArgs({ options: { stages: { type: 'string', default: '3' }, 'test-rows': { type: 'string', default: '10000' },
  'k-eval': { type: 'string', default: '5000' }, models: { type: 'string', default: 'vae1,iwae5,iwae50' } } });
const stages = Number(values.stages), testRows = Number(values['test-rows']), kEval = Number(values['k-eval']);
const MODELS = {
  vae1: { label: 'VAE, k = 1', objective: 'elbo', k: 1, published: { nll: 86.76, activeUnits: 19 } },
  vae5: { label: 'VAE, k = 5', objective: 'elbo', k: 5, published: { nll: 86.47, activeUnits: 20 } },
  vae50: { label: 'VAE, k = 50', objective: 'elbo', k: 50, published: { nll: 86.35, activeUnits: 20 } },
  iwae5: { label: 'IWAE, k = 5', objective: 'iwae', k: 5, published: { nll: 85.54, activeUnits: 22 } },
  iwae50: { label: 'IWAE, k = 50', objective: 'iwae', k: 50, published: { nll: 84.78, activeUnits: 25 } },
};
const median = (a) => { const s = [...a].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const mean = (a) => a.reduce((s, v) => s + v, 0) / a.length;

// Decoder and encoder layer shapes [in, out] of 784-200-200-50 (the encoder's two heads as one 200 → 100 layer).
const ENC = [[784, 200], [200, 200], [200, 100]];
const DEC = [[50, 200], [200, 200], [200, 784]];
const macs = (layers) => layers.reduce((s, [i, o]) => s + i * o, 0);

// Seconds of a list of GEMMs back to back (median of 9 timed rounds), on the compute thread with all cores.
function gemmSeconds(shapes) {
  const k = native().kernels;
  const times = [];
  for (let r = 0; r < 9; r++) times.push(median(k.gemm_benchmark(shapes, 10, r === 0 ? 10 : 2, 'fp32')));
  return median(times);
}
const fwd = (rows, layers) => layers.map(([i, o]) => [false, false, rows, o, i]);
const wgrad = (rows, layers) => layers.map(([i, o]) => [true, false, i, o, rows]);
const igrad = (rows, layers) => layers.map(([i, o]) => [false, true, rows, i, o]);

// The GEMM ceiling of one IWAE training step at batch B with k draws (encoder on B rows, decoder on B·k rows, no input
// gradient into x) and of one IS-evaluation pass of R decoder rows — the examples/s the GEMMs alone would allow.
function ceilings(k) {
  const B = 20, R = 2048;
  const step = [...fwd(B, ENC), ...wgrad(B, ENC), ...igrad(B, ENC.slice(1)), ...fwd(B * k, DEC), ...wgrad(B * k, DEC), ...igrad(B * k, DEC)];
  const stepFlops = 2 * (3 * macs(ENC) - ENC[0][0] * ENC[0][1]) * B + 2 * 3 * macs(DEC) * B * k;
  const tStep = gemmSeconds(step);
  const tEval = gemmSeconds(fwd(R, DEC));
  return {
    trainExamplesPerSec: B / tStep, trainGflops: stepFlops / tStep / 1e9,
    evalRowsPerSec: R / tEval, evalGflops: (2 * macs(DEC) * R) / tEval / 1e9,
  };
}

(async () => {
  const train = (await datasets.mnist({ split: 'train' })).x;
  const testAll = (await datasets.mnist({ split: 'test' })).x;
  const test = { data: testAll.data.subarray(0, testRows * 784), rows: testRows, cols: 784 };
  const passes = Array.from({ length: stages }, (_, i) => 3 ** i).reduce((a, b) => a + b, 0);
  const results = [];
  for (const name of values.models.split(',')) {
    const m = MODELS[name];
    if (!m) throw new Error(`unknown model ${name}; choose from ${Object.keys(MODELS).join(', ')}`);
    const vae = new Vae({ inputDim: 784, latentDim: 50, hidden: [200, 200], activation: 'tanh', seed: 0 });
    const objective = m.objective === 'iwae' ? { objective: 'iwae', k: m.k } : { samples: m.k };
    let trainSeconds = 0, examples = 0, lastLoss;
    for (let i = 0; i < stages; i++) {
      const h = await vae.fit(train, { epochs: 3 ** i, batchSize: 20, learningRate: 1e-3 * 10 ** (-i / 7), adamEps: 1e-4, binarize: true, seed: i, ...objective });
      for (const e of h.epochs) (trainSeconds += e.seconds), (examples += train.rows);
      lastLoss = h.epochs[h.epochs.length - 1].trainLoss;
      process.stderr.write(`${m.label}: stage ${i} (${3 ** i} passes) done, train loss ${lastLoss.toFixed(2)}, ${trainSeconds.toFixed(0)} s\n`);
    }
    const t0 = performance.now();
    const ll = await vae.logLikelihood(test, { k: kEval, binarize: true });
    const evalSeconds = (performance.now() - t0) / 1000;
    const au = vae.activeUnits(test);
    const row = { model: m.label, objective: m.objective, k: m.k, passes, trainSeconds, trainExamplesPerSec: examples / trainSeconds,
      finalTrainLoss: lastLoss, testNll: -mean(Array.from(ll)), activeUnits: au.count, evalSeconds, evalExamplesPerSec: testRows / evalSeconds,
      published: { ...m.published, passes: 3280 } };
    results.push(row);
    process.stderr.write(`${m.label}: NLL ${row.testNll.toFixed(2)} (k = ${kEval}, ${testRows} test rows), active units ${au.count}, eval ${evalSeconds.toFixed(0)} s\n`);
  }
  const c50 = ceilings(50);
  const iwae50 = results.find((r) => r.objective === 'iwae' && r.k === 50);
  const evalRows = mean(results.map((r) => r.evalExamplesPerSec)) * kEval;
  const speed = {
    iwae50Training: iwae50 && { examplesPerSec: iwae50.trainExamplesPerSec, gemmCeiling: c50.trainExamplesPerSec, fraction: iwae50.trainExamplesPerSec / c50.trainExamplesPerSec, gemmGflops: c50.trainGflops },
    isEvaluation: { k: kEval, examplesPerSec: evalRows / kEval, decoderRowsPerSec: evalRows, gemmCeilingRowsPerSec: c50.evalRowsPerSec,
      fraction: evalRows / c50.evalRowsPerSec, gemmGflops: c50.evalGflops },
  };
  const out = { date: new Date().toISOString(), machine: `${require('os').cpus().length} cores`, stages, passes, testRows, kEval, results, speed };
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  fs.writeFileSync(path.join(__dirname, 'results', 'burda_iwae.json'), JSON.stringify(out, null, 2) + '\n');
  console.log(`| model | passes | test NLL (k = ${kEval}) | active units | train s | train ex/s | Burda et al. NLL / AU (3,280 passes) |`);
  console.log('|---|---|---|---|---|---|---|');
  for (const r of results)
    console.log(`| ${r.model} | ${r.passes} | ${r.testNll.toFixed(2)} | ${r.activeUnits} | ${r.trainSeconds.toFixed(0)} | ${r.trainExamplesPerSec.toFixed(0)} | ${r.published.nll} / ${r.published.activeUnits} |`);
  console.log('');
  if (speed.iwae50Training) console.log(`IWAE k = 50 training: ${speed.iwae50Training.examplesPerSec.toFixed(0)} examples/s; GEMM ceiling ${speed.iwae50Training.gemmCeiling.toFixed(0)} (${speed.iwae50Training.gemmGflops.toFixed(1)} GFLOP/s) → ${(100 * speed.iwae50Training.fraction).toFixed(0)} %`);
  console.log(`IS evaluation k = ${kEval}: ${speed.isEvaluation.examplesPerSec.toFixed(1)} examples/s (${speed.isEvaluation.decoderRowsPerSec.toFixed(0)} decoder rows/s); GEMM ceiling ${speed.isEvaluation.gemmCeilingRowsPerSec.toFixed(0)} rows/s (${speed.isEvaluation.gemmGflops.toFixed(1)} GFLOP/s) → ${(100 * speed.isEvaluation.fraction).toFixed(0)} %`);
})().catch((e) => { console.error(e); process.exit(1); });

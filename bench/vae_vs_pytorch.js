#!/usr/bin/env node
// bench/vae_vs_pytorch.js — training throughput of latentkit vs PyTorch (CPU, its best configuration: see
// bench/pytorch_vae.py) on MNIST, Adam, the data in memory, run alternately in one invocation (rounds × threads ×
// precisions), plus the ceiling measured in the same run: oneDNN's GEMMs at the model's dense shapes (sgemm for fp32;
// bf16 × bf16 → fp32 matmul for bf16) and, for the conv model, oneDNN's convolution primitives at its shapes
// (forward, backward weights, backward data), timed back to back — the examples/s of a step that did nothing else.
//   --arch mlp   the 784-400-20 MLP VAE (default);  --arch conv   latentkit's 'conv' preset (latent 20).
//   --precision fp32,bf16  latentkit's precision option; PyTorch's peer for bf16 is torch.autocast('cpu', bfloat16).
//   --batch 128  examples per step;  --rows 60000  the first rows of MNIST's training set.
//   --baseline <dist>  also times another latentkit build (e.g. the previous commit's dist/, with its addon) in the
//                      same rounds, for a speed comparison between builds.
// Usage: node bench/vae_vs_pytorch.js [--arch mlp|conv] [--precision fp32[,bf16]] [--batch 128] [--rows 60000]
//        [--rounds 3] [--epochs 2] [--threads 1,2] [--baseline dir]
// Writes bench/results/vae_vs_pytorch[_conv][_<precisions>][_b<batch>].json (suffixes only off the defaults) and
// prints a Markdown table.
'use strict';
const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { parseArgs } = require('util');
const { Vae, datasets, headRows, native } = require('../dist');

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, epochs: { type: 'string', default: '2' },
  threads: { type: 'string', default: '1,2' }, python: { type: 'string', default: '/usr/bin/python3' }, arch: { type: 'string', default: 'mlp' },
  baseline: { type: 'string' }, precision: { type: 'string', default: 'fp32' }, batch: { type: 'string', default: '128' },
  rows: { type: 'string', default: '60000' } } });
const rounds = Number(values.rounds), epochs = Number(values.epochs), arch = values.arch;
const threadList = values.threads.split(',').map(Number);
const precisions = values.precision.split(',');
if (!['mlp', 'conv'].includes(arch)) throw new Error(`--arch expects mlp or conv, not ${arch}`);
for (const p of precisions) if (!['fp32', 'bf16'].includes(p)) throw new Error(`--precision expects fp32 and/or bf16, not ${p}`);

const B = Number(values.batch);
// The model's dense layers [in, out, needs the input gradient] and (conv) convolutions, at batch B.
const dense = arch === 'mlp'
  ? [[784, 400, false], [400, 20, true], [400, 20, true], [20, 400, true], [400, 784, true]]
  : [[3136, 256, true], [256, 20, true], [256, 20, true], [20, 256, true], [256, 3136, true]];
const convs = arch === 'mlp' ? [] : [
  { inC: 1, inH: 28, inW: 28, outC: 32, kernel: 4, stride: 2, padding: 1, inputGrad: false },
  { inC: 32, inH: 14, inW: 14, outC: 64, kernel: 4, stride: 2, padding: 1 },
  { inC: 64, inH: 7, inW: 7, outC: 32, kernel: 4, stride: 2, padding: 1, transposed: true },
  { inC: 32, inH: 14, inW: 14, outC: 1, kernel: 4, stride: 2, padding: 1, transposed: true },
];
// FLOPs of one example, forward + backward: 2·MACs forward, the same for weight gradients and for input gradients.
const denseMacs = (withGrad) => dense.reduce((s, [i, o, g]) => s + (withGrad && !g ? 0 : i * o), 0);
const convMacs = (c, withGrad) => {
  if (withGrad && c.inputGrad === false) return 0;
  const spatial = c.transposed ? c.inH * c.inW : (((c.inH + 2 * c.padding - c.kernel) / c.stride + 1) ** 2);
  return spatial * c.inC * c.outC * c.kernel * c.kernel;
};
const macs = (g) => denseMacs(g) + convs.reduce((s, c) => s + convMacs(c, g), 0);
const flopsPerExample = 2 * macs(false) * 2 + 2 * macs(true);

const median = (a) => { const s = [...a].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

// Seconds per step of the model's primitives alone: its GEMMs (forward, weight gradients, input gradients) and its
// convolutions, each timed back to back on the compute thread.
function primitiveSeconds(threads, precision) {
  const k = native().kernels;
  k.set_threads(threads);
  const shapes = [];
  for (const [i, o, g] of dense) {
    shapes.push([false, false, B, o, i], [true, false, i, o, B]);
    if (g) shapes.push([false, true, B, i, o]);
  }
  const gemm = [], conv = [];
  for (let r = 0; r < 15; r++) {
    gemm.push(median(k.gemm_benchmark(shapes, 20, r === 0 ? 20 : 2, precision)));
    if (convs.length) conv.push(median(k.conv_benchmark(convs, B, 10, r === 0 ? 5 : 1, precision)));
  }
  k.set_threads(0);
  return { gemm: median(gemm), conv: convs.length ? median(conv) : 0 };
}

function options(threads) {
  return arch === 'mlp'
    ? { inputDim: 784, latentDim: 20, hidden: [400], seed: 0, threads }
    : { inputShape: [1, 28, 28], latentDim: 20, architecture: 'conv', seed: 0, threads };
}

async function latentkit(VaeClass, x, threads, precision) {
  const vae = new VaeClass(options(threads));
  const h = await vae.fit(x, { epochs, batchSize: B, learningRate: 1e-3, ...(precision === 'fp32' ? {} : { precision }) });
  return h.epochs.map((e) => e.examplesPerSec);
}

const Baseline = values.baseline ? require(path.resolve(values.baseline)).Vae : undefined;

function pytorch(file, rows, threads, precision) {
  const env = { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: String(threads) };
  const out = execFileSync(values.python, [path.join(__dirname, 'pytorch_vae.py'), file, String(rows), String(epochs), String(threads), arch,
    String(B), precision], { env, encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop());
}

(async () => {
  const x = headRows((await datasets.mnist({ split: 'train' })).x, Number(values.rows));
  const raw = path.join(os.tmpdir(), `latentkit-mnist-${process.pid}.f32`);
  fs.writeFileSync(raw, Buffer.from(x.data.buffer, x.data.byteOffset, x.data.byteLength));
  const res = {};
  let torchVersion = '';
  const key = (t, p) => `${t}/${p}`;
  for (const t of threadList) for (const p of precisions) res[key(t, p)] = { latentkit: [], baseline: [], pytorch: [], gemmSeconds: [], convSeconds: [] };
  try {
    for (let r = 0; r < rounds; r++)
      for (const t of threadList)
        for (const p of precisions) {
          const c = res[key(t, p)];
          const prim = primitiveSeconds(t, p);
          c.gemmSeconds.push(prim.gemm);
          c.convSeconds.push(prim.conv);
          c.latentkit.push(...(await latentkit(Vae, x, t, p)));
          if (Baseline) c.baseline.push(...(await latentkit(Baseline, x, t, p)));
          const py = pytorch(raw, x.rows, t, p);
          torchVersion = py.torch;
          c.pytorch.push(...py.examplesPerSec);
          process.stderr.write(`round ${r + 1}/${rounds}, ${t} thread(s), ${p}: latentkit ${Math.round(median(c.latentkit))} ex/s, ` +
            (Baseline ? `baseline ${Math.round(median(c.baseline))} ex/s, ` : '') +
            `PyTorch ${Math.round(median(c.pytorch))} ex/s, primitives ${(1e3 * (prim.gemm + prim.conv)).toFixed(2)} ms/step\n`);
        }
  } finally {
    fs.rmSync(raw, { force: true });
  }
  const rows = threadList.flatMap((t) => precisions.map((p) => {
    const c = res[key(t, p)];
    const lk = median(c.latentkit), pt = median(c.pytorch);
    const gemm = median(c.gemmSeconds), conv = median(c.convSeconds);
    const ceiling = B / (gemm + conv);
    const base = Baseline ? median(c.baseline) : undefined;
    const fp32 = precisions.includes('fp32') ? median(res[key(t, 'fp32')].latentkit) : undefined;
    return { threads: t, precision: p, latentkit: lk, pytorch: pt, ratio: lk / pt, vsFp32: fp32 && lk / fp32, baseline: base, vsBaseline: base && lk / base,
      gemmMsPerStep: 1e3 * gemm, convMsPerStep: 1e3 * conv, gemmGflops: (2 * macs(false) * 2 + 2 * macs(true) - convFlops()) * B / gemm / 1e9,
      ceiling, fractionOfCeiling: lk / ceiling };
  }));
  const info = native().info();
  const summary = { date: new Date().toISOString(), arch, batch: B, trainRows: x.rows, precisions, cpu: os.cpus()[0].model, isa: info.isa, bf16Native: info.bf16Native,
    cores: os.cpus().length, torch: torchVersion, rounds, epochsPerRun: epochs, flopsPerExample, rows, samples: res };
  const suffix = (arch === 'mlp' ? '' : '_conv') + (values.precision === 'fp32' ? '' : `_${precisions.join('_')}`) + (B === 128 ? '' : `_b${B}`);
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  fs.writeFileSync(path.join(__dirname, 'results', `vae_vs_pytorch${suffix}.json`), JSON.stringify(summary, null, 2) + '\n');
  console.log(`${summary.cpu}, oneDNN ISA ${info.isa}; ${arch === 'mlp' ? '784-400-20 MLP VAE' : "conv preset VAE (latent 20)"}, batch ${B}, ${x.rows} rows`);
  const ceilingName = arch === 'mlp' ? 'GEMM ceiling' : 'GEMM + conv ceiling';
  const vs = precisions.length > 1;
  console.log(`| threads | precision | latentkit ex/s |${vs ? ' vs fp32 |' : ''}${Baseline ? ' baseline ex/s | vs baseline |' : ''} PyTorch ${torchVersion} ex/s | ratio | primitives ms/step (GEMM + conv) | ${ceilingName} ex/s | latentkit / ceiling |`);
  console.log(`|---|---|---|${vs ? '---|' : ''}${Baseline ? '---|---|' : ''}---|---|---|---|---|`);
  for (const r of rows)
    console.log(`| ${r.threads} | ${r.precision} | ${Math.round(r.latentkit)} |${vs ? ` ${r.vsFp32.toFixed(2)}× |` : ''}${Baseline ? ` ${Math.round(r.baseline)} | ${(100 * (r.vsBaseline - 1)).toFixed(1)}% |` : ''} ${Math.round(r.pytorch)} | ${r.ratio.toFixed(2)}× | ` +
      `${r.gemmMsPerStep.toFixed(2)} + ${r.convMsPerStep.toFixed(2)} | ${Math.round(r.ceiling)} | ${(100 * r.fractionOfCeiling).toFixed(0)}% |`);
  console.log(`\nmedians over ${rounds} rounds × ${epochs} epochs (${x.rows} examples each); ${(flopsPerExample / 1e6).toFixed(2)} MFLOP per example; ` +
    'PyTorch bf16 = torch.autocast(\'cpu\', dtype=torch.bfloat16)');
})().catch((e) => { console.error(e); process.exit(1); });

function convFlops() {
  return 2 * convs.reduce((s, c) => s + convMacs(c, false), 0) * 2 + 2 * convs.reduce((s, c) => s + convMacs(c, true), 0);
}

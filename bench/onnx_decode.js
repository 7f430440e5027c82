#!/usr/bin/env node
// bench/onnx_decode.js — decoded samples/s of the 20-400-784 decoder: onnxruntime-node (CPU) vs latentkit's native
// decode, batch 1 / 64 / 1,024, threads 1 / 2, side by side in one run (medians of repeated timed windows).
// Usage: node bench/onnx_decode.js   (needs `npm run build:ts`). Writes bench/results/onnx_decode.json.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { Vae, OnnxDecoder, native } = require('../dist');

const median = (a) => { const s = [...a].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

async function rate(fn, batch) {
  for (let i = 0; i < 3; i++) await fn();
  const windows = [];
  for (let w = 0; w < 7; w++) {
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < 150) { await fn(); n += batch; }
    windows.push(n / ((performance.now() - t0) / 1000));
  }
  return median(windows);
}

(async () => {
  const vae = new Vae({ inputDim: 784, latentDim: 20, hidden: [400], seed: 0 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'latentkit-onnx-bench-'));
  const [decoderFile] = await vae.exportOnnx(dir, { parts: ['decoder'] });
  const rows = [];
  for (const threads of [1, 2]) {
    const onnxDec = await OnnxDecoder.load(decoderFile, { threads });
    const model = new Vae({ inputDim: 784, latentDim: 20, hidden: [400], seed: 0, threads });
    for (const batch of [1, 64, 1024]) {
      const z = { data: new Float32Array(batch * 20), rows: batch, cols: 20 };
      native().kernels.rng_normal_fill(z.data, z.data.length, 1, 1, 0);
      const ort = await rate(() => onnxDec.decode(z), batch);
      const nat = await rate(async () => model.decode(z), batch);
      rows.push({ threads, batch, onnxruntime: ort, latentkit: nat, ratio: nat / ort });
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  fs.writeFileSync(path.join(__dirname, 'results', 'onnx_decode.json'), JSON.stringify({ date: new Date().toISOString(), rows }, null, 2) + '\n');
  console.log('| threads | batch | onnxruntime-node samples/s | latentkit native samples/s | native / ORT |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.threads} | ${r.batch} | ${Math.round(r.onnxruntime)} | ${Math.round(r.latentkit)} | ${r.ratio.toFixed(2)}× |`);
})().catch((e) => { console.error(e); process.exit(1); });

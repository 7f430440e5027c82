#!/usr/bin/env node
// bench/event_loop.js — how long the JavaScript thread stalls while latentkit works: a fit of the 784-400-20 VAE
// (3 epochs of the 60,000 MNIST rows) runs on the compute thread while the JS thread, every 20 ms, encodes and decodes
// 64 rows of another model (these run inline on the JS thread while the compute thread is busy) and awaits a
// 256-row elbo (queued behind the epoch). perf_hooks.monitorEventLoopDelay measures the loop's delay throughout.
// Usage: node bench/event_loop.js (needs `npm run build:ts`). Writes bench/results/event_loop.json.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { monitorEventLoopDelay } = require('perf_hooks');
const { Vae, datasets, headRows, native } = require('../dist');

(async () => {
  const train = (await datasets.mnist({ split: "train" })).x;
  const other = new Vae({ inputDim: 784, latentDim: 20, hidden: [400], seed: 1 });
  const x64 = headRows(train, 64);
  const h = monitorEventLoopDelay({ resolution: 5 });
  const callMs = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      other.decode(other.encode(x64).mean);
      callMs.push(performance.now() - t0);
      await other.elbo(headRows(train, 256));
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  h.enable();
  const t0 = performance.now();
  await new Vae({ inputDim: 784, latentDim: 20, hidden: [400], seed: 0 }).fit(train, { epochs: 3 });
  const fitSeconds = (performance.now() - t0) / 1000;
  running = false;
  await loop;
  h.disable();
  const ms = (ns) => ns / 1e6;
  const sorted = [...callMs].sort((a, b) => a - b);
  const result = { date: new Date().toISOString(), cpu: os.cpus()[0].model, isa: native().info().isa, fitSeconds,
    loopDelayMs: { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max) },
    inlineEncodeDecode64Ms: { calls: sorted.length, p50: sorted[sorted.length >> 1], max: sorted.at(-1) } };
  console.log(JSON.stringify(result));
  fs.writeFileSync(path.join(__dirname, 'results', 'event_loop.json'), JSON.stringify(result, null, 2) + '\n');
})().catch((e) => { console.error(e); process.exit(1); });

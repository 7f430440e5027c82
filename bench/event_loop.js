#!/usr/bin/env node
// bench/event_loop.js — how long the JavaScript thread stalls while latentkit works. Two rounds, each a fit of the
// 784-400-20 VAE (3 epochs of the 60,000 MNIST rows) on the compute thread while the JS thread, every 20 ms, calls
// another model: round "inline", a synchronous 64-row encode + decode (these run on the JS thread while the compute
// thread is busy) and an awaited 256-row elbo (queued behind the epoch); round "async", an awaited 10,000-row
// encodeAsync + decodeAsync (jobs queued behind the epoch; only their input checks and copies run on the JS thread),
// beside one synchronous 10,000-row encode + decode timed once for comparison. perf_hooks.monitorEventLoopDelay
// measures the loop's delay throughout each round.
// Usage: node bench/event_loop.js (needs `npm run build:ts`). Writes bench/results/event_loop.json.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { monitorEventLoopDelay } = require('perf_hooks');
const { Vae, datasets, headRows, native } = require('../dist');

const ms = (ns) => ns / 1e6;
const summary = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return { calls: s.length, p50: s[s.length >> 1], max: s.at(-1) };
};

async function round(train, call) {
  const h = monitorEventLoopDelay({ resolution: 5 });
  const callMs = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      callMs.push(await call());
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
  return { fitSeconds, loopDelayMs: { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max) }, callMs: summary(callMs) };
}

(async () => {
  const train = (await datasets.mnist({ split: 'train' })).x;
  const other = new Vae({ inputDim: 784, latentDim: 20, hidden: [400], seed: 1 });
  const x64 = headRows(train, 64), x256 = headRows(train, 256), x10k = headRows(train, 10000);
  const inline = await round(train, async () => {
    const t0 = performance.now();
    other.decode(other.encode(x64).mean);
    const t = performance.now() - t0;
    await other.elbo(x256);
    return t;
  });
  const t0 = performance.now();
  other.decode(other.encode(x10k).mean);
  const sync10kMs = performance.now() - t0;
  const async_ = await round(train, async () => {
    const t1 = performance.now();
    await other.decodeAsync((await other.encodeAsync(x10k)).mean);
    return performance.now() - t1;
  });
  const result = { date: new Date().toISOString(), cpu: os.cpus()[0].model, isa: native().info().isa,
    inline: { ...inline, what: 'synchronous 64-row encode + decode (callMs: their duration) and an awaited 256-row elbo' },
    async: { ...async_, what: 'awaited 10,000-row encodeAsync + decodeAsync (callMs: until both settled)' },
    synchronous10kEncodeDecodeMs: sync10kMs };
  console.log(JSON.stringify(result, null, 2));
  fs.writeFileSync(path.join(__dirname, 'results', 'event_loop.json'), JSON.stringify(result, null, 2) + '\n');
})().catch((e) => { console.error(e); process.exit(1); });

#!/usr/bin/env node
// bench/serve.js — throughput and latency of `latentkit serve` over HTTP on localhost: the 20-400-784 decoder
// (untrained weights; speed does not depend on them) behind POST /decode with batches of 1 and 64 and
// POST /decode?format=npy (64 rows) and GET /sample?n=16&format=png, with 1 and 8 clients sending back to back for 3 s each (Node's fetch, same process).
// Reports requests/s, decoded rows/s and median / p99 latency. Usage: node bench/serve.js (needs `npm run build:ts`).
// Writes bench/results/serve.json.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { Vae, serve } = require('../dist');

const quantile = (a, q) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(q * s.length))]; };

async function load(request, clients, seconds) {
  const latencies = [];
  const end = performance.now() + seconds * 1000;
  await Promise.all(Array.from({ length: clients }, async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      const r = await request();
      if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${await r.text()}`);
      await r.arrayBuffer();
      latencies.push(performance.now() - t0);
    }
  }));
  return { requestsPerSec: latencies.length / seconds, p50Ms: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99) };
}

(async () => {
  const vae = new Vae({ inputDim: 784, latentDim: 20, hidden: [400], seed: 0 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'latentkit-serve-bench-'));
  await vae.exportOnnx(dir);
  const server = await serve(dir, { port: 0, threads: 1 });
  const body = (rows) => JSON.stringify({ z: Array.from({ length: rows }, (_, i) => Array.from({ length: 20 }, (_, j) => Math.sin(i * 20 + j))) });
  const cases = [
    { route: 'POST /decode, 1 row', rows: 1, request: ((b) => () => fetch(server.url + '/decode', { method: 'POST', headers: { 'content-type': 'application/json' }, body: b }))(body(1)) },
    { route: 'POST /decode, 64 rows', rows: 64, request: ((b) => () => fetch(server.url + '/decode', { method: 'POST', headers: { 'content-type': 'application/json' }, body: b }))(body(64)) },
    { route: 'POST /decode?format=npy, 64 rows', rows: 64, request: ((b) => () => fetch(server.url + '/decode?format=npy', { method: 'POST', headers: { 'content-type': 'application/json' }, body: b }))(body(64)) },
    { route: 'GET /sample?n=16&format=png', rows: 16, request: () => fetch(server.url + '/sample?n=16&seed=1&format=png') },
  ];
  const rows = [];
  for (const c of cases) {
    for (const clients of [1, 8]) {
      await load(c.request, clients, 0.5); // warm-up
      const r = await load(c.request, clients, 3);
      rows.push({ route: c.route, clients, ...r, rowsPerSec: r.requestsPerSec * c.rows });
    }
  }
  await server.close();
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(`| route | clients | requests/s | decoded rows/s | median ms | p99 ms |\n|---|---|---|---|---|---|`);
  for (const r of rows)
    console.log(`| ${r.route} | ${r.clients} | ${r.requestsPerSec.toFixed(0)} | ${r.rowsPerSec.toFixed(0)} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} |`);
  const out = path.join(__dirname, 'results', 'serve.json');
  fs.writeFileSync(out + '.tmp', JSON.stringify({ date: new Date().toISOString(), cpus: os.cpus().length, onnxThreads: 1, rows }, null, 2) + '\n');
  fs.renameSync(out + '.tmp', out);
})().catch((e) => { console.error(e); process.exit(1); });

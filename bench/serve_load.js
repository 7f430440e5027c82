#!/usr/bin/env node
// bench/serve_load.js — `latentkit serve` under load, the server in its own process (as deployed): autocannon against
// POST /decode (64 rows of z, JSON) with 1, 8, 64 and 512 connections for 5 s each, with a bearer token; the server's
// RSS before and after; /healthz polled every 200 ms throughout (its worst latency and failures). Then 400 clients
// that ask GET /sample?n=1024 (≈ 10 MB of JSON each) and never read their answers — which grew the server to 8.4 GB
// and killed it before maxConcurrent — with the server's peak RSS and /healthz meanwhile.
// Usage: node bench/serve_load.js (needs `npm run build:ts`). Writes bench/results/serve_load.json.
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const autocannon = require('autocannon');
const { Vae } = require('../dist');

const TOKEN = 'bench-token-0123456789abcdef';
const rssMb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

function startServer(dir) {
  const child = spawn(process.execPath, [path.join(__dirname, '..', 'bin', 'latentkit.js'), 'serve', '--model', dir, '--port', '0', '--threads', '1', '--log-level', 'warn'],
    { env: { ...process.env, LATENTKIT_SERVE_TOKEN: TOKEN }, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve) => {
    let out = '';
    child.stdout.on('data', (c) => {
      out += String(c);
      const m = /on (http:\/\/[^ ]+)/.exec(out);
      if (m) resolve({ child, url: m[1] });
    });
  });
}

/** Polls /healthz every 200 ms until stopped: worst latency and failures. */
function watchHealth(url) {
  const stats = { polls: 0, failures: 0, worstMs: 0 };
  let running = true;
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      try {
        const r = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(10000) });
        if (r.status !== 200) stats.failures++;
        await r.arrayBuffer();
      } catch {
        stats.failures++;
      }
      stats.polls++;
      stats.worstMs = Math.max(stats.worstMs, performance.now() - t0);
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  return { stats, stop: async () => { running = false; await loop; return stats; } };
}

(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'latentkit-load-'));
  const vae = new Vae({ inputDim: 784, latentDim: 20, hidden: [400], seed: 1 });
  await vae.exportOnnx(dir);
  const { child, url } = await startServer(dir);
  const body = JSON.stringify({ z: Array.from({ length: 64 }, (_, i) => Array.from({ length: 20 }, (_, j) => Math.sin(i + j))) });
  const rows = [];
  const rssStart = rssMb(child.pid);
  for (const connections of [1, 8, 64, 512]) {
    const health = watchHealth(url);
    const r = await autocannon({ url: `${url}/decode`, method: 'POST', body, connections, duration: 5,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` } });
    const h = await health.stop();
    const row = { connections, requestsPerSec: r.requests.average, p50Ms: r.latency.p50, p99Ms: r.latency.p99, ok2xx: r['2xx'], busy503: r.non2xx,
      errors: r.errors, timeouts: r.timeouts, rssMb: Math.round(rssMb(child.pid)), healthzWorstMs: Math.round(h.worstMs), healthzFailures: h.failures };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
  const rssAfterLoad = rssMb(child.pid);

  // 400 clients that never read their answers.
  const port = Number(new URL(url).port);
  const health = watchHealth(url);
  let peak = rssMb(child.pid);
  const sockets = [];
  for (let i = 0; i < 400; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    s.write(`GET /sample?n=1024 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`);
    s.pause(); // never read
    sockets.push(s);
  }
  for (let t = 0; t < 40; t++) {
    await new Promise((r) => setTimeout(r, 250));
    peak = Math.max(peak, rssMb(child.pid));
  }
  const h = await health.stop();
  for (const s of sockets) s.destroy();
  const nonReaders = { clients: 400, seconds: 10, serverPeakRssMb: Math.round(peak), healthzWorstMs: Math.round(h.worstMs), healthzFailures: h.failures, healthzPolls: h.polls };
  console.log(JSON.stringify({ nonReaders }));
  child.kill('SIGTERM');
  const result = { cpu: os.cpus()[0].model, node: process.version, decoder: '20-400-784, 64 rows JSON, onnxruntime 1 thread', maxConcurrent: 16,
    rssStartMb: Math.round(rssStart), rssAfterLoadMb: Math.round(rssAfterLoad), load: rows, nonReaders };
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  fs.writeFileSync(path.join(__dirname, 'results', 'serve_load.json'), JSON.stringify(result, null, 2) + '\n');
  fs.rmSync(dir, { recursive: true, force: true });
})().catch((e) => {
  console.error(e);
  process.exit(1);
});

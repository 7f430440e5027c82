#!/usr/bin/env node
// bench/memory.js — what training costs in memory by data form, each case in a fresh child process:
//   mnist-f32        datasets.mnist(): 188 MB of float32 in JS, copied once into native memory by fit
//   mnist-u8-mmap    datasets.mnist({ mmap: true }): the IDX file mapped as bytes (47 MB, read as v / 255), no copy
//   big-f32-memory   a generated float32 .npy of --gb GB read into memory (readNpy in pieces) and copied by fit
//   big-f32-mmap     the same file memory-mapped (loadData(..., { mmap: true })), global shuffle
//   big-f32-blocks   … mapped, with shuffle: 'blocks'
// Peak RSS (VmHWM) and the peak of anonymous memory (RssAnon: RSS without the file pages of a mapping, which are the
// page cache) are sampled every 50 ms in the child; examples/s is the fit's own over --seconds of training (the big
// cases stop then, via an AbortSignal). The MNIST cases train --epochs full epochs and report the losses, which must
// be equal. Usage: node bench/memory.js [--gb 6] [--seconds 40] [--epochs 2] [--threads 2] [--cases a,b] (needs
// `npm run build:ts`). Writes bench/results/memory.json. The big file is written to --dir (os.tmpdir()) and removed.
'use strict';
const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const { arg } = require('./args');
const gb = Number(arg('gb', 6)), seconds = Number(arg('seconds', 40)), epochs = Number(arg('epochs', 2));
const threads = Number(arg('threads', 2));
const dir = arg('dir', os.tmpdir());
const bigFile = path.join(dir, `latentkit-bench-memory-${gb}gb.npy`);

function status() {
  const s = fs.readFileSync('/proc/self/status', 'utf8');
  const kb = (k) => Number((new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s) || [0, 0])[1]) / 1024;
  return { hwm: kb('VmHWM'), anon: kb('RssAnon'), file: kb('RssFile') };
}

async function child(kind) {
  const { Vae, datasets, loadData, native } = require('../dist');
  let peakAnon = 0, peakFile = 0;
  const sample = () => {
    const s = status();
    peakAnon = Math.max(peakAnon, s.anon);
    peakFile = Math.max(peakFile, s.file);
  };
  const timer = setInterval(sample, 50);
  const before = status();
  const t0 = performance.now();
  let x;
  if (kind === 'mnist-f32') x = (await datasets.mnist({ split: 'train' })).x;
  else if (kind === 'mnist-u8-mmap') x = (await datasets.mnist({ split: 'train', mmap: true })).x;
  else x = (await loadData(bigFile, { mmap: kind !== 'big-f32-memory' })).x;
  const loadSeconds = (performance.now() - t0) / 1000;
  sample();
  const vae = new Vae({ inputDim: 784, latentDim: 20, hidden: [400], seed: 1 });
  const big = kind.startsWith('big');
  const stop = new AbortController();
  let rate = 0, examples = 0;
  const t1 = performance.now();
  if (big) setTimeout(() => stop.abort(), seconds * 1000);
  let history;
  try {
    history = await vae.fit(x, { epochs: big ? 1 : epochs, threads, signal: stop.signal, shuffle: kind === 'big-f32-blocks' ? 'blocks' : 'global',
      progress: (p) => { rate = p.examplesPerSec; examples = p.examples; } });
  } catch (e) {
    if (e.code !== 'LATENTKIT_CANCELLED') throw e;
  }
  const trainSeconds = (performance.now() - t1) / 1000;
  clearInterval(timer);
  sample();
  const after = status();
  return { kind, rows: x.rows, loadSeconds, trainSeconds, examples, examplesPerSec: history ? history.epochs.reduce((s, e) => s + e.examplesPerSec, 0) / history.epochs.length : rate,
    losses: history ? history.epochs.map((e) => e.trainLoss) : null, baseRssMB: before.hwm, peakRssMB: after.hwm, peakAnonMB: peakAnon, peakFileMB: peakFile,
    cpu: os.cpus()[0].model, isa: native().info().isa };
}

function writeBigFile() {
  if (fs.existsSync(bigFile)) return;
  const cols = 784, rowBytes = cols * 4;
  const rows = Math.floor((gb * 1e9) / rowBytes);
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${cols}), }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  head.writeUInt8(0x93, 0);
  head.write('NUMPY', 1, 'latin1');
  head[6] = 1;
  head.writeUInt16LE(header.length, 8);
  const fd = fs.openSync(bigFile + '.tmp', 'w');
  fs.writeSync(fd, Buffer.concat([head, Buffer.from(header, 'latin1')]));
  // MNIST-like rows: the training images tiled (read through the IDX parser in the parent, once).
  const { datasets } = require('../dist');
  return datasets.mnist({ split: 'train' }).then((m) => {
    const per = 4096;
    for (let r = 0; r < rows; r += per) {
      const n = Math.min(per, rows - r);
      const chunk = new Float32Array(n * cols);
      for (let i = 0; i < n; i++) chunk.set(m.x.data.subarray(((r + i) % m.x.rows) * cols, (((r + i) % m.x.rows) + 1) * cols), i * cols);
      fs.writeSync(fd, Buffer.from(chunk.buffer));
    }
    fs.closeSync(fd);
    fs.renameSync(bigFile + '.tmp', bigFile);
  });
}

(async () => {
  if (process.argv[2] === '--child') {
    process.stdout.write(JSON.stringify(await child(process.argv[3])) + '\n');
    return;
  }
  const cases = arg('cases', 'mnist-f32,mnist-u8-mmap,big-f32-memory,big-f32-mmap,big-f32-blocks').split(',');
  if (cases.some((c) => c.startsWith('big'))) await writeBigFile();
  const { native } = require('../dist');
  const result = { date: new Date().toISOString(), cpu: os.cpus()[0].model, isa: native().info().isa, threads, gb, seconds, epochs,
    memTotalGB: os.totalmem() / 2 ** 30, runs: [] };
  process.stdout.write(`CPU ${result.cpu}, oneDNN ISA ${result.isa}, ${threads} threads, ${result.memTotalGB.toFixed(1)} GiB\n`);
  for (const kind of cases) {
    if (kind.startsWith('big')) execFileSync('cat', [bigFile], { stdio: ['ignore', 'ignore', 'inherit'], maxBuffer: 1 }); // into the page cache
    const out = execFileSync(process.execPath, [__filename, '--child', kind, ...process.argv.slice(2)], { encoding: 'utf8', maxBuffer: 1 << 20 });
    const r = JSON.parse(out.trim().split('\n').pop());
    result.runs.push(r);
    process.stdout.write(`${kind.padEnd(16)} rows ${String(r.rows).padStart(8)}  load ${r.loadSeconds.toFixed(1).padStart(5)} s  peak RSS ${r.peakRssMB.toFixed(0).padStart(6)} MB  ` +
      `peak anon ${r.peakAnonMB.toFixed(0).padStart(6)} MB  peak file ${r.peakFileMB.toFixed(0).padStart(6)} MB  ${r.examplesPerSec.toFixed(0).padStart(6)} ex/s` +
      `${r.losses ? `  losses ${r.losses.map((l) => l.toFixed(4)).join(' ')}` : ''}\n`);
  }
  fs.writeFileSync(path.join(__dirname, 'results', 'memory.json'), JSON.stringify(result, null, 2) + '\n');
  if (fs.existsSync(bigFile) && arg('keep', 'no') !== 'yes') fs.rmSync(bigFile);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});

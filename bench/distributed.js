#!/usr/bin/env node
// bench/distributed.js — data-parallel training on this machine: the 784-400-20 MNIST VAE (batch 128, --epochs
// epochs of the 60,000 training images) as 1 process × 2 threads, 1 process × 1 thread and 2 ranks × 1 thread under
// mpirun (fit({ distributed: true })), the three alternated for --rounds rounds. Reports each one's median
// examples/s, the ranks' share of the step time spent in the gradient all-reduce (measured inside it, rank 0) and the
// bytes reduced per step; prints the CPU model and oneDNN's ISA. Writes bench/results/distributed.json.
// Usage: node bench/distributed.js [--epochs 2] [--rounds 3]   (needs `npm run build:ts`, openmpi-bin)
// A worker run: node bench/distributed.js --worker <threads> <distributed 0|1> <epochs> <out.json>
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const { arg, median } = require('./args');

async function worker([threads, distributed, epochs, out]) {
  const lk = require('../dist');
  const train = await lk.datasets.mnist({ split: 'train' });
  const group = distributed === '1' ? lk.processGroup() : null;
  const vae = new lk.Vae({ inputDim: 784, latentDim: 20, hidden: [400], seed: 0 });
  const h = await vae.fit(train.x, { epochs: Number(epochs), batchSize: 128, threads: Number(threads), distributed: Boolean(group) });
  if (group && group.rank !== 0) return;
  const seconds = h.epochs.reduce((s, e) => s + e.seconds, 0);
  const steps = h.epochs.length * Math.ceil(train.x.rows / 128);
  const reduce = group ? lk.native().distributed.reduceStats() : { seconds: 0, bytes: 0 };
  fs.writeFileSync(out, JSON.stringify({ examplesPerSec: (h.epochs.length * train.x.rows) / seconds, seconds, steps, loss: h.epochs.at(-1).trainLoss,
    reduceSeconds: reduce.seconds, reduceBytesPerStep: reduce.bytes / steps, numParams: vae.numParams }));
}

function run(name, threads, ranks, epochs) {
  const out = path.join(os.tmpdir(), `latentkit-distributed-bench-${process.pid}-${name}.json`);
  const args = [__filename, '--worker', String(threads), ranks > 1 ? '1' : '0', String(epochs), out];
  const env = { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' };
  const p = ranks > 1 ? spawnSync('mpirun', ['--oversubscribe', '-np', String(ranks), '--bind-to', 'none', process.execPath, ...args], { env, encoding: 'utf8' })
    : spawnSync(process.execPath, args, { env, encoding: 'utf8' });
  if (p.status !== 0) throw new Error(`${name} failed: ${p.stderr}`);
  const r = JSON.parse(fs.readFileSync(out, 'utf8'));
  fs.rmSync(out);
  return r;
}

async function main() {
  const epochs = Number(arg('epochs', 2)), rounds = Number(arg('rounds', 3));
  const cases = [['1 process × 2 threads', 2, 1], ['1 process × 1 thread', 1, 1], ['2 ranks × 1 thread', 1, 2]];
  const all = Object.fromEntries(cases.map(([n]) => [n, []]));
  for (let r = 0; r < rounds; r++)
    for (const [name, threads, ranks] of r % 2 ? [...cases].reverse() : cases) all[name].push(run(name, threads, ranks, epochs));
  const lk = require('../dist');
  const result = { date: new Date().toISOString(), cpu: os.cpus()[0].model, cores: os.cpus().length, isa: lk.native().info().isa, epochs, rounds, cases: {} };
  const base = median(all['1 process × 2 threads'].map((c) => c.examplesPerSec));
  process.stdout.write(`CPU ${result.cpu} (${result.cores} cores), oneDNN ISA ${result.isa}; 784-400-20 VAE, batch 128, ${epochs} epochs of MNIST, median of ${rounds}\n` +
    '| run | examples/s | vs 1 × 2 threads | all-reduce share of step time | bytes reduced per step |\n|---|---|---|---|---|\n');
  for (const [name] of cases) {
    const runs = all[name];
    const eps = median(runs.map((c) => c.examplesPerSec));
    const share = median(runs.map((c) => c.reduceSeconds / c.seconds));
    result.cases[name] = { examplesPerSec: eps, ratio: eps / base, reduceShare: share, reduceBytesPerStep: runs[0].reduceBytesPerStep,
      stepSeconds: median(runs.map((c) => c.seconds / c.steps)), all: runs };
    process.stdout.write(`| ${name} | ${eps.toFixed(0)} | ${(eps / base).toFixed(2)} | ${runs[0].reduceBytesPerStep ? `${(100 * share).toFixed(1)} %` : '—'} | ` +
      `${runs[0].reduceBytesPerStep ? `${(runs[0].reduceBytesPerStep / 1e6).toFixed(2)} MB` : '—'} |\n`);
  }
  fs.writeFileSync(path.join(__dirname, 'results', 'distributed.json'), JSON.stringify(result, null, 2) + '\n');
}

(process.argv[2] === '--worker' ? worker(process.argv.slice(3)) : main()).catch((e) => {
  console.error(e);
  process.exit(1);
});

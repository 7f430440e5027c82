#!/usr/bin/env node
// bench/distributed.js — data-parallel training on this machine: the 784-400-20 MNIST VAE (batch 128, --epochs
// epochs of the 60,000 training images) as 1 process × 2 threads, 1 process × 1 thread and 2 ranks × 1 thread under
// mpirun (fit({ distributed: true }): every rank holding the set; and 'sharded': each holding half), alternated for
// --rounds rounds. Reports each one's median
// examples/s, the ranks' share of the step time spent in the gradient all-reduce (measured inside it, rank 0) and the
// bytes reduced per step; prints the CPU model and oneDNN's ISA. Writes bench/results/distributed.json.
// Usage: node bench/distributed.js [--epochs 2] [--rounds 3]   (needs `npm run build:ts`, openmpi-bin)
// A worker run: node bench/distributed.js --worker <threads> <distributed 0|replicated|sharded> <epochs> <out.json>
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const { arg, median } = require('./args');

async function worker([threads, distributed, epochs, out]) {
  const lk = require('../dist');
  const train = await lk.datasets.mnist({ split: 'train' });
  const group = distributed !== '0' ? lk.processGroup() : null;
  const sharded = Boolean(group) && distributed === 'sharded';
  const vae = new lk.Vae({ inputDim: 784, latentDim: 20, hidden: [400], seed: 0 });
  const h = await vae.fit(sharded ? lk.shardOf(train.x, group) : train.x, { epochs: Number(epochs), batchSize: 128, threads: Number(threads),
    distributed: sharded ? 'sharded' : Boolean(group) });
  if (group && group.rank !== 0) return;
  const seconds = h.epochs.reduce((s, e) => s + e.seconds, 0);
  const steps = h.epochs.length * Math.ceil(train.x.rows / 128);
  const reduce = group ? lk.native().distributed.reduceStats() : { seconds: 0, bytes: 0 };
  fs.writeFileSync(out, JSON.stringify({ examplesPerSec: (h.epochs.length * train.x.rows) / seconds, seconds, steps, loss: h.epochs.at(-1).trainLoss,
    reduceSeconds: reduce.seconds, reduceBytesPerStep: reduce.bytes / steps, numParams: vae.numParams }));
}

function run(name, threads, ranks, epochs, mode) {
  const out = path.join(os.tmpdir(), `latentkit-distributed-bench-${process.pid}-${name}.json`);
  const args = [__filename, '--worker', String(threads), ranks > 1 ? mode : '0', String(epochs), out];
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
  const cases = [['1 process × 2 threads', 2, 1], ['1 process × 1 thread', 1, 1], ['2 ranks × 1 thread', 1, 2, 'replicated'],
    ['2 ranks × 1 thread, sharded', 1, 2, 'sharded']];
  const all = Object.fromEntries(cases.map(([n]) => [n, []]));
  for (let r = 0; r < rounds; r++)
    for (const [name, threads, ranks, mode] of r % 2 ? [...cases].reverse() : cases) all[name].push(run(name, threads, ranks, epochs, mode));
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
  // The scaling model across machines: a ring all-reduce moves 2 (N − 1) / N × the gradient's bytes per rank per step
  // (latency ignored), against the measured step of one machine (1 process × 2 threads).
  const step = result.cases['1 process × 2 threads'].stepSeconds, bytes = result.cases['2 ranks × 1 thread'].reduceBytesPerStep;
  process.stdout.write(`\nscaling model from the measured ${(step * 1e3).toFixed(2)} ms step and ${(bytes / 1e6).toFixed(2)} MB per all-reduce\n` +
    '| network | machines N | all-reduce per step | speed-up, global batch 128 | speed-up, batch 128 per machine |\n|---|---|---|---|---|\n');
  result.scaling = [];
  for (const gbps of [10, 100])
    for (const n of [2, 8, 16]) {
      const reduce = (2 * (n - 1) / n) * bytes / (gbps * 1e9 / 8);
      const row = { gbps, machines: n, reduceSeconds: reduce, fixedGlobalBatch: step / (step / n + reduce), batchPerMachine: (n * step) / (step + reduce) };
      result.scaling.push(row);
      process.stdout.write(`| ${gbps} Gb/s | ${n} | ${(reduce * 1e3).toFixed(2)} ms | ${row.fixedGlobalBatch.toFixed(2)}× | ${row.batchPerMachine.toFixed(2)}× |\n`);
    }
  fs.writeFileSync(path.join(__dirname, 'results', 'distributed.json'), JSON.stringify(result, null, 2) + '\n');
}

(process.argv[2] === '--worker' ? worker(process.argv.slice(3)) : main()).catch((e) => {
  console.error(e);
  process.exit(1);
});

#!/usr/bin/env node
// bench/fuzz.js — the fuzzer of test/fuzz.test.ts for longer: seeds 1…S, each a child process of 20,000 binding calls
// and 5,000 mutated files. Reports crashes (the child's signal and its last case), hangs and the case count.
// Usage: node bench/fuzz.js [--seeds 20]   (needs `npm run build:ts`). Writes bench/results/fuzz.json.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { parseArgs } = require('util');
const { native } = require('../dist');

const { values } = parseArgs({ options: { seeds: { type: 'string', default: '20' }, binding: { type: 'string', default: '20000' }, loaders: { type: 'string', default: '5000' } } });
const progress = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'latentkit-fuzz-')), 'progress');
const runs = [];
const t0 = performance.now();
for (let seed = 1; seed <= Number(values.seeds); seed++) {
  const r = spawnSync(process.execPath, [path.join(__dirname, '..', 'test', 'scripts', 'fuzz.js'), String(seed), values.binding, values.loaders, progress],
    { encoding: 'utf8', timeout: 900000 });
  let summary = null;
  try { summary = JSON.parse(r.stdout.trim().split('\n').pop()); } catch { /* the child died */ }
  const run = { seed, status: r.status, signal: r.signal, findings: summary ? summary.findings : [`died in ${fs.readFileSync(progress, 'utf8')}`], seconds: summary?.seconds };
  runs.push(run);
  console.log(JSON.stringify(run));
}
const cases = runs.length * (Number(values.binding) + Number(values.loaders));
const result = { date: new Date().toISOString(), cpu: os.cpus()[0].model, isa: native().info().isa, cases, seconds: (performance.now() - t0) / 1000,
  crashes: runs.filter((r) => r.status !== 0).length, findings: runs.flatMap((r) => r.findings), runs };
fs.writeFileSync(path.join(__dirname, 'results', 'fuzz.json'), JSON.stringify(result, null, 2) + '\n');
console.log(`${cases} cases in ${result.seconds.toFixed(0)} s: ${result.crashes} crashes, ${result.findings.length} findings`);

// fuzz.test.ts — a bounded run of the seeded fuzzer (test/scripts/fuzz.js) in a child process: 3,000 calls of every
// binding function and VaeNative method with edge-value arguments, and 2,000 mutated files for the safetensors,
// .npy, .npz, IDX, CSV and ONNX loaders. Zero crashes (the child must exit 0), zero hangs (every synchronous call under
// 3 s, every job settled within 20 s). bench/fuzz.js runs the same fuzzer for longer.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ensureDist } from './scripts/dist';

beforeAll(() => ensureDist(), 120000);

test('3,000 binding calls and 2,000 mutated files: no crash, no hang', () => {
  const progress = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'latentkit-fuzz-test-')), 'progress');
  const r = spawnSync(process.execPath, [path.join(__dirname, 'scripts', 'fuzz.js'), '1', '3000', '2000', progress], { encoding: 'utf8', timeout: 300000 });
  const last = fs.existsSync(progress) ? fs.readFileSync(progress, 'utf8') : 'none';
  expect({ status: r.status, signal: r.signal, lastCase: r.status === 0 ? 'done' : last }).toEqual({ status: 0, signal: null, lastCase: 'done' });
  const summary = JSON.parse(r.stdout.trim().split('\n').pop()!);
  expect(summary.findings).toEqual([]);
  expect(summary.bindingCases + summary.loaderCases).toBe(5000);
}, 320000);

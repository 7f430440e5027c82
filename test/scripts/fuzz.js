// test/scripts/fuzz.js — a seeded fuzzer of latentkit's native binding and of every file loader, run in a child process
// so a crash is seen as the child's death (test/fuzz.test.ts, and bench/fuzz.js for long runs).
//   node fuzz.js <seed> <binding cases> <loader cases> <progress file>
// Binding cases call every function of native().kernels and native().classical, the VaeNative constructor and every
// method, with arguments drawn from edge values: numbers (0, ±1, 2^31, 2^53, NaN, ±Infinity, 1e300, …), typed
// arrays of the wrong type, length or a detached buffer, null / undefined / objects / strings. Loader cases feed
// mutated valid files (bit flips, truncation, inserted bytes, rewritten headers) to the safetensors, .npy, .npz, IDX, CSV
// and ONNX readers. A thrown error is a pass; the child dying (signal) or one call running past its time bound is a
// finding. Before each case the child writes the case's number and name to the progress file, so the parent can say
// which one killed it. Prints a JSON summary on the last line.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const lk = require(path.join(__dirname, '..', '..', 'dist'));
const { decodeSafetensors, encodeSafetensors } = require(path.join(__dirname, '..', '..', 'dist', 'io', 'safetensors'));

const [seed, bindingCases, loaderCases, progressFile] = [Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4]), process.argv[5]];
let state = seed >>> 0;
const rand = () => {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = (a) => a[Math.floor(rand() * a.length)];
const int = (n) => Math.floor(rand() * n);

const SMALL = [0, 1, 2, 3, 4, 7, 16, 64];
const EDGE = [0, 1, -1, 2, 3, 0.5, -0.5, 2 ** 31, 2 ** 32 + 1, 2 ** 40, 2 ** 53, 2 ** 60, -(2 ** 31), NaN, Infinity, -Infinity, 1e300, -1e-300, Number.MIN_VALUE];
function number() {
  return rand() < 0.6 ? pick(SMALL) : pick(EDGE);
}
function typedArray() {
  const length = rand() < 0.7 ? pick(SMALL) * pick([1, 2, 3, 4, 8]) : int(300);
  const kind = pick([Float32Array, Float32Array, Float32Array, Float64Array, Float64Array, BigInt64Array, Uint8Array, Int32Array]);
  const a = new kind(length);
  if (kind !== BigInt64Array) for (let i = 0; i < length; i++) a[i] = rand() < 0.9 ? rand() * 4 - 2 : pick(EDGE);
  if (rand() < 0.05) structuredClone(a.buffer, { transfer: [a.buffer] }); // detached
  return a;
}
function object() {
  const o = {};
  const keys = ['nComponents', 'covarianceType', 'tol', 'maxIter', 'nInit', 'init', 'regCovar', 'seed', 'threads', 'weights', 'means',
    'precisionsCholesky', 'mean', 'W', 'psi', 'isotropic', 'ddof', 'sampleEstep', 'samples', 'objective', 'klWeight', 'freeBits', 'batchSize',
    'lr', 'weightDecay', 'binarize', 'inputDim', 'latentDim', 'hidden', 'activation', 'likelihood', 'sigmaMode', 'sigma', 'priorComponents',
    'conditionDim', 'reconstruction', 'kl', 'logLikelihood', 'lr', 'beta1', 'beta2', 'eps', 'encoder', 'decoder', 'inputShape', 'kind',
    'units', 'kernel', 'stride', 'padding', 'outputPadding', 'onProgress', 'inC', 'inH', 'inW', 'outC', 'transposed'];
  for (let i = int(6); i > 0; i--) o[pick(keys)] = value(1);
  return o;
}
function value(depth = 0) {
  const r = rand();
  if (r < 0.4) return number();
  if (r < 0.75) return typedArray();
  if (r < 0.8) return null;
  if (r < 0.85) return undefined;
  if (r < 0.92 && depth === 0) return object();
  if (r < 0.95) return pick(['', 'x', '784', 'full', 'diag', 'iwae', 'relu', 'dense', 'conv', 'kmeans', () => {}, () => { throw new Error('callback'); }]);
  if (r < 0.98) return pick([true, false]);
  return depth === 0 ? [number(), number()] : {};
}

/** A well-formed-ish VaeNative config (valid sizes most of the time, so methods run). */
function vaeConfig() {
  const acts = ['identity', 'relu', 'tanh', 'leaky_relu', 'softplus'];
  const dense = (name, units) => ({ name, kind: 'dense', units, activation: pick(acts) });
  const image = rand() < 0.25; // a [1, 2, 2] image through a (sometimes ill-sized) convolution
  const D = image ? 4 : pick([1, 2, 4, 8]);
  const hidden = rand() < 0.5 ? [] : [pick([1, 3, 5])];
  const encoder = image
    ? [{ name: 'encoder.0', kind: pick(['conv', 'convTranspose']), units: pick([1, 2]), kernel: pick([0, 1, 2, 3]), stride: pick([0, 1, 2]), padding: pick([0, 1, 2]), activation: pick(acts) }]
    : hidden.map((h, i) => dense(`encoder.${i}`, h));
  const decoder = [...hidden.map((h, i) => dense(`decoder.${i}`, h)), { name: 'decoder.out', kind: 'dense', units: rand() < 0.9 ? D : 3 }];
  return { inputDim: D, ...(image ? { inputShape: [1, 2, 2] } : {}), latentDim: pick([1, 2, 3]), encoder, decoder,
    likelihood: pick(['bernoulli', 'gaussian', 'laplace', 'poisson', 'nb', 'zinb', 'other']), sigmaMode: rand() < 0.7 ? 'fixed' : pick(['shared', 'feature', 'decoder', 3]),
    sigma: 1, minSigma: 1e-3, observedLibrary: rand() < 0.5, priorComponents: rand() < 0.8 ? 0 : 2, conditionDim: rand() < 0.8 ? 0 : 2 };
}

const findings = [];
const SYNC_LIMIT_MS = 3000;
const ASYNC_LIMIT_MS = 20000;

async function call(name, fn) {
  const t0 = performance.now();
  let result;
  try {
    result = fn();
  } catch {
    result = undefined;
  }
  const syncMs = performance.now() - t0;
  if (syncMs > SYNC_LIMIT_MS) findings.push(`${name}: a synchronous call ran ${syncMs.toFixed(0)} ms`);
  if (result && typeof result.then === 'function') {
    let timer;
    const outcome = await Promise.race([
      result.then(() => 'settled', () => 'settled'),
      new Promise((resolve) => (timer = setTimeout(() => resolve('timeout'), ASYNC_LIMIT_MS))),
    ]);
    clearTimeout(timer);
    if (outcome === 'timeout') findings.push(`${name}: an async job did not settle in ${ASYNC_LIMIT_MS} ms`);
  }
}

async function fuzzBinding(n) {
  const b = lk.native();
  const fns = [...Object.entries(b.kernels).map(([k, f]) => [`kernels.${k}`, f]), ...Object.entries(b.classical).map(([k, f]) => [`classical.${k}`, f])];
  const methods = Object.getOwnPropertyNames(b.VaeNative.prototype).filter((m) => m !== 'constructor');
  let model = new b.VaeNative({ inputDim: 8, latentDim: 2, encoder: [{ name: 'encoder.0', kind: 'dense', units: 3, activation: 'relu' }], decoder: [{ name: 'decoder.0', kind: 'dense', units: 3, activation: 'relu' }, { name: 'decoder.out', kind: 'dense', units: 8 }], likelihood: 'bernoulli', sigmaMode: 'fixed', observedLibrary: false, priorComponents: 0, conditionDim: 0 });
  for (let i = 0; i < n; i++) {
    const r = rand();
    if (r < 0.55) {
      const [name, f] = pick(fns);
      const args = Array.from({ length: int(12) }, () => value());
      fs.writeFileSync(progressFile, `binding case ${i}: ${name}`);
      await call(name, () => f(...args));
    } else if (r < 0.6) {
      fs.writeFileSync(progressFile, `binding case ${i}: new VaeNative`);
      const cfg = rand() < 0.5 ? vaeConfig() : object();
      await call('new VaeNative', () => {
        model = new b.VaeNative(cfg);
      });
    } else {
      const m = pick(methods);
      // Arguments shaped for the model half the time (right rows and widths), random otherwise.
      const rows = pick([0, 1, 3]);
      const sized = (w) => new Float32Array(rows * w).map(() => rand());
      const args = rand() < 0.5
        ? [sized(8), rows, sized(8), sized(8), rand() < 0.5 ? null : sized(2), value(), value()]
        : Array.from({ length: int(10) }, () => value());
      fs.writeFileSync(progressFile, `binding case ${i}: VaeNative.${m}`);
      await call(`VaeNative.${m}`, () => model[m](...args));
    }
  }
}

/** Valid files of every format, the seeds of the loader cases. */
async function seedFiles(dir) {
  const vae = new lk.Vae({ inputDim: 4, latentDim: 2, hidden: [3] });
  const ckpt = path.join(dir, 'model.safetensors');
  await vae.save(ckpt);
  const [decoder] = await vae.exportOnnx(dir, { parts: ['decoder'] });
  const idx = Buffer.concat([Buffer.from([0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2]), Buffer.from([1, 2, 3, 4, 5, 6, 7, 8])]);
  return {
    safetensors: fs.readFileSync(ckpt),
    npy: lk.encodeNpy({ data: Float32Array.from([1, 2, 3, 4, 5, 6]), rows: 3, cols: 2 }),
    // .npz: a zip of two .npy members, deflated and stored
    npz: npzOf(6),
    npzStored: npzOf(0),
    idx,
    idxGz: require('zlib').gzipSync(idx),
    csv: Buffer.from('a,b,c\n1,2,3\n4.5,-6,7e2\n"8",9,10\n'),
    onnx: fs.readFileSync(decoder),
    small: encodeSafetensors([{ name: 't', shape: [2, 2], data: Float32Array.from([1, 2, 3, 4]) }], { format: 'latentkit', kind: 'vae', options: '{}' }),
  };
}

function npzOf(level) {
  const member = (m) => new Uint8Array(lk.encodeNpy(m));
  return Buffer.from(require('fflate').zipSync({ 'x.npy': member({ data: Float32Array.from([1, 2, 3, 4, 5, 6]), rows: 3, cols: 2 }),
    'y.npy': member({ data: Float32Array.from([0, 1, 1]), rows: 3, cols: 1 }) }, { level }));
}

function mutate(buf) {
  let b = Buffer.from(buf);
  for (let m = 1 + int(4); m > 0; m--) {
    const r = rand();
    if (r < 0.35 && b.length > 0) b[int(b.length)] ^= 1 << int(8);
    else if (r < 0.5) b = b.subarray(0, int(b.length + 1));
    else if (r < 0.65) {
      const at = int(b.length + 1);
      b = Buffer.concat([b.subarray(0, at), Buffer.from(Array.from({ length: 1 + int(16) }, () => int(256))), b.subarray(at)]);
    } else if (r < 0.75 && b.length > 16) b.writeUInt32LE(pick([0, 1, 0xffffffff, 0x7fffffff, b.length, int(1 << 20)]), int(Math.min(16, b.length - 4)));
    else if (r < 0.85) {
      // rewrite a number inside the text (a safetensors / npy header, a CSV field)
      const text = b.toString('latin1');
      const nums = [...text.matchAll(/\d+/g)];
      if (nums.length > 0) {
        const n = pick(nums);
        const repl = String(pick([0, 1, 2 ** 31, 2 ** 53, 1e300, 999999999999, -1]));
        b = Buffer.from(text.slice(0, n.index) + repl + text.slice(n.index + n[0].length), 'latin1');
      }
    } else if (b.length > 0) b = Buffer.concat([b, b.subarray(int(b.length))]);
  }
  return b;
}

async function fuzzLoaders(n, dir) {
  const seeds = await seedFiles(dir);
  const file = path.join(dir, 'case.bin');
  const loaders = [
    ['safetensors', (b) => decodeSafetensors(b, 'case')],
    ['safetensors', async (b) => { fs.writeFileSync(file, b); await lk.Vae.load(file); }],
    ['small', async (b) => { fs.writeFileSync(file, b); await lk.Vae.load(file); }],
    ['safetensors', async (b) => { fs.writeFileSync(file, b); await lk.GaussianMixture.load(file); }],
    ['npy', (b) => lk.parseNpy(b)],
    ['npz', (b) => lk.parseNpz(b)],
    ['npzStored', (b) => lk.parseNpz(b)],
    ['idx', (b) => lk.parseIdx(b)],
    ['idxGz', (b) => lk.parseIdx(b)],
    ['csv', (b) => lk.parseCsv(b.toString('utf8'))],
    ['onnx', async (b) => { fs.writeFileSync(file, b); const d = await lk.OnnxDecoder.load(file); await d.decode({ data: new Float32Array(2), rows: 1, cols: 2 }); }],
  ];
  for (let i = 0; i < n; i++) {
    const [kind, load] = pick(loaders);
    fs.writeFileSync(progressFile, `loader case ${i}: ${kind}`);
    const input = mutate(seeds[kind]);
    await call(`load ${kind}`, () => load(input));
  }
}

(async () => {
  require('onnxruntime-node').env.logLevel = 'fatal'; // mutated graphs make onnxruntime print warnings by the hundred
  process.removeAllListeners('warning');
  process.on('warning', () => undefined);
  fs.writeFileSync(progressFile, 'starting');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'latentkit-fuzz-'));
  const t0 = performance.now();
  try {
    await fuzzBinding(bindingCases);
    await fuzzLoaders(loaderCases, dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(JSON.stringify({ seed, bindingCases, loaderCases, seconds: (performance.now() - t0) / 1000, findings }));
})();

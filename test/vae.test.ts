// The Vae model end to end: the fused native step's gradient against finite differences, training on a
// 2,000-image MNIST slice, determinism, save/load, the event loop during fit, cancellation, NaN detection.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { headRows, datasets } from '../lib/data';
import { Matrix } from '../lib/matrix';
import { nativeVaeConfig, resolveVaeOptions, Vae, VaeOptions } from '../lib/models/vae';
import { nativeStep, resolveObjective } from '../lib/models/objective';
import { native, NativeStepOptions, NativeVae } from '../lib/native';
import { maxRelErr, randn, uniform } from './helpers';

let slice: Matrix;
let test200: Matrix;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'latentkit-vae-'));

beforeAll(async () => {
  slice = headRows((await datasets.mnist({ split: 'train' })).x, 2000);
  test200 = headRows((await datasets.mnist({ split: 'test' })).x, 200);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const mean = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / a.length;

describe('gradient of the fused native step', () => {
  // The plan's analytic gradient (forward → ε → decoder → likelihood + KL → backward, exactly the training path)
  // against central differences of the plan's own loss in float64-accumulated float32: h = 1e-2 on small models.
  // step: the objective (0 ELBO, 1 IWAE), draws per example, KL weight and free bits, as fit's options set them.
  // A conv VAE small enough to difference every parameter: [1, 6, 6] → conv 2×(3×3, stride 2, padding 1) → [2, 3, 3]
  // → dense 4; z → dense 18 → [2, 3, 3] → transposed conv (4×4, stride 2, padding 1) → [1, 6, 6].
  const tinyConv: VaeOptions = {
    inputShape: [1, 6, 6], latentDim: 2,
    encoder: [{ conv: { channels: 2, kernel: 3, stride: 2, padding: 1 } }, { activation: 'tanh' }, 'flatten', { dense: 4 }, { activation: 'tanh' }],
    decoder: [{ dense: 18 }, { activation: 'tanh' }, { reshape: [2, 3, 3] }, { convTranspose: { channels: 1, kernel: 4, stride: 2, padding: 1 } }],
  };
  /** A case's step as the binding takes it: every field resolved by objective.ts (its defaults, defined there once). */
  const nativeStepOf = (s: NativeStepOptions) => nativeStep(resolveObjective({ objective: s.objective ?? 'elbo',
    ...(s.objective === 'iwae' ? { k: s.samples } : s.samples !== undefined ? { samples: s.samples } : {}),
    ...(s.klWeight !== undefined ? { beta: s.klWeight } : {}), ...(s.freeBits !== undefined ? { freeBits: s.freeBits } : {}) }));
  // Consecutive convolutions of 16 channels exchange oneDNN's blocked nChw16c layout instead of NCHW.
  const blockedConv: VaeOptions = {
    inputShape: [1, 6, 6], latentDim: 2,
    encoder: [{ conv: { channels: 16, kernel: 3, stride: 2, padding: 1 } }, { activation: 'tanh' }, { conv: { channels: 16, kernel: 3, padding: 1 } }, { activation: 'tanh' }, 'flatten', { dense: 3 }],
    decoder: [{ dense: 16 * 3 * 3 }, { activation: 'tanh' }, { reshape: [16, 3, 3] }, { convTranspose: { channels: 16, kernel: 3, padding: 1 } }, { activation: 'tanh' },
      { convTranspose: { channels: 16, kernel: 3, padding: 1 } }, { activation: 'tanh' }, { convTranspose: { channels: 1, kernel: 4, stride: 2, padding: 1 } }],
  };
  const cases: Array<[string, VaeOptions, NativeStepOptions]> = [
    ['bernoulli, relu, two hidden layers', { inputDim: 6, latentDim: 3, hidden: [5, 4], activation: 'relu', likelihood: 'bernoulli' }, {}],
    ['gaussian shared σ, tanh', { inputDim: 5, latentDim: 2, hidden: [4], activation: 'tanh', likelihood: 'gaussian', sigma: 'shared' }, {}],
    ['gaussian fixed σ, softplus, no hidden layer', { inputDim: 4, latentDim: 2, hidden: [], activation: 'softplus', likelihood: 'gaussian', sigma: 0.7 }, {}],
    ['bernoulli, leaky_relu', { inputDim: 5, latentDim: 2, hidden: [6], activation: 'leaky_relu', likelihood: 'bernoulli' }, {}],
    ['ELBO with 3 draws per example and β = 0.4', { inputDim: 5, latentDim: 3, hidden: [4], activation: 'tanh' }, { samples: 3, klWeight: 0.4 }],
    ['gaussian per-feature σ, IWAE k = 3', { inputDim: 5, latentDim: 2, hidden: [4], activation: 'tanh', likelihood: 'gaussian', sigma: 'feature' }, { objective: 'iwae', samples: 3 }],
    ['IWAE k = 4', { inputDim: 5, latentDim: 3, hidden: [4], activation: 'tanh' }, { objective: 'iwae', samples: 4 }],
    ['IWAE k = 5, gaussian shared σ, KL weight 0.3', { inputDim: 4, latentDim: 2, hidden: [3], activation: 'tanh', likelihood: 'gaussian', sigma: 'shared' }, { objective: 'iwae', samples: 5, klWeight: 0.3 }],
    ['free bits λ = 0.11 (some dimensions under the floor)', { inputDim: 6, latentDim: 4, hidden: [5], activation: 'tanh' }, { samples: 2, freeBits: 0.11 }],
    ['gaussian σ(z) from the decoder, floored', { inputDim: 5, latentDim: 2, hidden: [4], activation: 'tanh', likelihood: 'gaussian', sigma: 'decoder', minSigma: 0.2 }, {}],
    ['gaussian σ(z), no hidden layer, IWAE k = 3', { inputDim: 4, latentDim: 2, hidden: [], activation: 'tanh', likelihood: 'gaussian', sigma: 'decoder' }, { objective: 'iwae', samples: 3 }],
    ['laplace per-feature scale', { inputDim: 5, latentDim: 2, hidden: [4], activation: 'tanh', likelihood: 'laplace', sigma: 'feature' }, {}],
    ['laplace scale from the decoder, 2 draws', { inputDim: 5, latentDim: 2, hidden: [4], activation: 'tanh', likelihood: 'laplace', sigma: 'decoder' }, { samples: 2 }],
    ['poisson with the observed library size', { inputDim: 6, latentDim: 2, hidden: [4], activation: 'tanh', likelihood: 'poisson' }, {}],
    ['negative binomial, no library offset, IWAE k = 3', { inputDim: 6, latentDim: 2, hidden: [4], activation: 'tanh', likelihood: 'nb', library: 'none' }, { objective: 'iwae', samples: 3 }],
    ['mixture-of-Gaussians prior (C = 3), Monte-Carlo KL, 2 draws, β = 0.6', { inputDim: 5, latentDim: 2, hidden: [4], activation: 'tanh', prior: { mixture: 3 } }, { samples: 2, klWeight: 0.6 }],
    ['mixture prior (C = 2), IWAE k = 3, gaussian σ(z)', { inputDim: 4, latentDim: 2, hidden: [3], activation: 'tanh', likelihood: 'gaussian', sigma: 'decoder', prior: { mixture: 2 } }, { objective: 'iwae', samples: 3 }],
    ['conditional (3 condition columns), 2 hidden layers, IWAE k = 2', { inputDim: 5, latentDim: 2, hidden: [4, 3], activation: 'tanh', conditionDim: 3 }, { objective: 'iwae', samples: 2 }],
    ['conditional, no hidden layer, gaussian σ(z), mixture prior', { inputDim: 4, latentDim: 2, hidden: [], activation: 'tanh', likelihood: 'gaussian', sigma: 'decoder', prior: { mixture: 2 }, conditionDim: 2 }, { samples: 2 }],
    ['conv VAE (conv → dense; dense → reshape → transposed conv), bernoulli', { inputDim: 36, ...tinyConv }, {}],
    ['conv VAE, gaussian σ(z) from a twin transposed-conv head, IWAE k = 3', { inputDim: 36, ...tinyConv, likelihood: 'gaussian', sigma: 'decoder' }, { objective: 'iwae', samples: 3 }],
    ['conv VAE, conditional (2 columns), bernoulli, IWAE k = 2', { inputDim: 36, ...tinyConv, conditionDim: 2 }, { objective: 'iwae', samples: 2 }],
    ['conv VAE with 16-channel neighbours (blocked layout between them, both sides), IWAE k = 2', { inputDim: 36, ...blockedConv }, { objective: 'iwae', samples: 2 }],
    ['conv VAE, conditional, gaussian shared σ, ELBO with 2 draws', { inputDim: 36, ...tinyConv, likelihood: 'gaussian', sigma: 'shared', conditionDim: 2 }, { samples: 2 }],
    ['zero-inflated NB with the observed library size', { inputDim: 6, latentDim: 3, hidden: [5], activation: 'tanh', likelihood: 'zinb' }, { samples: 2 }],
  ];
  // Counts with zeros and a few larger values, for the count likelihoods.
  const countData = (n: number) => Float32Array.from(uniform(n, 6), (u, i) => (u < 0.4 ? 0 : Math.floor(-Math.log(1 - u) * (i % 2 ? 6 : 2))));
  test.each(cases)('%s', (_name, options, step) => {
    const rows = 8;
    const likelihood = options.likelihood ?? 'bernoulli';
    const n = rows * options.inputDim!;
    const x = likelihood === 'bernoulli' ? uniform(n, 5) : ['gaussian', 'laplace'].includes(likelihood) ? randn(n, 5) : countData(n);
    const handle = new (native().VaeNative)(nativeVaeConfig(resolveVaeOptions(options))) as NativeVae;
    const cond = options.conditionDim ? randn(rows * options.conditionDim, 8) : null;
    handle.initParams(3);
    const np = handle.numParams();
    const params = new Float32Array(np);
    handle.getParams(params);
    const grad = new Float32Array(np);
    const full = nativeStepOf(step);
    const loss0 = handle.lossAndGradient(x, rows, 11, grad, full, cond);
    if (step.freeBits) {
      // The case must exercise both sides of the floor: some dimensions' batch-mean KL under λ, some over.
      const L = options.latentDim;
      const m = new Float32Array(rows * L), lv = new Float32Array(rows * L), dims = new Float32Array(L);
      handle.encode(x, rows, m, lv, null, 'fp32');
      native().kernels.gaussian_kl_std_normal_dims_forward(dims, m, lv, rows, L);
      const under = Array.from(dims).filter((v) => v / rows < (step.freeBits as number)).length;
      expect(under).toBeGreaterThan(0);
      expect(under).toBeLessThan(L);
    }
    // ReLU kinks, the free-bits floor max(λ, KL_d) and Laplace's |x − mean| are the non-smooth points.
    const kinked = options.activation === 'relu' || options.activation === 'leaky_relu' || step.freeBits !== undefined || likelihood === 'laplace';
    // Count inputs (up to ~15) feed the encoder unscaled: the loss curves faster, so a smaller step keeps the O(h²)
    // truncation of central differences under the tolerance.
    const h = kinked ? 1e-3 : ['poisson', 'nb', 'zinb'].includes(likelihood) ? 2e-3 : 1e-2;
    const scratch = new Float32Array(np);
    const lossAt = (i: number, value: number) => {
      const p = Float32Array.from(params);
      p[i] = value;
      handle.setParams(p);
      return handle.lossAndGradient(x, rows, 11, scratch, full, cond);
    };
    const central = new Float64Array(np);
    let worst = 0;
    for (let i = 0; i < np; i++) {
      const up = lossAt(i, params[i] + h);
      const down = lossAt(i, params[i] - h);
      central[i] = (up - down) / (2 * h);
      const tol = (d: number) => Math.abs(grad[i] - d) / Math.max(1, Math.abs(d));
      // A ±h step can cross a kink on at most one side; the one-sided difference on the other side is clean.
      const err = kinked ? Math.min(tol(central[i]), tol((up - loss0) / h), tol((loss0 - down) / h)) : tol(central[i]);
      worst = Math.max(worst, err);
    }
    handle.setParams(params);
    // float32 forward passes: differences of the loss carry ~1e-4 relative noise at these step sizes
    expect(worst).toBeLessThan(kinked ? 5e-3 : 2e-3);
  });
});

describe('training', () => {
  test('a short fit on a 2,000-image MNIST slice improves the held-out ELBO', async () => {
    const vae = new Vae({ inputDim: 784, latentDim: 10, hidden: [200], seed: 1 });
    const before = mean((await vae.elbo(test200)).elbo);
    const history = await vae.fit(slice, { epochs: 3, batchSize: 64, validation: test200 });
    const after = mean((await vae.elbo(test200)).elbo);
    expect(history.epochs).toHaveLength(3);
    expect(history.epochs[2].trainLoss).toBeLessThan(history.epochs[0].trainLoss);
    expect(after).toBeGreaterThan(before + 200); // from ~−545 nats at initialisation to ~−200
    expect(history.epochs[2].testLoss).toBeCloseTo(-mean((await vae.elbo(test200, { seed: 0x5eed })).elbo), 3);
    for (const e of history.epochs) expect(e.examplesPerSec).toBeGreaterThan(0);
  });

  test('same seed and threads give an identical loss sequence; another seed does not', async () => {
    const run = async (seed: number, threads: number) => {
      const vae = new Vae({ inputDim: 784, latentDim: 8, hidden: [64], seed });
      const h = await vae.fit(headRows(slice, 1000), { epochs: 2, batchSize: 50, threads });
      return h.epochs.map((e) => e.trainLoss);
    };
    for (const threads of [1, 2]) expect(await run(4, threads)).toEqual(await run(4, threads));
    expect(await run(5, 1)).not.toEqual(await run(4, 1));
  });

  test('dynamic binarisation trains on binary draws', async () => {
    const vae = new Vae({ inputDim: 784, latentDim: 4, hidden: [32], seed: 2 });
    const h = await vae.fit(headRows(slice, 500), { epochs: 2, batchSize: 100, binarize: true });
    expect(h.epochs[1].trainLoss).toBeLessThan(h.epochs[0].trainLoss);
  });

  test('a Gaussian VAE with a shared σ learns σ', async () => {
    const x = randn(400 * 6, 9, 0.3);
    const vae = new Vae({ inputDim: 6, latentDim: 2, hidden: [16], likelihood: 'gaussian', sigma: 'shared' });
    expect(vae.sigma).toBeCloseTo(1, 6);
    await vae.fit({ data: x, rows: 400, cols: 6 }, { epochs: 20, batchSize: 40, learningRate: 1e-2 });
    expect(vae.sigma!).toBeLessThan(0.6);
  });
});

describe('inference API', () => {
  let vae: Vae;
  beforeAll(async () => {
    vae = new Vae({ inputDim: 784, latentDim: 6, hidden: [64], seed: 7 });
    await vae.fit(headRows(slice, 500), { epochs: 1, batchSize: 100 });
  });

  test('encode, decode, reconstruct and sample have the documented shapes and ranges', () => {
    const { mean: m, logVar } = vae.encode(headRows(test200, 5));
    expect([m.rows, m.cols, logVar.rows, logVar.cols]).toEqual([5, 6, 5, 6]);
    const x = vae.decode(m);
    expect([x.rows, x.cols]).toEqual([5, 784]);
    expect(x.data.every((v) => v > 0 && v < 1)).toBe(true);
    expect(Array.from(vae.reconstruct(headRows(test200, 5)).data)).toEqual(Array.from(x.data));
    const s = vae.sample(4, { seed: 1 });
    expect(Array.from(vae.sample(4, { seed: 1 }).data)).toEqual(Array.from(s.data));
    expect(Array.from(vae.sample(4, { seed: 2 }).data)).not.toEqual(Array.from(s.data));
    const a = vae.sample(4, { seed: 1, mode: 'ancestral' });
    expect(a.data.every((v) => v === 0 || v === 1)).toBe(true);
    expect(vae.decode([[0, 0, 0, 0, 0, 0]]).rows).toBe(1);
    expect(vae.encode({ data: new Float32Array(0), rows: 0, cols: 784 }).mean.rows).toBe(0);
  });

  test('elbo: per-example terms, more samples reduce the variance of the reconstruction term', async () => {
    const r1 = await vae.elbo(test200, { samples: 1, seed: 1 });
    const r1b = await vae.elbo(test200, { samples: 1, seed: 2 });
    const r64 = await vae.elbo(test200, { samples: 64, seed: 1 });
    const r64b = await vae.elbo(test200, { samples: 64, seed: 2 });
    expect(r1.elbo).toHaveLength(200);
    for (let i = 0; i < 200; i++) expect(r1.elbo[i]).toBeCloseTo(-(r1.reconstruction[i] + r1.kl[i]), 3);
    expect(Array.from(r1.kl)).toEqual(Array.from(r64.kl)); // closed form: no sampling
    const spread = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + (v - b[i]) ** 2, 0);
    expect(spread(r64.reconstruction, r64b.reconstruction)).toBeLessThan(spread(r1.reconstruction, r1b.reconstruction) / 10);
  });

  test('save → load gives identical outputs; the file records options and version', async () => {
    const file = path.join(tmp, 'm.safetensors');
    await vae.save(file);
    const back = await Vae.load(file);
    expect(back.options).toEqual(vae.options);
    expect(Array.from(back.parameters().flat)).toEqual(Array.from(vae.parameters().flat));
    expect(Array.from(back.decode(vae.encode(test200).mean).data)).toEqual(Array.from(vae.decode(vae.encode(test200).mean).data));
    const r = await back.elbo(test200, { seed: 3 });
    expect(Array.from(r.elbo)).toEqual(Array.from((await vae.elbo(test200, { seed: 3 })).elbo));
    expect(fs.readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('threads and the event loop', () => {
  test('the event loop keeps ticking while fit runs', async () => {
    const vae = new Vae({ inputDim: 784, latentDim: 10, hidden: [256], seed: 1 });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const t0 = Date.now();
    await vae.fit(slice, { epochs: 3, batchSize: 32 });
    const elapsed = Date.now() - t0;
    clearInterval(timer);
    expect(elapsed).toBeGreaterThan(100);
    expect(ticks).toBeGreaterThan(elapsed / 5 / 4); // at least a quarter of the ticks a free loop would get
  });

  test('concurrent fits hold no libuv pool thread: a file read completes while five models train', async () => {
    // Five fits queue on the one compute thread; had each held one of libuv's 4 pool threads, the read would wait a
    // whole epoch (about 2 s on 8,000 rows at batch 4 — long enough that a loaded machine's delays cannot be taken
    // for it). Once the read is done the fits are cancelled.
    const rows = { data: new Float32Array(4 * slice.data.length), rows: 4 * slice.rows, cols: slice.cols };
    for (let i = 0; i < 4; i++) rows.data.set(slice.data, i * slice.data.length);
    const models = Array.from({ length: 5 }, (_, i) => new Vae({ inputDim: 784, latentDim: 4, hidden: [384], seed: i }));
    const epochSeconds: number[] = [];
    const stop = new AbortController();
    const fits = Promise.allSettled(models.map((m) => m.fit(rows, { epochs: 1, batchSize: 4, signal: stop.signal, onEpoch: (r) => void epochSeconds.push(r.seconds) })));
    await new Promise((r) => setTimeout(r, 20));
    const t0 = performance.now();
    await fs.promises.readFile(__filename); // served by libuv's pool (4 threads by default)
    const readSeconds = (performance.now() - t0) / 1000;
    const epochsDone = epochSeconds.length;
    stop.abort();
    const settled = await fits;
    expect(epochsDone).toBe(0); // the read finished while the first epoch was still running
    expect(readSeconds).toBeLessThan(1);
    expect(settled.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.code)).toContain('LATENTKIT_CANCELLED');
  });

  test('a synchronous call on one model while another trains runs at once, with identical results', async () => {
    const a = new Vae({ inputDim: 784, latentDim: 4, hidden: [384], seed: 1 });
    const b = new Vae({ inputDim: 784, latentDim: 4, hidden: [64], seed: 2 });
    const idle = b.encode(test200).mean.data;
    let done = false;
    const fit = a.fit(slice, { epochs: 1, batchSize: 4 }).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 20));
    const t0 = performance.now();
    const during = b.encode(test200).mean.data; // the compute thread is busy: this runs inline, single-threaded
    const ms = performance.now() - t0;
    expect(done).toBe(false);
    expect(ms).toBeLessThan(100);
    expect(maxRelErr(during, idle)).toBeLessThan(1e-5); // 1 vs all threads: GEMM sums may be split differently
    const denormal = 5e-324; // the caller's MXCSR (no flush-to-zero) is restored after the inline run
    expect(denormal * 1).toBe(5e-324);
    expect(Number.MIN_VALUE / 2 + Number.MIN_VALUE).toBeGreaterThan(0);
    await fit;
  });

  test('progress is reported during an epoch and onEpoch after each', async () => {
    const vae = new Vae({ inputDim: 784, latentDim: 4, hidden: [512, 256], seed: 1 });
    const seen: number[] = [];
    const epochs: number[] = [];
    await vae.fit(slice, { epochs: 2, batchSize: 8, progress: (p) => seen.push(p.examples), onEpoch: (r) => void epochs.push(r.epoch) });
    expect(epochs).toEqual([1, 2]);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((e) => e > 0 && e <= 2000)).toBe(true);
  });

  test('an AbortSignal cancels fit with LATENTKIT_CANCELLED and leaves the model usable', async () => {
    const vae = new Vae({ inputDim: 784, latentDim: 4, hidden: [512], seed: 1 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 30);
    await expect(vae.fit(slice, { epochs: 1000, batchSize: 16, signal: ac.signal })).rejects.toMatchObject({ code: 'LATENTKIT_CANCELLED' });
    expect(vae.decode([[0, 0, 0, 0]]).rows).toBe(1);
    const aborted = new AbortController();
    aborted.abort();
    await expect(vae.fit(slice, { signal: aborted.signal })).rejects.toMatchObject({ code: 'LATENTKIT_CANCELLED' });
  });

  test('a second fit or an encode during fit is refused with LATENTKIT_BUSY', async () => {
    const vae = new Vae({ inputDim: 784, latentDim: 4, hidden: [64], seed: 1 });
    const running = vae.fit(slice, { epochs: 2, batchSize: 32 });
    await expect(vae.fit(slice, { epochs: 1 })).rejects.toMatchObject({ code: 'LATENTKIT_BUSY' });
    expect(() => vae.encode(headRows(slice, 1))).toThrow(expect.objectContaining({ code: 'LATENTKIT_BUSY' }));
    await running;
    expect(vae.encode(headRows(slice, 1)).mean.rows).toBe(1);
  });

  test('a loss that becomes NaN/Inf is reported with epoch and step, and the parameters stay finite', async () => {
    const x = randn(256 * 4, 3, 1e18);
    const vae = new Vae({ inputDim: 4, latentDim: 2, hidden: [8], likelihood: 'gaussian', sigma: 1e-18 });
    const err = await vae.fit({ data: x, rows: 256, cols: 4 }, { epochs: 2, batchSize: 32 }).catch((e) => e);
    expect(err).toMatchObject({ code: 'LATENTKIT_NON_FINITE_LOSS' });
    expect(err.message).toMatch(/at epoch 1, step 1 of 8/);
    expect(err.stack).toMatch(/vae\.test\.ts/); // the caller's stack, not an empty native one
    expect(vae.parameters().flat.every(Number.isFinite)).toBe(true);
  });
});

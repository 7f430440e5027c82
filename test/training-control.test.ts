// training-control.test.ts — resumable training checkpoints (bit-identical continuation, also after a SIGKILL in the
// middle of an epoch), early stopping and the best epoch, learning-rate schedules against an independent reference of
// each formula, ReduceLROnPlateau's rule, gradient-norm clipping inside the fused step, and the errors of bad options
// and foreign or mismatched checkpoints.
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { datasets, headRows } from '../lib/data';
import { Matrix } from '../lib/matrix';
import { GaussianMixture } from '../lib/models/mixture';
import { FitOptions, History, Vae, VaeOptions } from '../lib/models/vae';
import { nativeOf } from '../lib/models/vae/model';
import { epochLearningRates, plateauStart, plateauStep, resolveLrSchedule } from '../lib/train/schedule';
import { randn } from './helpers';
import { ensureDist, ROOT } from './scripts/dist';

let train: Matrix, valid: Matrix;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'latentkit-training-control-'));
beforeAll(async () => {
  const all = (await datasets.mnist({ split: 'train' })).x;
  train = headRows(all, 600);
  valid = { data: all.data.slice(600 * 784, 800 * 784), rows: 200, cols: 784 };
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const losses = (h: History) => h.epochs.map((r) => [r.trainLoss, r.reconstruction, r.kl, r.klWeight, r.learningRate, r.testLoss ?? null, r.mutualInformation ?? null, r.encoderSteps ?? null]);
let dirs = 0;
const freshDir = () => path.join(tmp, `run-${dirs++}`);

describe('resume: 5 epochs stopped after 3, resumed = 5 uninterrupted epochs, bit for bit', () => {
  const conv: VaeOptions = { inputShape: [1, 28, 28], latentDim: 8,
    encoder: [{ conv: { channels: 8, kernel: 4, stride: 2, padding: 1 } }, { activation: 'relu' }, 'flatten', { dense: 32 }, { activation: 'relu' }],
    decoder: [{ dense: 8 * 14 * 14 }, { activation: 'relu' }, { reshape: [8, 14, 14] }, { convTranspose: { channels: 1, kernel: 4, stride: 2, padding: 1 } }] };
  test.each<[string, VaeOptions, FitOptions]>([
    ['the default VAE', { inputDim: 784, latentDim: 20, hidden: [400], seed: 1 }, { validation: undefined }],
    ['IWAE k = 5 with a KL warm-up', { inputDim: 784, latentDim: 10, hidden: [64], seed: 2 }, { objective: 'iwae', k: 5, klWarmup: { epochs: 4 } }],
    ['a mixture prior', { inputDim: 784, latentDim: 6, hidden: [64], prior: { mixture: 4 }, seed: 3 }, {}],
    ['a conv model', { ...conv, seed: 4 }, {}],
    ['aggressive training, cosine schedule, clipping and early stopping', { inputDim: 784, latentDim: 6, hidden: [64], seed: 5 },
      { aggressive: true, lrSchedule: { kind: 'cosine', warmupSteps: 7 }, clipGradNorm: 50, earlyStopping: { patience: 10 } }],
    ['ReduceLROnPlateau', { inputDim: 784, latentDim: 6, hidden: [64], seed: 6 }, { lrSchedule: { kind: 'plateau', patience: 0, factor: 0.5, threshold: 0.5 } }],
  ])('%s', async (_name, model, fit) => {
    const options: FitOptions = { batchSize: 64, threads: 2, validation: valid, ...fit };
    const whole = new Vae(model);
    const wholeHistory = await whole.fit(train, { ...options, epochs: 5 });
    // The interrupted run: planned for 5 epochs (a cosine schedule spans them), stopped after the third.
    const dir = freshDir();
    const stop = new AbortController();
    await expect(new Vae(model).fit(train, { ...options, epochs: 5, checkpoint: { dir }, signal: stop.signal, onEpoch: (r) => { if (r.epoch === 3) stop.abort(); } }))
      .rejects.toMatchObject({ code: 'LATENTKIT_CANCELLED' });
    const resumed = new Vae(model);
    const history = await resumed.fit(train, { ...options, epochs: 5, resumeFrom: path.join(dir, 'checkpoint-last.safetensors') });
    expect(history.resumedFrom).toEqual({ file: path.join(dir, 'checkpoint-last.safetensors'), epoch: 3 });
    expect(losses(history)).toEqual(losses(wholeHistory));
    expect(bytes(resumed.parameters().flat).equals(bytes(whole.parameters().flat))).toBe(true);
    // The checkpoint loads as a model too (its training tensors passed over).
    const loaded = await Vae.load(path.join(dir, 'checkpoint-last.safetensors'));
    expect(loaded.numParams).toBe(whole.numParams);
  }, 180000);

  test('the checkpoint files: epoch files pruned to keepLast, -last the newest, -best the best epoch', async () => {
    const dir = freshDir();
    const vae = new Vae({ inputDim: 784, latentDim: 4, hidden: [32], seed: 7 });
    const h = await vae.fit(train, { epochs: 4, batchSize: 100, validation: valid, checkpoint: { dir, keepLast: 2 } });
    expect(fs.readdirSync(dir).sort()).toEqual(['checkpoint-best.safetensors', 'checkpoint-epoch-3.safetensors', 'checkpoint-epoch-4.safetensors', 'checkpoint-last.safetensors']);
    expect(fs.readFileSync(path.join(dir, 'checkpoint-last.safetensors')).equals(fs.readFileSync(path.join(dir, 'checkpoint-epoch-4.safetensors')))).toBe(true);
    const best = h.epochs.reduce((b, r) => (r.testLoss! < b.testLoss! ? r : b));
    expect(h.best).toMatchObject({ epoch: best.epoch, loss: best.testLoss, monitor: 'validation', restored: false });
    // Resuming a finished run trains nothing more.
    const again = await new Vae({ inputDim: 784, latentDim: 4, hidden: [32], seed: 7 }).fit(train, { epochs: 4, batchSize: 100, validation: valid, resumeFrom: path.join(dir, 'checkpoint-last.safetensors') });
    expect(losses(again)).toEqual(losses(h));
  }, 60000);
});

test('a run killed with SIGKILL in the middle of epoch 4 resumes from its last complete checkpoint, bit for bit', async () => {
  ensureDist();
  const dir = freshDir();
  fs.mkdirSync(dir, { recursive: true });
  const dataFile = path.join(dir, 'x.f32');
  fs.writeFileSync(dataFile, bytes(train.data));
  const model = { inputDim: 784, latentDim: 8, hidden: [400], seed: 9 };
  const fit = { batchSize: 4, threads: 2, epochs: 5 };
  // The child trains with checkpoints and says when epoch 3 has ended (its checkpoint is written by then); it is
  // killed 40 ms later, inside epoch 4 (150 steps of 4 rows: longer than that).
  const script = `
    const fs = require('fs'); const { Vae } = require(${JSON.stringify(path.join(ROOT, 'dist'))});
    const b = fs.readFileSync(${JSON.stringify(dataFile)}); const x = { data: new Float32Array(b.buffer, b.byteOffset, b.length / 4), rows: ${train.rows}, cols: 784 };
    new Vae(${JSON.stringify(model)}).fit(x, { ...${JSON.stringify(fit)}, checkpoint: { dir: ${JSON.stringify(dir)} },
      onEpoch: (r) => { if (r.epoch === 3) process.stdout.write('epoch 3\\n'); } });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => { if (d.toString().includes('epoch 3')) setTimeout(() => { child.kill('SIGKILL'); resolve(); }, 40); });
    child.on('exit', () => reject(new Error('the child ended before it was killed')));
  });
  await new Promise((r) => child.on('close', r));
  expect(child.signalCode).toBe('SIGKILL');
  expect(fs.existsSync(path.join(dir, 'checkpoint-epoch-3.safetensors'))).toBe(true);
  expect(fs.existsSync(path.join(dir, 'checkpoint-epoch-4.safetensors'))).toBe(false); // killed inside epoch 4
  const resumed = new Vae(model);
  const history = await resumed.fit(train, { ...fit, resumeFrom: path.join(dir, 'checkpoint-last.safetensors') });
  expect(history.resumedFrom?.epoch).toBe(3);
  const whole = new Vae(model);
  const wholeHistory = await whole.fit(train, fit);
  expect(losses(history)).toEqual(losses(wholeHistory));
  expect(bytes(resumed.parameters().flat).equals(bytes(whole.parameters().flat))).toBe(true);
}, 180000);

describe('early stopping', () => {
  // 64 training rows and a large learning rate: the validation loss soon rises while the training loss falls.
  const tiny = () => headRows(train, 64);
  test('stops within patience + 1 epochs of the best epoch and restores its parameters (= checkpoint-best)', async () => {
    const dir = freshDir();
    const vae = new Vae({ inputDim: 784, latentDim: 10, hidden: [200], seed: 11 });
    const h = await vae.fit(tiny(), { epochs: 300, batchSize: 16, learningRate: 3e-3, validation: valid, earlyStopping: { patience: 5 }, checkpoint: { dir } });
    expect(h.stopped).toBeDefined();
    expect(h.epochs.length).toBe(h.stopped!.epoch);
    expect(h.epochs.length).toBeLessThan(300);
    const bestRecord = h.epochs.reduce((b, r) => (r.testLoss! < b.testLoss! ? r : b));
    expect(h.best).toEqual({ epoch: bestRecord.epoch, loss: bestRecord.testLoss, monitor: 'validation', restored: true });
    expect(h.stopped!.epoch - h.best!.epoch).toBe(5);
    expect(h.stopped!.reason).toMatch(/validation loss has not improved .* for 5 epochs/);
    const best = await Vae.load(path.join(dir, 'checkpoint-best.safetensors'));
    expect(bytes(vae.parameters().flat).equals(bytes(best.parameters().flat))).toBe(true);
    expect((await vae.elbo(valid)).elbo.reduce((a, b) => a - b, 0) / valid.rows).toBeCloseTo(bestRecord.testLoss!, 3);
  }, 120000);

  test("monitor 'train', minDelta, restoreBest false", async () => {
    const vae = new Vae({ inputDim: 784, latentDim: 4, hidden: [32], seed: 12 });
    const h = await vae.fit(tiny(), { epochs: 50, batchSize: 64, earlyStopping: { patience: 2, minDelta: 1e6, monitor: 'train', restoreBest: false } });
    // No epoch improves on the first by a million nats: the third epoch is the second without improvement.
    expect(h.stopped!.epoch).toBe(3);
    expect(h.best).toMatchObject({ epoch: 1, monitor: 'train', restored: false });
  });
});

describe('learning-rate schedules', () => {
  // An independent reference of each formula (PyTorch's StepLR, ExponentialLR; cosine with linear warm-up).
  const reference = (kind: string, lr: number, t: number, epoch: number, T: number) => {
    if (kind === 'step') return lr * Math.pow(0.5, Math.floor(epoch / 3));
    if (kind === 'exponential') return lr * Math.pow(0.9, epoch);
    const W = 10, minLr = 1e-5;
    return t < W ? (lr * (t + 1)) / W : minLr + 0.5 * (lr - minLr) * (1 + Math.cos((Math.PI * (t - W)) / (T - W)));
  };
  test.each([
    ['step', { kind: 'step', stepSize: 3, gamma: 0.5 }],
    ['exponential', { kind: 'exponential', gamma: 0.9 }],
    ['cosine', { kind: 'cosine', warmupSteps: 10, minLr: 1e-5 }],
  ])('%s: every step of a fit at its formula', async (kind, options) => {
    const s = resolveLrSchedule(options, false)!;
    const epochs = 8, steps = 7, lr = 2e-3;
    for (let e = 0; e < epochs; e++) {
      const rates = epochLearningRates(s, lr, e, epochs, steps, lr)!;
      for (let k = 0; k < steps; k++) expect(rates[k]).toBe(Math.fround(reference(kind, lr, e * steps + k, e, epochs * steps)));
    }
    const h = await new Vae({ inputDim: 784, latentDim: 4, hidden: [16], seed: 13 }).fit(headRows(train, 7 * 32), { epochs, batchSize: 32, learningRate: lr, lrSchedule: options as never });
    h.epochs.forEach((r, e) => expect(r.learningRate).toBeCloseTo(Array.from({ length: steps }, (_, k) => Math.fround(reference(kind, lr, e * steps + k, e, epochs * steps))).reduce((a, b) => a + b) / steps, 12));
  });

  test('the native trainer applies each step its own rate: a constant schedule equals none, bit for bit; a changed rate changes the result', async () => {
    const base = { inputDim: 784, latentDim: 4, hidden: [16], seed: 14 };
    const run = async (fit: FitOptions) => {
      const v = new Vae(base);
      await v.fit(headRows(train, 256), { epochs: 2, batchSize: 32, ...fit });
      return bytes(v.parameters().flat);
    };
    const none = await run({});
    expect((await run({ lrSchedule: { kind: 'exponential', gamma: 1 } })).equals(none)).toBe(true);
    expect((await run({ lrSchedule: { kind: 'cosine', warmupSteps: 0, minLr: 1e-3 } })).equals(none)).toBe(true); // constant at 1e-3
    expect((await run({ lrSchedule: { kind: 'exponential', gamma: 0.5 } })).equals(none)).toBe(false);
  });

  test('ReduceLROnPlateau reduces exactly when its rule says', async () => {
    const o = resolveLrSchedule({ kind: 'plateau', factor: 0.5, patience: 1, threshold: 0, cooldown: 1, minLr: 1e-4 }, false) as Extract<ReturnType<typeof resolveLrSchedule>, { kind: 'plateau' }>;
    // The rule by hand: best 10; 11 and 12 are two bad epochs (> patience 1) → halve, then one epoch of cooldown.
    let s = plateauStart(1e-3);
    const lrs = [10, 11, 12, 13, 14, 9, 9.5, 9.6].map((loss) => (s = plateauStep(s, loss, o)).lr);
    expect(lrs).toEqual([1e-3, 1e-3, 5e-4, 5e-4, 5e-4, 5e-4, 5e-4, 2.5e-4]);
    // In a fit: each epoch runs at the rate the rule gave after the epoch before, from the records' own losses.
    const h = await new Vae({ inputDim: 784, latentDim: 4, hidden: [16], seed: 15 }).fit(headRows(train, 128), { epochs: 12, batchSize: 64, learningRate: 1e-2, lrSchedule: { kind: 'plateau', patience: 0, factor: 0.5, threshold: 0.05 } });
    const pr = resolveLrSchedule({ kind: 'plateau', patience: 0, factor: 0.5, threshold: 0.05 }, false) as typeof o;
    let state = plateauStart(1e-2);
    for (const r of h.epochs) {
      expect(r.learningRate).toBeCloseTo(Math.fround(state.lr), 12);
      state = plateauStep(state, r.trainLoss, pr);
    }
    expect(new Set(h.epochs.map((r) => r.learningRate)).size).toBeGreaterThan(1); // it did reduce
  });
});

test('clipping bounds the global gradient norm inside the fused step', async () => {
  // Gaussian likelihood on inputs of size 30: a large gradient. One step of batch = all rows.
  const rows = 32, D = 16;
  const x = { data: randn(rows * D, 16, 30), rows, cols: D };
  const vae = new Vae({ inputDim: D, latentDim: 2, hidden: [8], likelihood: 'gaussian', sigma: 1, seed: 16 });
  const nat = nativeOf(vae);
  nat.beginTraining(x.data, rows, { batchSize: rows, lr: 1e-3, eps: 1e-8, weightDecay: 0, binarize: false, seed: 0, precision: 'fp32', objective: 'elbo', samples: 1, klWeight: 1, freeBits: 0, clipGradNorm: 1 });
  const r = await nat.trainEpoch(0, null, null, false);
  expect(r.clippedSteps).toBe(1);
  expect(r.gradNormMax).toBeGreaterThan(100);
  // After one Adam step m = (1 − β1) · g_clipped: the gradient Adam saw has norm c (= 1, up to the 1e-6 of the rule).
  const m = nat.trainingState().adamM;
  const norm = Math.sqrt(m.reduce((a, v) => a + v * v, 0)) / 0.1;
  expect(norm).toBeCloseTo(1, 4);
  nat.endTraining();
  // And through fit: recorded per epoch.
  const h = await new Vae({ inputDim: D, latentDim: 2, hidden: [8], likelihood: 'gaussian', sigma: 1, seed: 16 }).fit(x, { epochs: 2, batchSize: 8, clipGradNorm: 1 });
  expect(h.epochs.map((e) => e.clippedSteps)).toEqual([4, 4]);
  expect(h.epochs[0].gradNormMax).toBeGreaterThan(1);
});

describe('bad options and checkpoints', () => {
  const vae = () => new Vae({ inputDim: 784, latentDim: 4, hidden: [16], seed: 17 });
  let ckpt: string;
  beforeAll(async () => {
    const dir = freshDir();
    await vae().fit(headRows(train, 64), { epochs: 1, batchSize: 32, checkpoint: { dir } });
    ckpt = path.join(dir, 'checkpoint-last.safetensors');
  });
  test.each<[string, FitOptions, RegExp]>([
    ['every 0', { checkpoint: { dir: 'x', every: 0 } }, /checkpoint\.every/],
    ['keepLast 0', { checkpoint: { dir: 'x', keepLast: 0 } }, /checkpoint\.keepLast/],
    ['no dir', { checkpoint: {} as never }, /checkpoint\.dir/],
    ['patience < 0', { earlyStopping: { patience: -1 } }, /earlyStopping\.patience/],
    ['monitoring validation without it', { earlyStopping: { patience: 1, monitor: 'validation' } }, /earlyStopping\.monitor/],
    ['an unknown schedule kind', { lrSchedule: { kind: 'linear' } as never }, /lrSchedule\.kind/],
    ['a plateau factor of 1', { lrSchedule: { kind: 'plateau', factor: 1 } }, /lrSchedule\.factor/],
    ['a misspelt schedule option', { lrSchedule: { kind: 'step', stepSize: 2, gama: 0.5 } as never }, /lrSchedule\.gama/],
    ['a negative clip norm', { clipGradNorm: -1 }, /clipGradNorm/],
  ])('%s', async (_name, fit, message) => {
    await expect(vae().fit(headRows(train, 64), { epochs: 1, ...fit })).rejects.toThrow(message);
  });

  test('resuming with other fit options, another model, a foreign or truncated file, a plain model file', async () => {
    const x = headRows(train, 64);
    await expect(vae().fit(x, { epochs: 2, batchSize: 16, resumeFrom: ckpt })).rejects.toThrow(/Expected 32 \(as .* was trained: a resume repeats the fit options\) for batchSize but received 16/);
    await expect(vae().fit(headRows(train, 60), { epochs: 2, batchSize: 32, resumeFrom: ckpt })).rejects.toThrow(/Expected 64 rows .* for x but received 60 rows/);
    await expect(new Vae({ inputDim: 784, latentDim: 5, hidden: [16] }).fit(x, { epochs: 2, batchSize: 32, resumeFrom: ckpt }))
      .rejects.toMatchObject({ code: 'LATENTKIT_BAD_CHECKPOINT', message: expect.stringMatching(/latentDim 4, but this model has latentDim 5/) });
    const gmmFile = path.join(tmp, 'gmm.safetensors');
    await (await new GaussianMixture({ nComponents: 2 }).fit({ data: randn(40, 1), rows: 20, cols: 2 })).save(gmmFile);
    await expect(vae().fit(x, { epochs: 2, batchSize: 32, resumeFrom: gmmFile })).rejects.toMatchObject({ code: 'LATENTKIT_BAD_CHECKPOINT' });
    const truncated = path.join(tmp, 'truncated.safetensors');
    fs.writeFileSync(truncated, fs.readFileSync(ckpt).subarray(0, 5000));
    await expect(vae().fit(x, { epochs: 2, batchSize: 32, resumeFrom: truncated })).rejects.toMatchObject({ code: 'LATENTKIT_BAD_CHECKPOINT' });
    const plain = path.join(tmp, 'plain.safetensors');
    await vae().save(plain);
    await expect(vae().fit(x, { epochs: 2, batchSize: 32, resumeFrom: plain })).rejects.toThrow(/no training state/);
  });
});

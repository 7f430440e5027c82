// The latentkit command: train on a small .npy dataset and on an MNIST slice-sized run, eval, help, bad options.
// The compiled bin (dist/) is exercised once as a child process; the rest calls main() in-process.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { encodeNpy } from '../lib/data';
import { uniform, runCli } from './helpers';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'latentkit-cli-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('train on a .npy of 8×8 images writes the whole run folder; eval reads the model back', async () => {
  const data = path.join(tmp, 'images.npy');
  fs.writeFileSync(data, encodeNpy({ data: uniform(300 * 64, 1), rows: 300, cols: 64 }));
  const out = path.join(tmp, 'run');
  const r = await runCli(['train', '--data', data, '--epochs', '2', '--latent', '3', '--hidden', '32,16', '--batch-size', '30', '--out', out, '--threads', '1',
    '--objective', 'iwae', '--k', '3', '--warmup', '2']);
  expect(r.err).toMatch(/epoch 2\/2/);
  expect(r.code).toBe(0);
  for (const f of ['model.safetensors', 'metrics.json', 'loss.svg', 'loss.png', 'samples.png', 'reconstructions.png', 'interpolation.png', 'traversal.png', 'latent.png'])
    expect(fs.statSync(path.join(out, f)).size).toBeGreaterThan(100);
  const m = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
  expect(m.config).toMatchObject({ latentDim: 3, hidden: [32, 16], epochs: 2, batchSize: 30, trainRows: 270, testRows: 30, objective: 'iwae', k: 3 });
  expect(m.epochs).toHaveLength(2);
  for (const e of m.epochs) for (const k of ['epoch', 'trainLoss', 'reconstruction', 'kl', 'klWeight', 'testLoss', 'examplesPerSec', 'seconds']) expect(Number.isFinite(e[k])).toBe(true);
  expect(m.epochs[0].klWeight).toBeCloseTo(4 / 18, 5); // 9 steps per epoch, warm-up over 18: mean of 0/18 … 8/18
  expect(m.epochs[1].klWeight).toBeGreaterThan(m.epochs[0].klWeight);
  expect(m.final.klPerDimension).toHaveLength(3);
  expect(m.final.activeUnits).toBeLessThanOrEqual(3);
  expect(m.final.mutualInformation).toBeGreaterThanOrEqual(-0.1);
  expect(m.final.testLoss).toBe(m.epochs[1].testLoss);
  expect(fs.readFileSync(path.join(out, 'samples.png')).subarray(1, 4).toString()).toBe('PNG');
  expect(fs.readFileSync(path.join(out, 'loss.svg'), 'utf8')).toMatch(/^<svg/);
  // Without --data, eval uses the run's own held-out rows (metrics.json records the source).
  expect(m.config.source).toEqual({ data: data, seed: 0 });
  const e = await runCli(['eval', '--model', path.join(out, 'model.safetensors'), '--iw', '50', '--threads', '1']);
  expect(e.code).toBe(0);
  expect(e.out).toMatch(/importance-sampled NLL \(k = 50\)/);
  const result = JSON.parse(fs.readFileSync(path.join(out, 'eval.json'), 'utf8'));
  expect(result.rows).toBe(30);
  expect(result.threads).toBe(1);
  expect(result.testLoss).toBeCloseTo(m.final.testLoss, 3); // same held-out split, same evaluation seed
  // With --data, every row of that file.
  const all = await runCli(['eval', '--model', path.join(out, 'model.safetensors'), '--data', data, '--out', path.join(tmp, 'all.json')]);
  expect(all.code).toBe(0);
  expect(JSON.parse(fs.readFileSync(path.join(tmp, 'all.json'), 'utf8')).rows).toBe(300);
  expect(result.iw.k).toBe(50);
  expect(result.iw.nll).toBeLessThan(result.testLoss); // log p(x) ≥ ELBO: the IS estimate's NLL is below −ELBO
  expect(result.activeUnits).toBe(m.final.activeUnits);
  expect((await runCli(['eval', '--model', path.join(out, 'model.safetensors'), '--data', data, '--iw', '0'])).err).toMatch(/for k/);
});

test('train --likelihood zinb on a .npy of counts, and --sigma decoder --min-sigma --prior-mixture; negative counts are refused', async () => {
  const counts = path.join(tmp, 'counts.npy');
  fs.writeFileSync(counts, encodeNpy({ data: Float32Array.from(uniform(200 * 10, 3), (u) => (u < 0.5 ? 0 : Math.floor(8 * u))), rows: 200, cols: 10 }));
  const out = path.join(tmp, 'zinb');
  const r = await runCli(['train', '--data', counts, '--likelihood', 'zinb', '--epochs', '2', '--latent', '2', '--hidden', '8', '--batch-size', '20', '--out', out]);
  expect(r.code).toBe(0);
  const m = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
  expect(m.config).toMatchObject({ likelihood: 'zinb', library: 'observed' });
  expect(Number.isFinite(m.final.testLoss)).toBe(true);
  const e = await runCli(['eval', '--model', path.join(out, 'model.safetensors'), '--data', counts, '--iw', '20']);
  expect(e.code).toBe(0);
  const gauss = path.join(tmp, 'sigma');
  const g = await runCli(['train', '--data', counts, '--likelihood', 'gaussian', '--sigma', 'decoder', '--min-sigma', '0.05', '--epochs', '1', '--latent', '2', '--hidden', '8', '--prior-mixture', '2', '--out', gauss]);
  expect(g.code).toBe(0);
  const gm = JSON.parse(fs.readFileSync(path.join(gauss, 'metrics.json'), 'utf8'));
  expect(gm.config).toMatchObject({ sigma: 'decoder', minSigma: 0.05, prior: { mixture: 2 } });
  expect(gm.final.klPerDimension).toBeUndefined(); // no per-dimension KL under a mixture prior
  expect(Number.isFinite(gm.final.mutualInformation)).toBe(true);
  const negative = path.join(tmp, 'negative.npy');
  fs.writeFileSync(negative, encodeNpy({ data: Float32Array.from([1, 2, -3, 4, 0, 1, 2, 3, 4, 5, 6, 7]), rows: 6, cols: 2 }));
  expect((await runCli(['train', '--data', negative, '--likelihood', 'poisson', '--epochs', '1', '--out', path.join(tmp, 'neg')])).err).toMatch(/counts >= 0 \(likelihood: 'poisson'\)/);
});

test('train --conditional with --labels: samples.png has one labelled row per label; eval and sample --label use the labels', async () => {
  const rows = 300;
  const images = path.join(tmp, 'labelled.npy'), labels = path.join(tmp, 'labels.npy');
  fs.writeFileSync(images, encodeNpy({ data: uniform(rows * 64, 9), rows, cols: 64 }));
  fs.writeFileSync(labels, encodeNpy({ data: Float32Array.from({ length: rows }, (_, i) => i % 3), rows, cols: 1 }));
  const out = path.join(tmp, 'cvae');
  const r = await runCli(['train', '--data', images, '--labels', labels, '--conditional', '--epochs', '1', '--latent', '2', '--hidden', '16', '--out', out]);
  expect(r.code).toBe(0);
  const m = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
  expect(m.config.conditionDim).toBe(3);
  // One labelled row per label (viz/chart.ts labelledGrid): the rows' labels and the axis titles are in the SVG.
  const text = [...fs.readFileSync(path.join(out, 'samples.svg'), 'utf8').matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((x) => x[1]);
  for (const t of ['label (the condition)', '0', '1', '2', 'draw of z (the same in every row)', '8']) expect(text).toContain(t);
  const spec = JSON.parse(fs.readFileSync(path.join(out, 'samples.vl.json'), 'utf8'));
  expect(spec.data.values).toHaveLength(3 * 8);
  expect([...new Set(spec.data.values.map((v: { row: string }) => v.row))]).toEqual(['0', '1', '2']); // rows are the labels
  expect(fs.readFileSync(path.join(out, 'samples.png')).subarray(1, 4).toString()).toBe('PNG');
  const e = await runCli(['eval', '--model', path.join(out, 'model.safetensors'), '--data', images, '--labels', labels]);
  expect(e.code).toBe(0);
  const s = await runCli(['sample', '--model', path.join(out, 'model.safetensors'), '--label', '2', '--n', '4', '--out', path.join(out, 's.npy')]);
  expect(s.code).toBe(0);
  expect((await runCli(['sample', '--model', path.join(out, 'model.safetensors'), '--n', '4', '--out', path.join(out, 's.npy')])).err).toMatch(/needs --label/);
  expect((await runCli(['train', '--data', images, '--conditional', '--epochs', '1', '--out', path.join(tmp, 'nolabels')])).err).toMatch(/--conditional needs labelled data/);
});

test('train --arch conv on 8×8 images and --arch <spec.json>; export, sample and eval work on the conv model', async () => {
  const data = path.join(tmp, 'images8.npy');
  fs.writeFileSync(data, encodeNpy({ data: uniform(200 * 64, 3), rows: 200, cols: 64 }));
  const out = path.join(tmp, 'conv');
  const r = await runCli(['train', '--data', data, '--arch', 'conv', '--epochs', '1', '--latent', '2', '--batch-size', '50', '--out', out, '--threads', '1']);
  expect(r.code).toBe(0);
  expect(r.err).toMatch(/training conv 1×8×8 → 2 VAE/);
  const m = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
  expect(m.config.inputShape).toEqual([1, 8, 8]);
  expect(m.config.encoder[0]).toEqual({ conv: { channels: 32, kernel: 4, stride: 2, padding: 1 } });
  expect(fs.statSync(path.join(out, 'samples.png')).size).toBeGreaterThan(100);
  expect((await runCli(['export', '--model', path.join(out, 'model.safetensors'), '--out', path.join(out, 'onnx')])).code).toBe(0);
  expect((await runCli(['sample', '--model', path.join(out, 'onnx'), '--n', '4', '--out', path.join(out, 's.npy'), '--format', 'npy'])).code).toBe(0);
  expect((await runCli(['eval', '--model', path.join(out, 'model.safetensors'), '--threads', '1'])).code).toBe(0);
  // A spec file: one strided conv, then the dense head (appended to the decoder, which ends in a vector).
  const spec = path.join(tmp, 'spec.json');
  fs.writeFileSync(spec, JSON.stringify({ encoder: [{ conv: { channels: 4, kernel: 3, stride: 2, padding: 1 } }, { activation: 'relu' }], decoder: [{ dense: 16 }, { activation: 'tanh' }] }));
  const s = await runCli(['train', '--data', data, '--arch', spec, '--epochs', '1', '--latent', '2', '--batch-size', '50', '--out', path.join(tmp, 'spec-run'), '--threads', '1']);
  expect(s.code).toBe(0);
  const bad = path.join(tmp, 'bad-spec.json');
  fs.writeFileSync(bad, JSON.stringify({ encoder: [{ conv: { channels: 4, kernel: 9 } }], decoder: [] }));
  const b = await runCli(['train', '--data', data, '--arch', bad, '--epochs', '1', '--out', path.join(tmp, 'bad-run')]);
  expect(b.code).not.toBe(0);
  expect(b.err).toMatch(/kernel \(9\) no larger than the padded input .* for encoder\[0\] \(conv\)/);
  const noImage = await runCli(['train', '--data', data, '--arch', 'conv', '--input-shape', '1,7,7', '--epochs', '1', '--out', path.join(tmp, 'x')]);
  expect(noImage.code).not.toBe(0);
  expect(noImage.err).toMatch(/for inputDim/);
}, 60_000);

test('help, version, and bad options name the option', async () => {
  const h = await runCli(['--help']);
  expect(h.code).toBe(0);
  for (const opt of ['--data', '--latent', '--hidden', '--activation', '--likelihood', '--epochs', '--batch-size', '--lr', '--seed', '--threads', '--binarize', '--out', 'eval --model'])
    expect(h.out).toContain(opt);
  expect((await runCli(['--version'])).out.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  const bad = await runCli(['train', '--epochs', 'ten']);
  expect(bad.code).toBe(2); // a usage error
  expect(bad.err).toMatch(/--epochs expects an integer but received "ten"/);
  expect((await runCli(['train', '--latent', '0', '--epochs', '1'])).err).toMatch(/for latentDim but received 0/);
  expect((await runCli(['train', '--frobnicate'])).err).toMatch(/frobnicate/);
  expect((await runCli(['eval'])).err).toMatch(/--model/);
  expect((await runCli(['fly'])).err).toMatch(/unknown command "fly"/);
});

test('the installed bin runs (compiled dist/)', () => {
  const bin = path.join(__dirname, '..', 'bin', 'latentkit.js');
  if (!fs.existsSync(path.join(__dirname, '..', 'dist', 'cli', 'main.js'))) {
    console.log('skipped: dist/ is not built (npm run build:ts builds it; npm ci does so automatically)');
    return;
  }
  expect(execFileSync(process.execPath, [bin, '--help'], { encoding: 'utf8' })).toMatch(/latentkit train/);
});

test('fit gmm | pca | ppca | fa write a model, metrics and a picture; score reads the model back', async () => {
  const points = path.join(tmp, 'points.npy'); // 2-D clusters → scatter.png
  const p = new Float32Array(400 * 2);
  const g = uniform(400 * 2, 9);
  for (let i = 0; i < 400; i++) (p[2 * i] = g[2 * i] + (i % 3) * 3), (p[2 * i + 1] = g[2 * i + 1] - (i % 3) * 2);
  fs.writeFileSync(points, encodeNpy({ data: p, rows: 400, cols: 2 }));
  const out = path.join(tmp, 'gmm');
  const r = await runCli(['fit', 'gmm', '--data', points, '--components', '3', '--covariance', 'diag', '--out', out, '--threads', '1']);
  expect(r.err).toMatch(/fitting gmm/);
  expect(r.code).toBe(0);
  for (const f of ['model.safetensors', 'metrics.json', 'loglike.svg', 'loglike.png', 'scatter.png', 'scatter.svg', 'scatter.vl.json']) expect(fs.statSync(path.join(out, f)).size).toBeGreaterThan(100);
  const m = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
  expect(m.config).toMatchObject({ model: 'gmm', nComponents: 3, covarianceType: 'diag', trainRows: 360, testRows: 40 });
  expect(m.logLikelihoodPerIteration.length).toBe(m.final.nIter);
  for (const k of ['trainLogLikelihood', 'testLogLikelihood', 'bic', 'aic', 'seconds']) expect(Number.isFinite(m.final[k])).toBe(true);
  const s = await runCli(['score', '--model', path.join(out, 'model.safetensors')]); // the run's own test rows
  expect(s.code).toBe(0);
  expect(JSON.parse(s.out.trim().split('\n').pop()!)).toMatchObject({ rows: 40 });
  expect(JSON.parse(s.out.trim().split('\n').pop()!).logLikelihood).toBeCloseTo(m.final.testLogLikelihood, 8);
  expect(JSON.parse((await runCli(['score', '--model', path.join(out, 'model.safetensors'), '--data', points])).out.trim().split('\n').pop()!).rows).toBe(400);

  const images = path.join(tmp, 'images.npy'); // written by the first test: 8×8 images → components.png
  for (const model of ['pca', 'ppca', 'fa']) {
    const dir = path.join(tmp, model);
    const f = await runCli(['fit', model, '--data', images, '--components', '4', '--out', dir]);
    expect(f.code).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'components.png')).subarray(1, 4).toString()).toBe('PNG');
    const sc = await runCli(['score', '--model', path.join(dir, 'model.safetensors'), '--split', 'train']);
    expect(JSON.parse(sc.out.trim().split('\n').pop()!).logLikelihood).toBeCloseTo(JSON.parse(fs.readFileSync(path.join(dir, 'metrics.json'), 'utf8')).final.trainLogLikelihood, 8);
  }
  const bad = await runCli(['fit', 'kmeans', '--data', points]);
  expect(bad.code).toBe(2);
  expect(bad.err).toMatch(/fit expects one model, gmm \| pca \| ppca \| fa, but received "kmeans"/);
  const badCov = await runCli(['fit', 'gmm', '--data', points, '--covariance', 'banded']);
  expect(badCov.err).toMatch(/--covariance expects one of full, tied, diag, spherical but received "banded"/);
});

test('fit reads --mmap and sparse .h5ad layers natively: the same fit as the in-memory data; score re-reads the recorded source', async () => {
  const images = path.join(tmp, 'fa-images.npy'); // 8×8 images
  fs.writeFileSync(images, encodeNpy({ data: uniform(300 * 64, 5), rows: 300, cols: 64 }));
  const metrics = async (dir: string, args: string[]) => {
    const r = await runCli(['fit', 'fa', '--data', images, '--components', '3', '--out', path.join(tmp, dir), '--threads', '1', ...args]);
    expect(r.code).toBe(0);
    return JSON.parse(fs.readFileSync(path.join(tmp, dir, 'metrics.json'), 'utf8'));
  };
  const [plain, mapped] = [await metrics('fa-plain', []), await metrics('fa-mmap', ['--mmap'])];
  expect(mapped.config.source).toMatchObject({ mmap: true });
  expect(mapped.logLikelihoodPerIteration).toEqual(plain.logLikelihoodPerIteration);
  expect(mapped.final.testLogLikelihood).toBe(plain.final.testLogLikelihood);
  const s = await runCli(['score', '--model', path.join(tmp, 'fa-mmap', 'model.safetensors')]);
  expect(JSON.parse(s.out.trim().split('\n').pop()!).logLikelihood).toBe(plain.final.testLogLikelihood);

  const cells = path.join(__dirname, 'fixtures', 'cells.h5ad'); // layers['counts'] is CSR
  const out = path.join(tmp, 'gmm-cells');
  const r = await runCli(['fit', 'gmm', '--data', cells, '--layer', 'counts', '--label-key', 'cell_type', '--components', '2',
    '--covariance', 'diag', '--out', out, '--threads', '1']);
  expect(r.code).toBe(0);
  const m = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
  expect(m.config).toMatchObject({ source: { layer: 'counts', labelKey: 'cell_type' }, trainRows: 36, testRows: 4, cols: 12 });
  const sc = await runCli(['score', '--model', path.join(out, 'model.safetensors'), '--split', 'train']);
  expect(JSON.parse(sc.out.trim().split('\n').pop()!).logLikelihood).toBeCloseTo(m.final.trainLogLikelihood, 10);
  expect(fs.readFileSync(path.join(out, 'scatter.svg'), 'utf8')).toMatch(/cluster|component/);
});

test('--precision for train, eval and sample: metrics.json and eval.json record the precision and the ISA', async () => {
  const { native } = await import('../lib/native');
  const info = native().info();
  const data = path.join(tmp, 'precision.npy');
  fs.writeFileSync(data, encodeNpy({ data: uniform(200 * 64, 4), rows: 200, cols: 64 }));
  const out = path.join(tmp, 'precision-run');
  const r = await runCli(['train', '--data', data, '--epochs', '1', '--latent', '2', '--hidden', '16', '--out', out, '--precision', 'auto']);
  expect(r.code).toBe(0);
  expect(r.err).toMatch(new RegExp(`${info.autoPrecision} \\(${info.isa}\\)`));
  const m = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
  expect(m.config).toMatchObject({ precision: info.autoPrecision, isa: info.isa });
  const e = await runCli(['eval', '--model', path.join(out, 'model.safetensors'), '--precision', 'auto', '--iw', '10']);
  expect(e.code).toBe(0);
  expect(JSON.parse(fs.readFileSync(path.join(out, 'eval.json'), 'utf8'))).toMatchObject({ precision: info.autoPrecision, isa: info.isa });
  expect((await runCli(['sample', '--model', path.join(out, 'model.safetensors'), '--precision', 'auto', '--n', '4', '--out', path.join(out, 's.npy')])).code).toBe(0);
  const bad = await runCli(['train', '--data', data, '--epochs', '1', '--precision', 'fp16', '--out', path.join(tmp, 'fp16')]);
  expect(bad.code).toBe(2);
  expect(bad.err).toMatch(/--precision: Expected one of "fp32", "bf16", "auto", not "fp16"/);
  expect((await runCli(['eval', '--model', path.join(out, 'model.safetensors'), '--precision', 'half'])).code).toBe(2);
  // An ONNX decoder runs in onnxruntime: --precision applies to checkpoints only.
  expect((await runCli(['export', '--model', path.join(out, 'model.safetensors'), '--out', path.join(out, 'onnx')])).code).toBe(0);
  const onnx = await runCli(['sample', '--model', path.join(out, 'onnx'), '--precision', 'bf16', '--n', '4', '--out', path.join(out, 'o.npy')]);
  expect(onnx.code).toBe(2);
  expect(onnx.err).toMatch(/--precision applies to a model.safetensors/);
});

describe('train: schedules, clipping, early stopping, checkpoints and --resume', () => {
  const data = () => {
    const file = path.join(tmp, 'resume.npy');
    if (!fs.existsSync(file)) fs.writeFileSync(file, encodeNpy({ data: uniform(200 * 16, 21), rows: 200, cols: 16 }));
    return file;
  };
  const base = () => ['--data', data(), '--latent', '2', '--hidden', '8', '--batch-size', '20', '--threads', '1', '--likelihood', 'gaussian',
    '--lr-schedule', 'cosine', '--lr-warmup-steps', '5', '--clip-grad-norm', '5'];
  const metrics = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'metrics.json'), 'utf8'));

  test('a run stopped after 2 of 4 epochs and resumed with --resume ends as the run of 4', async () => {
    const whole = path.join(tmp, 'whole'), part = path.join(tmp, 'part');
    expect((await runCli(['train', ...base(), '--epochs', '4', '--out', whole])).code).toBe(0);
    // "Stopped": a run of 4 whose last two epochs never happened — its checkpoint of epoch 2, as a kill would leave it.
    expect((await runCli(['train', ...base(), '--epochs', '4', '--keep-last', '4', '--out', part])).code).toBe(0);
    fs.copyFileSync(path.join(part, 'checkpoint-epoch-2.safetensors'), path.join(part, 'checkpoint-last.safetensors'));
    const r = await runCli(['train', '--resume', part, '--epochs', '4']);
    expect(r.err).toMatch(/resuming from .*checkpoint-last\.safetensors \(epoch 2 of 4\)/);
    expect(r.code).toBe(0);
    const [a, b] = [metrics(whole), metrics(part)];
    const losses = (m: { epochs: Array<Record<string, number>> }) => m.epochs.map((e) => [e.trainLoss, e.testLoss, e.learningRate, e.clippedSteps]);
    expect(losses(b)).toEqual(losses(a));
    expect(fs.readFileSync(path.join(part, 'model.safetensors')).equals(fs.readFileSync(path.join(whole, 'model.safetensors')))).toBe(true);
    expect(a.config).toMatchObject({ lrSchedule: { kind: 'cosine', warmupSteps: 5 }, clipGradNorm: 5 });
    // A flag that disagrees with the run's is refused, naming it.
    const bad = await runCli(['train', '--resume', part, '--epochs', '5', '--lr', '0.01']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--lr "0\.01" differs from the run's default .*a resume repeats the run's options/);
    expect((await runCli(['train', '--resume', path.join(tmp, 'nowhere')])).err).toMatch(/--resume .*metrics\.json cannot be read/);
  });

  test('--early-stopping stops, says why, and the model is the best epoch', async () => {
    const out = path.join(tmp, 'early');
    const r = await runCli(['train', '--data', data(), '--latent', '4', '--hidden', '64', '--batch-size', '10', '--lr', '0.01', '--likelihood', 'gaussian',
      '--epochs', '200', '--early-stopping', '3', '--out', out]);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/early stopping after epoch \d+: the validation loss has not improved/);
    const m = metrics(out);
    expect(m.final.stopped.epoch - m.final.best.epoch).toBe(3);
    expect(m.modelEpoch).toBe(m.final.best.epoch);
    expect(m.final.testLoss).toBe(m.epochs[m.final.best.epoch - 1].testLoss);
  });

  test('bad schedule and stopping flags are usage errors naming the flag', async () => {
    for (const [args, message] of [
      [['--lr-gamma', '0.5'], /--lr-gamma needs --lr-schedule/],
      [['--lr-schedule', 'linear'], /--lr-schedule expects one of "step", "exponential", "cosine", "plateau" but received "linear"/],
      [['--lr-schedule', 'step'], /--lr-step-size expects an integer >= 1 but received undefined/],
      [['--lr-schedule', 'plateau', '--lr-factor', '2'], /--lr-factor expects a finite number > 0 and < 1 but received 2/],
      [['--early-stopping=-1'], /--early-stopping expects an integer >= 0 but received -1/],
      [['--min-delta', '0.1'], /--min-delta needs --early-stopping/],
      [['--monitor', 'test', '--early-stopping', '2'], /--monitor expects one of "validation", "train"/],
    ] as Array<[string[], RegExp]>) {
      const r = await runCli(['train', '--data', data(), '--epochs', '1', '--out', path.join(tmp, 'bad'), ...args]);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.err).toMatch(message);
    }
  });
});

describe('pictures with text (viz/chart.ts: Vega-Lite → vega SVG → resvg PNG)', () => {
  test("train's loss and latent pictures carry axis titles and a legend naming each series and class; each spec is written beside", async () => {
    const data = path.join(tmp, 'pictures.npy');
    fs.writeFileSync(data, encodeNpy({ data: uniform(200 * 64, 31), rows: 200, cols: 64 }));
    const out = path.join(tmp, 'pictures');
    expect((await runCli(['train', '--data', data, '--epochs', '2', '--latent', '3', '--hidden', '16', '--batch-size', '20', '--out', out])).code).toBe(0);
    const text = (file: string) => [...fs.readFileSync(path.join(out, file), 'utf8').matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
    const loss = text('loss.svg');
    for (const t of ['epoch', 'nats per example', 'train', 'test']) expect(loss).toContain(t);
    expect(loss.some((t) => /negative ELBO per example/.test(t))).toBe(true);
    const traversal = text('traversal.svg'); // 8×8 images: one labelled row per latent dimension, one column per value
    for (const t of ['latent dimension swept', 'z1', 'z2', 'z3', '-3.0', '3.0']) expect(traversal).toContain(t);
    const latent = text('latent.svg');
    for (const t of ['principal axis 1', 'principal axis 2', 'label', '0']) expect(latent).toContain(t); // a .npy without labels: class 0
    for (const f of ['loss', 'latent']) {
      expect(JSON.parse(fs.readFileSync(path.join(out, `${f}.vl.json`), 'utf8')).$schema).toMatch(/vega-lite\/v5/);
      expect(fs.readFileSync(path.join(out, `${f}.png`)).subarray(1, 4).toString()).toBe('PNG');
    }
    const m = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
    expect(m.files).toEqual(expect.arrayContaining(['loss.png', 'loss.svg', 'loss.vl.json', 'latent.png', 'latent.svg', 'latent.vl.json']));
  });

  test('the PNG has its text drawn (a font is found): the same chart without its text rasterises differently', async () => {
    const { lineChart } = await import('../lib/viz/chart');
    const { Resvg } = await import('@resvg/resvg-js');
    const p = await lineChart([{ name: 'train', points: [[1, 2], [2, 1]] }], { title: 'a title', xTitle: 'epoch', yTitle: 'nats' });
    const textless = p.svg.replace(/<text[^>]*>[^<]*<\/text>/g, '');
    const raster = (svg: string) => Buffer.from(new Resvg(svg, { background: 'white', fitTo: { mode: 'zoom', value: 2 }, font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).render().asPng());
    expect(raster(textless).equals(raster(p.svg))).toBe(false);
    expect(Buffer.from(p.png).equals(raster(p.svg))).toBe(true);
  });
});

test('train --mmap reads a .npy in place and trains as without it; --shuffle blocks is recorded and repeatable; bad flags are usage errors', async () => {
  const data = path.join(tmp, 'mapped.npy');
  fs.writeFileSync(data, encodeNpy({ data: uniform(400 * 64, 5), rows: 400, cols: 64 }));
  const common = ['train', '--data', data, '--epochs', '2', '--latent', '3', '--hidden', '16', '--batch-size', '40', '--threads', '1'];
  const run = async (name: string, extra: string[]) => {
    const out = path.join(tmp, name);
    const r = await runCli([...common, '--out', out, ...extra]);
    expect(r.code).toBe(0);
    return JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
  };
  const losses = (m: { epochs: Array<{ trainLoss: number; testLoss: number }> }) => m.epochs.map((e) => [e.trainLoss, e.testLoss]);
  const plain = await run('plain', []);
  const mapped = await run('mmap', ['--mmap']);
  expect(mapped.config.source).toEqual({ data, seed: 0, mmap: true });
  expect(losses(mapped)).toEqual(losses(plain));
  const blocks = await run('blocks', ['--mmap', '--shuffle', 'blocks', '--shuffle-block-rows', '64']);
  expect(blocks.config.shuffle).toEqual({ blockRows: 64 });
  expect(losses(blocks)).not.toEqual(losses(plain));
  expect(losses(await run('blocks2', ['--shuffle', 'blocks', '--shuffle-block-rows', '64']))).toEqual(losses(blocks));
  // eval without --data maps the recorded source again
  const e = await runCli(['eval', '--model', path.join(tmp, 'mmap', 'model.safetensors'), '--threads', '1']);
  expect(e.code).toBe(0);
  expect((await runCli([...common, '--out', path.join(tmp, 'bad'), '--shuffle', 'random'])).err).toMatch(/--shuffle expects global or blocks/);
  expect((await runCli([...common, '--out', path.join(tmp, 'bad'), '--shuffle-block-rows', '64'])).err).toMatch(/--shuffle-block-rows needs --shuffle blocks/);
  const csv = path.join(tmp, 'mapped.csv');
  fs.writeFileSync(csv, '1,2\n3,4\n');
  expect((await runCli(['train', '--data', csv, '--mmap', '--out', path.join(tmp, 'bad')])).err).toMatch(/mmap: true maps a \.npy/);
});

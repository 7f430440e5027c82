// newcomer.test.ts — what a new user met in the first hour (issue "Hardening", a newcomer's defects): each test
// did something that failed or misled before and now behaves as a user of scikit-learn or PyTorch would expect.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { datasets, denseMatrix, GaussianMixture, LatentkitError, loadData, OnnxDecoder, Vae } from '../lib';
import { encodeNpy, readIdx } from '../lib/data';
import { commandHelp } from '../lib/cli/help';
import { runCli, uniform } from './helpers';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'latentkit-new-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** An IDX file of `shape` uint8 values, gzipped when `gz`. */
function idx(file: string, shape: number[], values: (i: number) => number, gz = false): string {
  const count = shape.reduce((a, b) => a * b, 1);
  const head = Buffer.alloc(4 + 4 * shape.length);
  head[2] = 0x08;
  head[3] = shape.length;
  shape.forEach((s, i) => head.writeUInt32BE(s, 4 + 4 * i));
  const body = Buffer.from(Uint8Array.from({ length: count }, (_, i) => values(i)));
  const bytes = Buffer.concat([head, body]);
  fs.writeFileSync(file, gz ? zlib.gzipSync(bytes) : bytes);
  return file;
}

describe('data', () => {
  const rows = 120;
  const images = idx(path.join(tmp, 'train-images-idx3-ubyte.gz'), [rows, 4, 4], (i) => (i * 37) % 256, true);
  const labels = idx(path.join(tmp, 'train-labels-idx1-ubyte.gz'), [rows], (i) => i % 3, true);

  test('3. an IDX label file loads as integers, and train --labels accepts it', async () => {
    const l = await loadData(labels);
    expect([l.x.rows, l.x.cols]).toEqual([rows, 1]);
    expect(Array.from(denseMatrix(l.x).data.subarray(0, 4))).toEqual([0, 1, 2, 0]);
    const npy = path.join(tmp, 'images.npy');
    fs.writeFileSync(npy, encodeNpy(denseMatrix((await loadData(images)).x)));
    const r = await runCli(['train', '--data', npy, '--labels', labels, '--epochs', '1', '--latent', '2', '--hidden', '8', '--out', path.join(tmp, 'run3'), '--threads', '1']);
    expect(r.err).not.toMatch(/--labels expects/);
    expect(r.code).toBe(0);
  });

  test('4. IDX images bring the label file beside them; without one, a warning', async () => {
    const d = await loadData(images);
    expect(Array.from(d.labels.subarray(0, 6))).toEqual([0, 1, 2, 0, 1, 2]);
    expect(denseMatrix(d.x).data[1]).toBeCloseTo(37 / 255, 6);
    const alone = idx(path.join(tmp, 'other-images-idx3-ubyte'), [5, 2, 2], (i) => i);
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      await loadData(alone);
      expect(String(warn.mock.calls[0]?.[0])).toMatch(/no label file found beside it.*every row gets label 0/);
    } finally {
      warn.mockRestore();
    }
  });

  test('5. train --test-data uses a given test set (every row); eval and score evaluate every row of --data', async () => {
    const testImages = idx(path.join(tmp, 't10k-images-idx3-ubyte'), [40, 4, 4], (i) => (i * 11) % 256);
    idx(path.join(tmp, 't10k-labels-idx1-ubyte'), [40], (i) => i % 3);
    const out = path.join(tmp, 'run5');
    const r = await runCli(['train', '--data', images, '--test-data', testImages, '--epochs', '1', '--latent', '2', '--hidden', '8', '--out', out, '--threads', '1']);
    expect(r.code).toBe(0);
    const m = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
    expect([m.config.trainRows, m.config.testRows]).toEqual([rows, 40]);
    const e = await runCli(['eval', '--model', path.join(out, 'model.safetensors'), '--data', testImages]);
    expect(e.code).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'eval.json'), 'utf8')).rows).toBe(40);
  });

  test('6. eval of a model with no recorded data source and no --data refuses (it silently used MNIST)', async () => {
    const file = path.join(tmp, 'lonely', 'model.safetensors');
    await new Vae({ inputDim: 16, latentDim: 2, hidden: [4] }).save(file);
    const r = await runCli(['eval', '--model', file]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/eval needs --data <src>: .* has no metrics\.json beside it/);
  });

  test('8. a missing data file is a one-line error, not a stack trace or a raw ENOENT', async () => {
    const r = await runCli(['train', '--data', '/nonexistent.npy']);
    expect(r.code).toBe(1);
    expect(r.err).toBe('latentkit: cannot read data file /nonexistent.npy: no such file\n');
    await expect(readIdx('/nonexistent-idx3-ubyte')).rejects.toEqual(expect.objectContaining({ code: 'LATENTKIT_BAD_DATA' }));
  });
});

describe('the command line', () => {
  test('9. <command> --help prints that command; -V and version; usage errors exit 2 and suggest the option', async () => {
    for (const command of ['train', 'eval', 'fit', 'sample', 'serve', 'score', 'export']) {
      const h = await runCli([command, '--help']);
      expect({ command, code: h.code }).toEqual({ command, code: 0 });
      expect(h.out).toBe(commandHelp(command));
      expect(h.out).toContain(`latentkit ${command}`);
    }
    expect((await runCli(['train', '--help'])).out).toContain('--test-data');
    for (const v of ['-V', 'version', '--version']) expect((await runCli([v])).out.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const typo = await runCli(['train', '--seeed', '3']);
    expect(typo.code).toBe(2);
    expect(typo.err).toMatch(/unknown option --seeed for latentkit train; did you mean --seed\?/);
    expect((await runCli(['fit', 'gmm', '--componets', '3'])).err).toMatch(/did you mean --components\?/);
    expect((await runCli(['eval', '--model'])).code).toBe(2);
  });
});

describe('the API', () => {
  test('10. misspelt options are refused like every other unknown option', async () => {
    await expect(datasets.mnist({ spilt: 'test' } as never)).rejects.toThrow(/options\.spilt/);
    const x = { data: uniform(200, 3), rows: 100, cols: 2 };
    const g = await new GaussianMixture({ nComponents: 2 }).fit(x);
    expect(() => g.sample(3, { seeed: 7 } as never)).toThrow(/options\.seeed/);
    const vae = new Vae({ inputDim: 4, latentDim: 2, hidden: [3] });
    const [decoderFile] = await vae.exportOnnx(path.join(tmp, 'onnx10'), { parts: ['decoder'] });
    const dec = await OnnxDecoder.load(decoderFile);
    await expect(dec.sample(2, { seeed: 7 } as never)).rejects.toThrow(/options\.seeed/);
  });

  test('11. BUSY and CANCELLED are LatentkitErrors, and both cancel paths say the same', async () => {
    // Enough rows that an epoch outlasts the first progress report (the native side reports every 100 ms).
    const rows = 100000, d = 64;
    const vae = new Vae({ inputDim: d, latentDim: 2, hidden: [64], likelihood: 'gaussian' });
    const controller = new AbortController();
    let busy: unknown;
    const fit = vae.fit({ data: uniform(rows * d, 4), rows, cols: d }, {
      epochs: 5, batchSize: 8, signal: controller.signal,
      progress: () => {
        if (busy) return;
        try {
          vae.parameters();
        } catch (e) {
          busy = e;
        }
        controller.abort(); // mid-epoch: the native job is cancelled
      },
    });
    const err = await fit.catch((e) => e);
    expect(busy).toBeInstanceOf(LatentkitError);
    expect((busy as LatentkitError).code).toBe('LATENTKIT_BUSY');
    expect(err).toBeInstanceOf(LatentkitError);
    expect(err).toMatchObject({ code: 'LATENTKIT_CANCELLED', message: 'training was cancelled by its AbortSignal' });
    const pre = new AbortController();
    pre.abort();
    await expect(vae.fit({ data: uniform(40 * d, 4), rows: 40, cols: d }, { signal: pre.signal })).rejects.toMatchObject({ message: err.message });
  });
});

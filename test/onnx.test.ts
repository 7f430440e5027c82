// ONNX export: parity of onnxruntime-node with latentkit's native encode/decode at batch 1, 2 and 1,000 for each
// likelihood and several architectures; Debian's onnx checker (when python3-onnx is installed); bad files.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { headRows, datasets } from '../lib/data';
import { Matrix } from '../lib/matrix';
import { Vae, VaeOptions } from '../lib/models/vae';
import { OnnxDecoder, OnnxEncoder } from '../lib/onnx/runtime';
import { randn } from './helpers';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'latentkit-onnx-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** max |a − b| relative to max |b|, the parity measure. */
function relToMax(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let err = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return err / Math.max(scale, 1e-30);
}

let mnist: Matrix;
beforeAll(async () => {
  mnist = headRows((await datasets.mnist({ split: 'test' })).x, 1000);
});

const cases: Array<[string, Partial<VaeOptions>]> = [
  ['bernoulli 784-400-20 relu', { hidden: [400], latentDim: 20 }],
  ['bernoulli 784-200-200-50 tanh', { hidden: [200, 200], latentDim: 50, activation: 'tanh' }],
  ['gaussian fixed σ, softplus, no hidden layer', { hidden: [], latentDim: 5, likelihood: 'gaussian', sigma: 0.3, activation: 'softplus' }],
  ['gaussian shared σ, 64-32 leaky_relu', { hidden: [64, 32], latentDim: 8, likelihood: 'gaussian', sigma: 'shared', activation: 'leaky_relu' }],
  ['gaussian σ(z) from the decoder', { hidden: [32], latentDim: 4, likelihood: 'gaussian', sigma: 'decoder', minSigma: 0.05 }],
  ['laplace per-feature scale', { hidden: [32], latentDim: 4, likelihood: 'laplace', sigma: 'feature' }],
  ['zinb on pixel counts', { hidden: [32], latentDim: 4, likelihood: 'zinb' }],
  ['conv preset (conv, conv, dense; dense, dense, transposed conv ×2), bernoulli', { inputShape: [1, 28, 28], architecture: 'conv' }],
  ['conv spec, gaussian σ(z) from a twin transposed-conv head, odd sizes', { inputShape: [1, 28, 28], likelihood: 'gaussian', sigma: 'decoder', minSigma: 0.05,
    encoder: [{ conv: { channels: 8, kernel: 5, stride: 3, padding: 2 } }, { activation: 'leaky_relu' }, { conv: { channels: 4, kernel: 3 } }, { activation: 'tanh' }],
    decoder: [{ dense: 4 * 8 * 8 }, { activation: 'relu' }, { reshape: [4, 8, 8] }, { convTranspose: { channels: 8, kernel: 3, stride: 1 } }, { activation: 'softplus' },
      { convTranspose: { channels: 1, kernel: 5, stride: 3, padding: 3, outputPadding: 2 } }] }],
  ['conv spec whose 16- and 32-channel neighbours exchange the blocked layout natively', { inputShape: [1, 28, 28],
    encoder: [{ conv: { channels: 16, kernel: 3, stride: 2, padding: 1 } }, { activation: 'relu' }, { conv: { channels: 32, kernel: 3, stride: 2, padding: 1 } }, { activation: 'relu' }],
    decoder: [{ dense: 32 * 7 * 7 }, { activation: 'relu' }, { reshape: [32, 7, 7] }, { convTranspose: { channels: 16, kernel: 4, stride: 2, padding: 1 } }, { activation: 'relu' },
      { convTranspose: { channels: 16, kernel: 3, padding: 1 } }, { activation: 'relu' }, { convTranspose: { channels: 1, kernel: 4, stride: 2, padding: 1 } }] }],
];
const isCounts = (o: Partial<VaeOptions>) => ['poisson', 'nb', 'zinb'].includes(o.likelihood ?? '');

describe.each(cases)('%s', (name, opts) => {
  let vae: Vae;
  let dir: string;
  beforeAll(async () => {
    vae = new Vae({ inputDim: 784, latentDim: 8, seed: 1, ...opts } as VaeOptions);
    // Count models train on pixel intensities as counts 0–10.
    await vae.fit(isCounts(opts) ? { ...mnist, data: mnist.data.map((v) => Math.round(10 * v)) } : mnist, { epochs: 1, batchSize: 100 });
    dir = path.join(tmp, name.replace(/\W+/g, '_'));
    expect(await vae.exportOnnx(dir)).toEqual([path.join(dir, 'decoder.onnx'), path.join(dir, 'encoder.onnx')]);
  });

  test.each([1, 2, 1000])('batch %d: decoder and encoder match native within 1e-5 of max |x|', async (batch) => {
    const x = headRows(isCounts(opts) ? { ...mnist, data: mnist.data.map((v) => Math.round(10 * v)) } : mnist, batch);
    const native = vae.encode(x);
    const enc = await OnnxEncoder.load(path.join(dir, 'encoder.onnx'), { threads: 1 });
    const onnxEnc = await enc.encode(x);
    expect(relToMax(onnxEnc.mean.data, native.mean.data)).toBeLessThan(1e-5);
    expect(relToMax(onnxEnc.logVar.data, native.logVar.data)).toBeLessThan(1e-5);
    const z = { data: randn(batch * vae.latentDim, batch), rows: batch, cols: vae.latentDim };
    const dec = await OnnxDecoder.load(path.join(dir, 'decoder.onnx'), { threads: 2 });
    const out = await dec.run(z);
    expect(relToMax((await dec.decode(z)).data, vae.decode(z).data)).toBeLessThan(1e-5);
    if (vae.options.likelihood === 'bernoulli') {
      expect(Object.keys(out).sort()).toEqual(['logits', 'probs']);
      const logits = out.logits.data;
      expect(relToMax(Float32Array.from(logits, (l) => 1 / (1 + Math.exp(-l))), out.probs.data)).toBeLessThan(1e-6);
    } else if (vae.options.sigma === 'shared') {
      expect(Math.exp(0.5 * out.logVar.data[0])).toBeCloseTo(vae.sigma!, 6);
    } else if (vae.options.sigma === 'decoder') {
      const scale = vae.decodeScale(z).scale!.data;
      expect(relToMax(out.logVar.data.map((v) => Math.exp(0.5 * v)), scale)).toBeLessThan(1e-5);
    } else if (vae.options.likelihood === 'laplace') {
      expect(relToMax(out.logScale.data.map(Math.exp), vae.sigmas()!)).toBeLessThan(1e-6);
    } else if (vae.options.likelihood === 'zinb') {
      expect(Object.keys(out).sort()).toEqual(['dropoutLogits', 'logMean', 'logTheta', 'mean']);
      expect(relToMax(out.dropoutLogits.data.map((v) => 1 / (1 + Math.exp(-v))), vae.decodeScale(z).dropout!.data)).toBeLessThan(1e-5);
      expect(relToMax(out.logTheta.data.map(Math.exp), vae.dispersion()!)).toBeLessThan(1e-6);
    }
  });

  test('sample(n, { seed }) equals Vae.sample; metadata records version and options', async () => {
    const dec = await OnnxDecoder.load(path.join(dir, 'decoder.onnx'));
    expect(relToMax((await dec.sample(16, { seed: 4 })).data, vae.sample(16, { seed: 4 }).data)).toBeLessThan(1e-5);
    expect(dec.metadata['latentkit.part']).toBe('decoder');
    expect(JSON.parse(dec.metadata['latentkit.options'])).toEqual(vae.options);
    expect(dec.metadata['latentkit.version']).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

describe('a conditional VAE: the condition is the graphs\' second input', () => {
  test('encoder and decoder match native under the same conditions; sample takes one condition row', async () => {
    const Q = 3;
    const vae = new Vae({ inputDim: 784, latentDim: 4, hidden: [32], seed: 2, conditionDim: Q, likelihood: 'gaussian', sigma: 'shared' });
    const x = headRows(mnist, 200);
    const cond = { data: Float32Array.from({ length: 200 * Q }, (_, i) => (i % Q === Math.floor(i / Q) % Q ? 1 : 0)), rows: 200, cols: Q };
    await vae.fit(x, { epochs: 1, batchSize: 50, condition: cond });
    const dir = path.join(tmp, 'conditional');
    await vae.exportOnnx(dir);
    const enc = await OnnxEncoder.load(path.join(dir, 'encoder.onnx'));
    const dec = await OnnxDecoder.load(path.join(dir, 'decoder.onnx'));
    expect(dec.conditionDim).toBe(Q);
    const native = vae.encode(x, cond);
    const onnxEnc = await enc.encode(x, cond);
    expect(relToMax(onnxEnc.mean.data, native.mean.data)).toBeLessThan(1e-5);
    expect(relToMax(onnxEnc.logVar.data, native.logVar.data)).toBeLessThan(1e-5);
    expect(relToMax((await dec.decode(native.mean, cond)).data, vae.decode(native.mean, cond).data)).toBeLessThan(1e-5);
    const one = { data: Float32Array.of(0, 1, 0), rows: 1, cols: Q };
    expect(relToMax((await dec.sample(8, { seed: 3, condition: one })).data, vae.sample(8, { seed: 3, condition: one }).data)).toBeLessThan(1e-5);
    await expect(dec.decode(native.mean)).rejects.toThrow(/for condition/);
    await expect(dec.decode(native.mean, { data: new Float32Array(200 * 2), rows: 200, cols: 2 })).rejects.toThrow(/for condition/);
  });
});

describe("Debian's onnx checker", () => {
  const python = '/usr/bin/python3';
  let available = false;
  try {
    execFileSync(python, ['-c', 'import onnx'], { stdio: 'ignore' });
    available = true;
  } catch {
    console.log('onnx checker test skipped: /usr/bin/python3 cannot import onnx (apt-get install python3-onnx; .ci/run does)');
  }
  (available ? test : test.skip)('every exported file passes check_model(full_check=True) at IR 8, opset 17, with no Random* op', () => {
    const files = fs.readdirSync(tmp, { recursive: true }).map(String).filter((f) => f.endsWith('.onnx')).map((f) => path.join(tmp, f));
    expect(files.length).toBe(2 * cases.length + 2); // + the conditional VAE's pair
    const script = 'import onnx, sys\nfor f in sys.argv[1:]:\n  m = onnx.load(f)\n  onnx.checker.check_model(m, full_check=True)\n' +
      '  assert m.ir_version == 8 and m.opset_import[0].version == 17, f\n  assert not any(n.op_type.startswith("Random") for n in m.graph.node), f\nprint("ok", len(sys.argv) - 1)';
    expect(execFileSync(python, ['-c', script, ...files], { encoding: 'utf8' }).trim()).toBe(`ok ${files.length}`);
  });
});

describe('bad ONNX input', () => {
  let good: string;
  beforeAll(async () => {
    const vae = new Vae({ inputDim: 6, latentDim: 2, hidden: [4] });
    good = (await vae.exportOnnx(path.join(tmp, 'small')))[0];
  });
  test('random bytes, a truncated file, a missing file, an encoder loaded as decoder: clear errors', async () => {
    const random = path.join(tmp, 'random.onnx');
    fs.writeFileSync(random, Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 2654435761) >>> 24)));
    await expect(OnnxDecoder.load(random)).rejects.toMatchObject({ code: 'LATENTKIT_BAD_DATA' });
    const truncated = path.join(tmp, 'truncated.onnx');
    const bytes = fs.readFileSync(good);
    fs.writeFileSync(truncated, bytes.subarray(0, bytes.length - 40));
    await expect(OnnxDecoder.load(truncated)).rejects.toMatchObject({ code: 'LATENTKIT_BAD_DATA' });
    await expect(OnnxDecoder.load(path.join(tmp, 'nope.onnx'))).rejects.toThrow(/cannot read ONNX model/);
    await expect(OnnxDecoder.load(path.join(tmp, 'small', 'encoder.onnx'))).rejects.toThrow(/not a latentkit decoder graph/);
  });
  test('a z of the wrong width names the width expected', async () => {
    const dec = await OnnxDecoder.load(good);
    await expect(dec.decode([[1, 2, 3]])).rejects.toThrow(/Expected rows of length 2 for z but received rows of length 3/);
    await expect(OnnxDecoder.load(good, { threads: -1 })).rejects.toThrow(/for threads/);
  });
});

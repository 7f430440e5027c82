// Bad input of every kind gets a TypeError/RangeError/Error that names the parameter; nothing crashes the process.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Vae } from '../lib/models/vae';
import { native } from '../lib/native';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'latentkit-bad-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const small = () => new Vae({ inputDim: 4, latentDim: 2, hidden: [3] });
const rows = (n: number, v = 0.5) => Array.from({ length: n }, () => [v, v, v, v]);

describe('constructor options', () => {
  test.each([
    [{ inputDim: 4, latentDim: 0 }, RangeError, /Expected an integer in \[1, 1048576\] for latentDim but received 0/],
    [{ inputDim: '784', latentDim: 2 }, TypeError, /for inputDim but received "784"/],
    [{ inputDim: 4, latentDim: 2, hidden: [3, -1] }, RangeError, /for hidden\[1\] but received -1/],
    [{ inputDim: 4, latentDim: 2, hidden: 400 }, TypeError, /for hidden but received 400/],
    [{ inputDim: 4, latentDim: 2, activation: 'gelu' }, RangeError, /for activation but received "gelu"/],
    [{ inputDim: 4, latentDim: 2, likelihood: 'gamma' }, RangeError, /for likelihood/],
    [{ inputDim: 4, latentDim: 2, likelihood: 'gaussian', sigma: 0 }, RangeError, /for sigma but received 0/],
    [{ inputDim: 4, latentDim: 2, sigma: 0.5 }, TypeError, /for sigma/],
    [{ inputDim: 4, latentDim: 2, latentdim: 3 }, TypeError, /options\.latentdim/],
    [null, TypeError, /for options but received null/],
  ])('%j', (options, kind, message) => {
    expect(() => new Vae(options as never)).toThrow(kind);
    expect(() => new Vae(options as never)).toThrow(message);
  });
});

describe('architecture specs: each error names the layer (side, index, kind) or the parameter, and the shapes', () => {
  const img = { inputShape: [1, 8, 8], latentDim: 2 };
  const conv = (o: Record<string, unknown>) => ({ conv: { channels: 2, kernel: 3, ...o } });
  const decoder = [{ dense: 64 }];
  test.each<[string, Record<string, unknown>, ErrorConstructor, RegExp]>([
    ['a convolution on a vector input (shapes do not chain)', { inputDim: 16, latentDim: 2, encoder: [conv({})], decoder }, RangeError,
      /Expected an image input \[channels, height, width\] \(reshape a vector first\) for encoder\[0\] \(conv\) but received an input of shape \[16\]/],
    ['a reshape that does not hold its input', { ...img, encoder: [{ reshape: [2, 5, 5] }], decoder }, RangeError,
      /a shape holding the 64 values of its input \[1, 8, 8\] for encoder\[0\] \(reshape\) but received \[2, 5, 5\] \(50 values\)/],
    ['a kernel larger than its input', { ...img, encoder: [conv({ kernel: 11 })], decoder }, RangeError,
      /a kernel \(11\) no larger than the padded input \(8 × 8\) for encoder\[0\] \(conv\) but received an input of shape \[1, 8, 8\]/],
    ['stride 0', { ...img, encoder: [conv({ stride: 0 })], decoder }, RangeError, /for encoder\[0\] \(conv\)\.stride but received 0/],
    ['negative padding', { ...img, encoder: [conv({ padding: -1 })], decoder }, RangeError, /for encoder\[0\] \(conv\)\.padding but received -1/],
    ['an unknown layer kind', { ...img, encoder: [conv({}), { pool: 2 }], decoder }, TypeError, /a layer spec: .* for encoder\[1\] but received \{ pool: … \}/],
    ['an activation with nothing before it', { ...img, encoder: [{ activation: 'relu' }], decoder }, RangeError, /an activation directly after a dense or convolution layer for encoder\[0\] \(activation\)/],
    ['a decoder whose image output is not the input shape', { ...img, encoder: [conv({})], decoder: [{ dense: 16 }, { reshape: [1, 4, 4] }, { convTranspose: { channels: 1, kernel: 3 } }] }, RangeError,
      /a last layer that gives the input's shape \[1, 8, 8\] .* for decoder\[2\] but received a layer giving \[1, 6, 6\]/],
    ['hidden beside specs', { ...img, hidden: [4], encoder: [conv({})], decoder }, TypeError, /for hidden/],
    ["architecture 'conv' on sizes not divisible by 4", { inputShape: [1, 6, 6], latentDim: 2, architecture: 'conv' }, RangeError, /divisible by 4 .* for inputShape/],
    ['inputDim that disagrees with inputShape', { ...img, inputDim: 63, architecture: 'conv' }, RangeError, /for inputDim but received 63/],
  ])('%s', (_name, options, kind, message) => {
    expect(() => new Vae(options as never)).toThrow(kind);
    expect(() => new Vae(options as never)).toThrow(message);
  });

  test('an input whose width does not match inputShape names x and the width expected', async () => {
    const vae = new Vae({ inputShape: [1, 8, 8], latentDim: 2, architecture: 'conv' });
    await expect(vae.fit({ data: new Float32Array(63 * 4), rows: 4, cols: 63 })).rejects.toThrow(/of length 64 for x/);
    expect(() => vae.encode({ data: new Float32Array(60), rows: 1, cols: 60 })).toThrow(/of length 64 for x/);
  });

  test('the binding re-checks a spec that TypeScript would refuse, naming the layer', () => {
    const N = native().VaeNative;
    const layer = { name: 'encoder.0', kind: 'conv', units: 2, kernel: 9, stride: 1, padding: 0, activation: 'relu' };
    const config = { inputDim: 16, latentDim: 2, inputShape: [1, 4, 4], encoder: [layer], decoder: [{ name: 'decoder.out', kind: 'dense', units: 16 }], likelihood: 'bernoulli', sigmaMode: 'fixed', observedLibrary: false, priorComponents: 0, conditionDim: 0 };
    expect(() => new N(config)).toThrow(/encoder\[0\] \(conv, encoder\.0\): the kernel \(9\) is larger than the padded input/);
    expect(() => new N({ ...config, encoder: [{ ...layer, kind: 'pool' }] })).toThrow(/one of 'dense', 'conv', 'convTranspose', 'reshape'/);
    expect(() => new N({ ...config, encoder: [{ ...layer, kernel: 3, activation: 'gelu' }] })).toThrow(/one of 'identity', 'relu'/);
  });
});

describe('data', () => {
  test('NaN and Inf are refused with their position', async () => {
    const x = rows(3);
    x[1][2] = NaN;
    await expect(small().fit(x)).rejects.toThrow(/Expected finite values for x but received NaN at row 1, column 2/);
    const y = { data: new Float32Array([0, 0, 0, Infinity]), rows: 1, cols: 4 };
    await expect(small().fit(y)).rejects.toThrow(/Infinity at row 0, column 3/);
  });
  test('wrong row length, ragged rows, empty data, values outside [0, 1] for Bernoulli', async () => {
    await expect(small().fit([[1, 0, 1]])).rejects.toThrow(/Expected rows of length 4 for x but received rows of length 3/);
    await expect(small().fit([[1, 0, 1, 0], [1]])).rejects.toThrow(/for x\[1\]/);
    await expect(small().fit([])).rejects.toThrow(/Expected at least one row for x/);
    await expect(small().fit({ data: new Float32Array(0), rows: 0, cols: 4 })).rejects.toThrow(/at least one row/);
    await expect(small().fit(rows(2, 3))).rejects.toThrow(/values in \[0, 1\].*for x but received 3 at row 0, column 0/);
    await expect(small().fit({ data: new Float32Array(7), rows: 2, cols: 4 })).rejects.toThrow(/x\.data/);
    await expect(small().fit('x' as never)).rejects.toThrow(TypeError);
    expect(() => small().decode([[1, 2, 3]])).toThrow(/rows of length 2 for z/);
  });
  test('fit options', async () => {
    const v = small();
    await expect(v.fit(rows(2), { epochs: 0 })).rejects.toThrow(/for epochs but received 0/);
    await expect(v.fit(rows(2), { batchSize: 'big' as never })).rejects.toThrow(/for batchSize but received "big"/);
    await expect(v.fit(rows(2), { learningRate: -1 })).rejects.toThrow(/for learningRate/);
    await expect(v.fit(rows(2), { validation: [[1, 2]] })).rejects.toThrow(/for validation/);
    await expect(v.fit(rows(2), { epoch: 3 } as never)).rejects.toThrow(/fitOptions\.epoch/);
    await expect(v.elbo(rows(2), { samples: 0 })).rejects.toThrow(/for samples but received 0/);
    expect(() => v.sample(-1)).toThrow(/for n but received -1/);
    expect(() => v.sample(2, { mode: 'median' as never })).toThrow(/for mode/);
  });
});

describe('checkpoints', () => {
  test('a truncated, random-bytes, foreign or missing checkpoint is refused with LATENTKIT_BAD_CHECKPOINT', async () => {
    const good = path.join(tmp, 'good.safetensors');
    const v = small();
    await v.save(good);
    const bytes = fs.readFileSync(good);
    const cases: Record<string, Buffer> = {
      truncated: bytes.subarray(0, bytes.length - 10),
      'truncated header': bytes.subarray(0, 20),
      random: Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 2654435761) & 0xff)),
      empty: Buffer.alloc(0),
    };
    for (const [name, data] of Object.entries(cases)) {
      const f = path.join(tmp, `${name}.safetensors`);
      fs.writeFileSync(f, data);
      await expect(Vae.load(f)).rejects.toMatchObject({ code: 'LATENTKIT_BAD_CHECKPOINT' });
    }
    const other = path.join(tmp, 'other.safetensors');
    await new Vae({ inputDim: 5, latentDim: 2, hidden: [3] }).save(other);
    const header = JSON.parse(fs.readFileSync(other).subarray(8, 8 + Number(fs.readFileSync(other).readBigUInt64LE(0))).toString());
    expect(header.__metadata__.kind).toBe('vae');
    await expect(Vae.load(path.join(tmp, 'missing.safetensors'))).rejects.toThrow(/cannot read checkpoint/);
    await expect(Vae.load(42 as never)).rejects.toThrow(/for path but received 42/);
  });
});

describe('direct binding calls with wrong arguments', () => {
  const k = native().kernels;
  test.each([
    ['no arguments', () => (k.gaussian_kl_std_normal_forward as unknown as () => void)(), TypeError],
    ['a plain array for a Float32Array', () => k.gaussian_kl_std_normal_forward([1] as never, new Float32Array(1), new Float32Array(1), 1, 1), TypeError],
    ['a Float64Array', () => k.gaussian_kl_std_normal_forward(new Float64Array(1) as never, new Float32Array(1), new Float32Array(1), 1, 1), TypeError],
    ['a too-short array', () => k.gaussian_kl_std_normal_forward(new Float32Array(2), new Float32Array(5), new Float32Array(6), 2, 3), RangeError],
    ['a negative size', () => k.dense_forward(new Float32Array(1), new Float32Array(1), new Float32Array(1), new Float32Array(1), -1, 1, 1, 'identity'), RangeError],
    ['sizes whose product overflows', () => k.gemm(false, false, 2 ** 30, 2 ** 30, 2 ** 30, 1, new Float32Array(1), new Float32Array(1), 0, new Float32Array(1)), RangeError],
    ['an unknown activation', () => k.dense_forward(new Float32Array(1), new Float32Array(1), new Float32Array(1), new Float32Array(1), 1, 1, 1, 'gelu' as never), RangeError],
    ['a string size', () => k.rng_normal_fill(new Float32Array(1), '1' as never, 0, 0, 0), TypeError],
    ['a fractional seed', () => k.rng_normal_fill(new Float32Array(1), 1, 0.5, 0, 0), RangeError],
    ['NaN alpha', () => k.gemm(false, false, 1, 1, 1, NaN, new Float32Array(1), new Float32Array(1), 0, new Float32Array(1)), RangeError],
    ['a wrong options object', () => k.adam_step(new Float32Array(1), new Float32Array(1), new Float32Array(1), new Float32Array(1), 1, 'fast' as never, 1, true), TypeError],
    ['step 0', () => k.adam_step(new Float32Array(1), new Float32Array(1), new Float32Array(1), new Float32Array(1), 1, {}, 0, true), RangeError],
  ])('%s', (_name, call, kind) => {
    // errors made by native code belong to Node's outer realm, so they are matched by name, not instanceof
    expect(call).toThrow(expect.objectContaining({ name: kind.name }));
    expect(call).toThrow(/Expected .* for \w+ but received|has more than 2\^40 elements/);
  });

  test('VaeNative: a bad config, wrong array lengths, training before beginTraining', async () => {
    const N = native().VaeNative;
    const step = { objective: 'elbo' as const, samples: 1, klWeight: 1, freeBits: 0 };
    expect(() => new N(undefined as never)).toThrow(expect.objectContaining({ name: 'TypeError' }));
    expect(() => new N({ inputDim: 4, latentDim: 2, encoder: 'x' } as never)).toThrow(/for encoder/);
    expect(() => new N({ inputDim: 0, latentDim: 2, encoder: [] } as never)).toThrow(/for inputDim/);
    const v = new N({ inputDim: 4, latentDim: 2, encoder: [{ name: 'encoder.0', kind: 'dense', units: 3, activation: 'relu' }], decoder: [{ name: 'decoder.0', kind: 'dense', units: 3, activation: 'relu' }, { name: 'decoder.out', kind: 'dense', units: 4 }], likelihood: 'bernoulli', sigmaMode: 'fixed', observedLibrary: false, priorComponents: 0, conditionDim: 0 });
    expect(() => v.setParams(new Float32Array(3))).toThrow(expect.objectContaining({ name: 'RangeError' }));
    expect(() => v.encode(new Float32Array(8), 3, new Float32Array(6), new Float32Array(6), null, 'fp32')).toThrow(/for x/);
    expect(() => v.decode(new Float32Array(2), 1, new Float32Array(3), null, null, 'fp32')).toThrow(/for mean/);
    expect(() => v.encode(new Float32Array(4), 1, new Float32Array(2), new Float32Array(2), null, 'fp16' as never)).toThrow(/encode: Expected one of 'fp32', 'bf16' for precision but received "fp16"/);
    expect(() => v.encode(new Float32Array(4), 1, new Float32Array(2), new Float32Array(2), null, undefined as never)).toThrow(/for precision/);
    expect(() => v.trainEpoch(0, null, null, false)).toThrow(/before beginTraining/);
    expect(() => v.beginTraining(new Float32Array(4), 1, { batchSize: 0 } as never)).toThrow(/for batchSize/);
    expect(() => v.evaluate(new Float32Array(4), 1, 0, 0, false, true, { reconstruction: true, kl: true }, null, 'fp32')).toThrow(/for samples/);
    expect(() => v.trainEpoch("0" as never, null, null, false)).toThrow(expect.objectContaining({ name: 'TypeError' }));
    expect(() => v.beginTraining(new Float32Array(4), 1, { batchSize: 1, lr: 1e-3, eps: 1e-8, weightDecay: 0, binarize: false, seed: 0, ...step } as never)).toThrow(/for precision/);
    v.beginTraining(new Float32Array(4), 1, { batchSize: 1, lr: 1e-3, eps: 1e-8, weightDecay: 0, binarize: false, seed: 0, precision: 'fp32', ...step });
    expect(() => v.trainEpoch(0, new Float32Array(3), null, false)).toThrow(/for klWeights/);
    expect(() => v.lossAndGradient(new Float32Array(4), 1, 0, new Float32Array(v.numParams()), { ...step, samples: 0 })).toThrow(/for samples/);
    expect(() => v.lossAndGradient(new Float32Array(4), 1, 0, new Float32Array(v.numParams()), { samples: 1 })).toThrow(/for objective/);
    v.endTraining();
  });
});

// Sizes that overflowed int64 or reached an unchecked allocation aborted the process (std::bad_alloc escaping the
// binding), and loops over zero-width rows or huge benchmarks blocked the JS thread for hours.
describe('huge sizes', () => {
  const gmmParams = (nComponents: number, covarianceType: 'full' | 'diag') => ({
    nComponents, covarianceType, weights: new Float64Array(1), means: new Float64Array(1), precisionsCholesky: new Float64Array(1),
  });

  test('a model past the parameter limit is refused with the count, not an abort', () => {
    expect(() => new Vae({ inputDim: 2 ** 20, latentDim: 2 ** 20, hidden: [] })).toThrow(
      expect.objectContaining({ code: 'LATENTKIT_INVALID_ARGUMENT', message: expect.stringMatching(/3298538029056 parameters; latentkit's limit is 1073741824/) }));
  });

  test('covariance sizes that overflow int64, and ones past physical memory', () => {
    const c = native().classical;
    expect(() => c.gmmLogProb(new Float32Array(0), 0, 2 ** 24, gmmParams(2 ** 20, 'full'), null, new Float64Array(0))).toThrow(expect.objectContaining({ name: 'RangeError' }));
    expect(() => c.gmmLogProb(new Float32Array(0), 0, 2 ** 24, gmmParams(2 ** 20, 'full'), null, new Float64Array(0))).toThrow(/for nComponents/);
    // 2^20 full 1024 × 1024 covariances: 2^40 doubles, more than any machine here has.
    expect(() => c.gmmLogProb(new Float32Array(0), 0, 1024, gmmParams(2 ** 20, 'full'), null, new Float64Array(0))).toThrow(
      expect.objectContaining({ code: 'LATENTKIT_OUT_OF_MEMORY', message: expect.stringMatching(/the mixture's parameters needs 16392\.0 GiB/) }));
  });

  test('a synchronous call cannot ask for hours of work', () => {
    const k = native().kernels;
    expect(() => k.gemm_benchmark([[false, false, 65536, 65536, 65536]], 1, 0, 'fp32')).toThrow(/at most 2e12 floating-point operations/);
    const empty = new Float32Array(0);
    expect(() => k.gaussian_reparameterize_forward(empty, empty, empty, empty, 2 ** 39, 0, 2 ** 20)).toThrow(/more than 2\^40 elements/);
    expect(() => k.gaussian_kl_std_normal_forward(new Float32Array(2 ** 20), empty, empty, 2 ** 20, 2 ** 21)).toThrow(expect.objectContaining({ name: 'RangeError' }));
  });

  test('evaluation draws are bounded', () => {
    const v = new (native().VaeNative)({ inputDim: 4, latentDim: 2, encoder: [{ name: 'encoder.0', kind: 'dense', units: 3, activation: 'relu' }], decoder: [{ name: 'decoder.0', kind: 'dense', units: 3, activation: 'relu' }, { name: 'decoder.out', kind: 'dense', units: 4 }], likelihood: 'bernoulli', sigmaMode: 'fixed', observedLibrary: false, priorComponents: 0, conditionDim: 0 });
    expect(() => v.evaluate(new Float32Array(4), 1, 2 ** 30, 0, false, true, { logLikelihood: true }, null, 'fp32')).toThrow(/for samples/);
  });
});

// checkpoint-validation.test.ts — checkpoints that killed the process (huge-but-valid options reaching an allocation,
// "threads": 1024 making libgomp exit) or loaded garbage (NaN weights; a mixture with negative or unnormalised
// weights, wrong-sized covariances, negative variances, 1-D means) are refused with LATENTKIT_BAD_CHECKPOINT
// naming what is wrong, before anything large is allocated.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { FactorAnalysis, GaussianMixture, PPCA, Vae, native } from '../lib';
import { encodeSafetensors, NamedTensor } from '../lib/io/safetensors';
import { randn, runCli } from './helpers';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'latentkit-ckpt-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

let counter = 0;
function write(tensors: NamedTensor[], metadata: Record<string, string>): string {
  const file = path.join(tmp, `c${counter++}.safetensors`);
  fs.writeFileSync(file, encodeSafetensors(tensors, metadata));
  return file;
}
const badCheckpoint = (message: RegExp) => expect.objectContaining({ code: 'LATENTKIT_BAD_CHECKPOINT', message: expect.stringMatching(message) });
const vaeMeta = (options: object) => ({ format: 'latentkit', kind: 'vae', version: '0.1.0', options: JSON.stringify(options) });

describe('VAE checkpoints', () => {
  test('huge but valid options without their tensors: refused before allocating them', async () => {
    // 2^24 × 20 × 3 + … ≈ 1.0e9 parameters (4 GB): under the limit, so only the layout check stands in the way.
    const file = write([], vaeMeta({ inputDim: 2 ** 24, latentDim: 20, hidden: [] }));
    expect(fs.statSync(file).size).toBeLessThan(200);
    const rss = process.memoryUsage().rss;
    await expect(Vae.load(file)).rejects.toEqual(badCheckpoint(/tensor encoder\.mean\.weight is missing/));
    expect(process.memoryUsage().rss - rss).toBeLessThan(256 * 2 ** 20);
    const r = await runCli(['eval', '--model', file]);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/is not a latentkit VAE checkpoint/);
  });

  test('options past the parameter limit, or invalid, are a bad checkpoint', async () => {
    await expect(Vae.load(write([], vaeMeta({ inputDim: 2 ** 20, latentDim: 2 ** 20, hidden: [] })))).rejects.toEqual(badCheckpoint(/options are invalid.*limit/));
    await expect(Vae.load(write([], vaeMeta({ inputDim: 4, latentDim: -1 })))).rejects.toEqual(badCheckpoint(/options are invalid.*latentDim/));
    await expect(Vae.load(write([], { format: 'latentkit', kind: 'vae', options: '{' }))).rejects.toEqual(badCheckpoint(/options are invalid/));
  });

  test('NaN or infinite weights are refused, naming the tensor; "threads": 1024 loads capped at the budget', async () => {
    const vae = new Vae({ inputDim: 6, latentDim: 2, hidden: [5] });
    const good = write(vae.parameters().tensors, vaeMeta({ ...vae.options, threads: 1024 })); // saved on a big machine
    const loaded = await Vae.load(good);
    expect(loaded.options.threads).toBe(native().info().cores);
    // Asked for by a caller, more threads than the budget are refused, naming the option.
    expect(() => new Vae({ inputDim: 6, latentDim: 2, threads: 1024 })).toThrow(/for threads but received 1024/);
    expect(Array.from(loaded.decode({ data: new Float32Array(2), rows: 1, cols: 2 }).data)).toEqual(Array.from(vae.decode({ data: new Float32Array(2), rows: 1, cols: 2 }).data));
    const { tensors } = vae.parameters();
    const poisoned = tensors.map((t) => (t.name === 'decoder.0.bias' ? { ...t, data: Float32Array.from(t.data, (v, i) => (i === 1 ? NaN : v)) } : t));
    await expect(Vae.load(write(poisoned, vaeMeta(vae.options)))).rejects.toEqual(badCheckpoint(/tensor decoder\.0\.bias has non-finite values/));
    const infinite = tensors.map((t) => (t.name === 'encoder.0.weight' ? { ...t, data: t.data.map(() => Infinity) } : t));
    await expect(Vae.load(write(infinite, vaeMeta(vae.options)))).rejects.toEqual(badCheckpoint(/encoder\.0\.weight has non-finite/));
  });

  test('tensors whose byte ranges overlap are refused', async () => {
    const a = { name: 'a', shape: [2], data: new Float32Array(2) };
    const buf = encodeSafetensors([a, { ...a, name: 'b' }], vaeMeta({}));
    const len = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + len).toString());
    header.b.data_offsets = [0, 8]; // b on top of a, leaving bytes 8–16 unread
    const json = Buffer.from(JSON.stringify(header).padEnd(len, ' '));
    const file = path.join(tmp, 'overlap.safetensors');
    fs.writeFileSync(file, Buffer.concat([buf.subarray(0, 8), json, buf.subarray(8 + len)]));
    await expect(Vae.load(file)).rejects.toEqual(badCheckpoint(/overlap or leave gaps/));
  });
});

describe('classical checkpoints', () => {
  const rows = 400, d = 3;
  const x = { data: randn(rows * d, 11), rows, cols: d };
  async function tensorsOf(model: { save(f: string): Promise<void> }): Promise<{ tensors: NamedTensor[]; metadata: Record<string, string> }> {
    const file = path.join(tmp, `m${counter++}.safetensors`);
    await model.save(file);
    const { decodeSafetensors } = await import('../lib/io/safetensors');
    const f = decodeSafetensors(fs.readFileSync(file));
    return { tensors: [...f.tensors.values()], metadata: f.metadata };
  }
  const edit = (ts: NamedTensor[], name: string, change: (t: NamedTensor) => NamedTensor) => ts.map((t) => (t.name === name ? change(t) : t));

  test('GaussianMixture: negative or unnormalised weights, wrong covariance sizes, negative variances, 1-D means, bad options', async () => {
    const diag = await tensorsOf(await new GaussianMixture({ nComponents: 2, covarianceType: 'diag', seed: 1 }).fit(x));
    const full = await tensorsOf(await new GaussianMixture({ nComponents: 2, covarianceType: 'full', seed: 1 }).fit(x));
    await expect(GaussianMixture.load(write(diag.tensors, diag.metadata))).resolves.toBeInstanceOf(GaussianMixture);
    const cases: Array<[NamedTensor[], Record<string, string>, RegExp]> = [
      [edit(diag.tensors, 'weights', (t) => ({ ...t, data: Float64Array.from([1.5, -0.5]) })), diag.metadata, /not a probability vector/],
      [edit(diag.tensors, 'weights', (t) => ({ ...t, data: Float64Array.from([0.2, 0.2]) })), diag.metadata, /not a probability vector/],
      [edit(diag.tensors, 'covariances', (t) => ({ ...t, data: t.data.map((v, i) => (i === 0 ? -v : v)) })), diag.metadata, /variances .* not all positive/],
      [edit(diag.tensors, 'covariances', (t) => ({ ...t, shape: [2, 2], data: t.data.subarray(0, 4) })), diag.metadata, /./],
      [edit(diag.tensors, 'means', (t) => ({ ...t, shape: [6] })), diag.metadata, /tensor means has shape \[6\] where 2 dimensions are needed/],
      [edit(full.tensors, 'covariances', (t) => ({ ...t, data: t.data.map((v, i) => (i === 1 ? v + 1 : v)) })), full.metadata, /not symmetric/],
      [diag.tensors, { ...diag.metadata, options: JSON.stringify({ nComponents: 'two' }) }, /options are invalid.*nComponents/],
      [diag.tensors, { ...diag.metadata, options: JSON.stringify({ nComponents: 3, covarianceType: 'diag' }) }, /nComponents is 3/],
    ];
    for (const [tensors, metadata, message] of cases) await expect(GaussianMixture.load(write(tensors, metadata))).rejects.toEqual(badCheckpoint(message));
  });

  test('PPCA and FactorAnalysis: negative noise variances, nComponents disagreeing with W', async () => {
    const ppca = await tensorsOf(await new PPCA({ nComponents: 1 }).fit(x));
    await expect(PPCA.load(write(edit(ppca.tensors, 'psi', (t) => ({ ...t, data: t.data.map(() => -1) })), ppca.metadata))).rejects.toEqual(badCheckpoint(/noise variances/));
    await expect(PPCA.load(write(ppca.tensors, { ...ppca.metadata, options: JSON.stringify({ nComponents: 2 }) }))).rejects.toEqual(badCheckpoint(/nComponents is 2/));
    const fa = await tensorsOf(await new FactorAnalysis({ nComponents: 1 }).fit(x));
    await expect(FactorAnalysis.load(write(fa.tensors, { ...fa.metadata, kind: 'ppca' }))).rejects.toEqual(badCheckpoint(/kind=ppca/));
    await expect(FactorAnalysis.load(write(edit(fa.tensors, 'W', (t) => ({ ...t, data: t.data.map(() => NaN) })), fa.metadata))).rejects.toEqual(badCheckpoint(/tensor W has non-finite/));
  });
});

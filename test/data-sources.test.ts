// data-sources.test.ts — the forms data may take (data/rows.ts, native/data/source.h): a memory-mapped float32 .npy,
// uint8 bytes read as v / 255 (mapped or in memory), CSR matrices and row selections each train, encode and evaluate
// bit for bit as their dense float32 twin; the block shuffle is a seeded permutation made of whole blocks; mapped
// data are checked as they are read (NaN, a likelihood's support) with the row and column named; a mapping outlives
// the arrays over it while a job reads it; every bad input names what is wrong.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { datasets, encodeNpy, headRows, loadData, mapNpy, readNpy, selectRows, trainTestSplit } from '../lib/data';
import { BYTE_SCALE, ByteMatrix, CsrMatrix, DataInput, denseMatrix, MappedMatrix, takeDataRows } from '../lib/data/rows';
import { Matrix, takeRows } from '../lib/matrix';
import { FitOptions, Vae, VaeOptions } from '../lib/models/vae';
import { native } from '../lib/native';
import { rngStream, RngPurpose } from '../lib/rng';
import { csrOf, randn } from './helpers';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'latentkit-data-sources-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const SMALL: VaeOptions = { inputDim: 784, latentDim: 8, hidden: [64], seed: 3 };
const FIT: FitOptions = { epochs: 2, batchSize: 100, threads: 2 };

/** Trains a fresh model on x; its parameters, per-epoch losses, test ELBO and encoding of `probe`. */
async function trained(options: VaeOptions, x: DataInput, fit: FitOptions, probe: DataInput) {
  const vae = new Vae(options);
  const h = await vae.fit(x, fit);
  return {
    params: bytes(vae.parameters().flat),
    losses: h.epochs.map((e) => [e.trainLoss, e.reconstruction, e.kl]),
    elbo: bytes((await vae.elbo(probe)).elbo),
    mean: bytes(vae.encode(probe).mean.data),
    meanAsync: bytes((await vae.encodeAsync(probe)).mean.data),
  };
}

let mnistBytes: ByteMatrix, mnistFloats: Matrix;
beforeAll(async () => {
  const m = await datasets.mnist({ split: 'train', mmap: true });
  const rows = 1200;
  const b = m.x as MappedMatrix;
  mnistBytes = { data: b.mapping.read(b.offset, rows * 784), rows, cols: 784 };
  mnistFloats = { data: Float32Array.from(mnistBytes.data, (v) => v * BYTE_SCALE), rows, cols: 784 };
});

describe('memory-mapped .npy and bytes', () => {
  test('datasets.mnist({ mmap: true }) maps the IDX images as bytes; they read as the float32 set, bit for bit', async () => {
    const mapped = await datasets.mnist({ split: 'test', mmap: true });
    const floats = await datasets.mnist({ split: 'test' });
    const x = mapped.x as MappedMatrix;
    expect([x.dtype, x.offset, x.rows, x.cols, x.mapping.byteLength()]).toEqual(['uint8', 16, 10000, 784, 16 + 10000 * 784]);
    expect(Array.from(mapped.labels)).toEqual(Array.from(floats.labels));
    expect(bytes(denseMatrix(x).data).equals(bytes(floats.x.data))).toBe(true);
  });

  test('a mapped float32 .npy trains, evaluates and encodes bit for bit as the same array in memory', async () => {
    const file = path.join(tmp, 'mnist-f32.npy');
    fs.writeFileSync(file, encodeNpy(mnistFloats));
    const mapped = (await loadData(file, { mmap: true })).x as MappedMatrix;
    expect([mapped.dtype, mapped.offset % 64, mapped.rows, mapped.cols]).toEqual(['float32', 0, 1200, 784]);
    expect(bytes(denseMatrix(mapped).data).equals(bytes(mnistFloats.data))).toBe(true);
    const probe = headRows(mnistFloats, 300);
    const a = await trained(SMALL, mnistFloats, FIT, probe);
    const b = await trained(SMALL, mapped, FIT, selectRows(mapped, Array.from({ length: 300 }, (_, i) => i)));
    expect(b).toEqual(a);
    expect(b.params.equals(a.params)).toBe(true);
  });

  test('uint8 bytes (mapped .npy, in memory) train as their float32 v · (1/255); loadData scales a 2-D uint8 .npy', async () => {
    const file = path.join(tmp, 'mnist-u8.npy');
    fs.writeFileSync(file, encodeNpy(mnistBytes));
    const mapped = await mapNpy(file);
    expect(mapped.dtype).toBe('uint8');
    const inMemory = denseMatrix((await loadData(file)).x);
    expect(bytes(inMemory.data).equals(bytes(mnistFloats.data))).toBe(true);
    expect(Array.from((await readNpy(file)).data.subarray(150, 160))).toEqual(Array.from(mnistBytes.data.subarray(150, 160))); // readNpy: as stored
    const a = await trained(SMALL, mnistFloats, FIT, headRows(mnistFloats, 300));
    expect(await trained(SMALL, mapped, FIT, selectRows(mapped, Array.from({ length: 300 }, (_, i) => i)))).toEqual(a);
    expect(await trained(SMALL, mnistBytes, FIT, { data: mnistBytes.data.subarray(0, 300 * 784), rows: 300, cols: 784 })).toEqual(a);
  });

  test('a mapping outlives its JS object while a job reads it', async () => {
    const file = path.join(tmp, 'mnist-f32.npy');
    const vae = new Vae(SMALL);
    const reference = vae.encode(mnistFloats).mean.data;
    let mapped: MappedMatrix | undefined = await mapNpy(file);
    const jobs = [vae.encodeAsync(mapped), vae.elbo(mapped)];
    mapped = undefined;
    (globalThis as { gc?: () => void }).gc?.();
    expect(bytes((await jobs[0] as { mean: Matrix }).mean.data).equals(bytes(reference))).toBe(true);
    await jobs[1];
  });

  test('a mapped file over 4 GB (sparse on disk) maps; its rows read from any offset', () => {
    const file = path.join(tmp, 'big.npy');
    const rows = 1_400_000, cols = 784; // 4.39 GB of float32
    const head = encodeNpy({ data: new Float32Array(0), rows, cols }).subarray(0, 128);
    const fd = fs.openSync(file, 'w');
    fs.writeSync(fd, head);
    const last = Float32Array.from({ length: cols }, (_, c) => c / cols);
    fs.writeSync(fd, Buffer.from(last.buffer), 0, cols * 4, 128 + (rows - 1) * cols * 4);
    fs.closeSync(fd);
    const m = native().data.mapFile(file);
    expect(m.byteLength()).toBe(128 + rows * cols * 4);
    const x: MappedMatrix = { mapping: m, offset: 128, dtype: 'float32', rows, cols, file };
    expect(bytes(takeDataRows(x, [rows - 1]).data).equals(bytes(last))).toBe(true);
    expect(takeDataRows(x, [0]).data.every((v) => v === 0)).toBe(true);
    fs.rmSync(file);
  });

  test('mapped values are checked as they are read: NaN and values outside the support, by row and column', async () => {
    const bad = { data: Float32Array.from(mnistFloats.data.subarray(0, 200 * 784)), rows: 200, cols: 784 };
    bad.data[137 * 784 + 5] = NaN;
    const nanFile = path.join(tmp, 'nan.npy');
    fs.writeFileSync(nanFile, encodeNpy(bad));
    const mapped = (await loadData(nanFile, { mmap: true })).x;
    await expect(new Vae(SMALL).fit(mapped, { epochs: 1, batchSize: 50 })).rejects.toMatchObject({
      code: 'LATENTKIT_BAD_DATA', message: expect.stringMatching(/Expected finite values for x but received NaN at row 137, column 5/) });
    await expect(new Vae(SMALL).elbo(mapped)).rejects.toThrow(/NaN at row 137, column 5/);
    bad.data[137 * 784 + 5] = 3;
    fs.writeFileSync(nanFile, encodeNpy(bad));
    const over = (await loadData(nanFile, { mmap: true })).x;
    expect(() => new Vae(SMALL).encode(over)).toThrow(/Expected values in \[0, 1\] \(likelihood: 'bernoulli'\) for x but received 3 at row 137, column 5/);
    // A Gaussian model takes it.
    expect(new Vae({ ...SMALL, likelihood: 'gaussian' }).encode(over).mean.rows).toBe(200);
  });

  test('bad files and options name what is wrong', async () => {
    const f64 = path.join(tmp, 'f64.npy');
    const buf = encodeNpy({ data: new Float32Array(4), rows: 2, cols: 2 });
    const header = Buffer.from(buf.toString('latin1').replace("'<f4'", "'<f8'"), 'latin1').subarray(0, buf.length - 16);
    fs.writeFileSync(f64, Buffer.concat([header, Buffer.alloc(32)]));
    await expect(mapNpy(f64)).rejects.toThrow(/float32 or 2-D uint8, not <f8/);
    await expect(mapNpy(path.join(tmp, 'missing.npy'))).rejects.toThrow(/no such file/);
    await expect(loadData(path.join(tmp, 'x.csv'), { mmap: true })).rejects.toThrow(/mmap: true maps a \.npy .* not \.csv/);
    await expect(loadData('mnist', { mmap: 'yes' } as never)).rejects.toThrow(/Expected a boolean for mmap/);
    expect(() => native().data.mapFile(tmp)).toThrow(/it is a folder/);
    const m = await mapNpy(path.join(tmp, 'mnist-f32.npy'));
    expect(() => new Vae(SMALL).encode({ ...m, offset: 130 })).toThrow(/Expected a multiple of 4 \(float32 values\) for x\.offset/);
    expect(() => new Vae(SMALL).encode({ ...m, rows: m.rows + 1 })).toThrow(/1201 rows of 784 values inside the file/);
    const empty = path.join(tmp, 'empty.npy');
    fs.writeFileSync(empty, '');
    expect(() => native().data.mapFile(empty)).toThrow(/it is empty/);
    await expect(new Vae(SMALL).fit(mnistFloats, { shuffle: 'random' as never })).rejects.toThrow(/Expected 'global', 'blocks' or \{ blockRows \} for shuffle/);
    await expect(new Vae(SMALL).fit(mnistFloats, { shuffle: { blockRows: 0 } })).rejects.toThrow(/shuffle\.blockRows/);
  });
});

describe('sparse CSR input', () => {
  // Counts at about 5 % density: 400 cells × 120 genes.
  const rows = 400, cols = 120;
  const dense: Matrix = { data: new Float32Array(rows * cols), rows, cols };
  const noise = randn(rows * cols, 11);
  for (let i = 0; i < dense.data.length; i++) if (noise[i] > 1.65) dense.data[i] = 1 + Math.floor(3 * Math.abs(noise[(i * 7) % noise.length]));

  test('a CSR matrix and its dense twin give the same ZINB fit, ELBO and encoding, bit for bit', async () => {
    const sparse = csrOf(dense);
    const density = sparse.indices.length / (rows * cols);
    expect(density).toBeGreaterThan(0.03);
    expect(density).toBeLessThan(0.08);
    const options: VaeOptions = { inputDim: cols, latentDim: 4, hidden: [32], likelihood: 'zinb', seed: 5 };
    const fit: FitOptions = { epochs: 3, batchSize: 64, threads: 2, validation: headRows(dense, 100) };
    const a = await trained(options, dense, fit, dense);
    const b = await trained(options, sparse, { ...fit, validation: selectRows(sparse, Array.from({ length: 100 }, (_, i) => i)) }, sparse);
    expect(b).toEqual(a);
    // reconstruct scales by each row's library size, read from the sparse row
    const vae = new Vae(options);
    expect(bytes(vae.reconstruct(sparse).data).equals(bytes(vae.reconstruct(dense).data))).toBe(true);
    // BigInt64 indptr and number[] forms are the same matrix
    const big = { ...sparse, indptr: BigInt64Array.from(Array.from(sparse.indptr, BigInt)), data: Array.from(sparse.data) };
    expect(bytes(vae.encode(big).mean.data).equals(bytes(vae.encode(dense).mean.data))).toBe(true);
  });

  test("scipy.sparse.save_npz's CSR .npz loads as a CsrMatrix (never densified) that encodes as its dense twin", async () => {
    const fixtures = path.join(__dirname, 'fixtures');
    const d = await loadData(path.join(fixtures, 'small_csr.npz'));
    const x = d.x as CsrMatrix;
    expect('indptr' in x && [x.rows, x.cols]).toEqual([6, 5]);
    const dense = await readNpy(path.join(fixtures, 'small_csr_dense.npy'));
    expect(bytes(takeDataRows(x, [0, 1, 2, 3, 4, 5]).data).equals(bytes(dense.data))).toBe(true);
    const vae = new Vae({ inputDim: 5, latentDim: 2, hidden: [8], likelihood: 'nb', seed: 1 });
    expect(bytes(vae.encode(x).mean.data).equals(bytes(vae.encode(dense).mean.data))).toBe(true);
    expect(d.labels).toHaveLength(6);
  });

  test('duplicate column indices add up (SciPy\'s convention); takeDataRows densifies rows', () => {
    const m: CsrMatrix = { indptr: [0, 2, 3], indices: [1, 1, 0], data: [2, 3, 4], rows: 2, cols: 3 };
    expect(Array.from(takeDataRows(m, [1, 0]).data)).toEqual([4, 0, 0, 0, 5, 0]);
  });

  test('bad CSR input names the field and the entry', () => {
    const vae = new Vae({ inputDim: 3, latentDim: 1, hidden: [4], likelihood: 'poisson' });
    const good = { indptr: [0, 1, 2], indices: [0, 2], data: [1, 2], rows: 2, cols: 3 };
    expect(() => vae.encode({ ...good, indptr: [0, 2, 1] })).toThrow(/indptr\[2\] = 1 is not in \[indptr\[1\]/);
    expect(() => vae.encode({ ...good, indices: [0, 3] })).toThrow(/row 1 has column index 3, outside \[0, 3\)/);
    expect(() => vae.encode({ ...good, indptr: [0, 1] })).toThrow(/Expected rows \+ 1 = 3 entries for x\.indptr/);
    expect(() => vae.encode({ ...good, data: [1] })).toThrow(/one value per index/);
    expect(() => vae.encode({ ...good, data: [1, -2] })).toThrow(/Expected counts >= 0 .* but received -2 at row 1, column 2/);
    expect(() => vae.encode({ ...good, data: [1, NaN] })).toThrow(/Expected finite values for x but received NaN at row 1, column 2/);
    expect(() => vae.encode({ ...good, indices: [0, -1] })).toThrow(/x\.indices/);
    expect(() => vae.encode({ ...good, cols: 4 })).toThrow(/rows of length 3/);
  });
});

describe('row selections and splits', () => {
  test('a selection of a mapped file trains as the copied rows; trainTestSplit of mapped data selects, never copies', async () => {
    const file = path.join(tmp, 'mnist-f32.npy');
    const mapped = (await loadData(file, { mmap: true })).x;
    const labels = new Uint8Array(mapped.rows);
    const split = trainTestSplit(mapped, labels, { seed: 4 });
    const copied = trainTestSplit(mnistFloats, labels, { seed: 4 });
    expect('of' in split.train.x && 'of' in split.test.x).toBe(true);
    expect(split.train.x.rows + split.test.x.rows).toBe(mapped.rows);
    expect(bytes(takeDataRows(split.test.x, Array.from({ length: split.test.x.rows }, (_, i) => i)).data).equals(bytes(copied.test.x.data))).toBe(true);
    const probe = takeRows(copied.test.x, [0, 1, 2, 3]);
    expect(await trained(SMALL, split.train.x, { ...FIT, epochs: 1 }, probe)).toEqual(await trained(SMALL, copied.train.x, { ...FIT, epochs: 1 }, probe));
  });

  test('selection indices are checked', () => {
    const vae = new Vae(SMALL);
    expect(() => vae.encode(selectRows(mnistFloats, [0, mnistFloats.rows]))).toThrow(/Expected integers in \[0, 1199\] for x\.indices/);
  });
});

describe('block shuffle', () => {
  test('a seeded permutation made of whole blocks, the rows of each shuffled', () => {
    const n = 1000, block = 64, blocks = Math.ceil(n / block);
    const perm = new BigInt64Array(n), order = new BigInt64Array(blocks);
    const draw = (epoch: number) => {
      native().kernels.rng_block_permutation(perm, order, n, block, 7, rngStream(RngPurpose.BlockOrder, epoch), rngStream(RngPurpose.BlockRows, epoch));
      return { perm: Array.from(perm, Number), order: Array.from(order, Number) };
    };
    const e0 = draw(0);
    expect([...e0.perm].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
    expect([...e0.order].sort((a, b) => a - b)).toEqual(Array.from({ length: blocks }, (_, i) => i));
    let at = 0;
    for (const b of e0.order) {
      const size = Math.min(block, n - b * block);
      const run = e0.perm.slice(at, at + size);
      expect([...run].sort((a, c) => a - c)).toEqual(Array.from({ length: size }, (_, i) => b * block + i));
      expect(run).not.toEqual([...run].sort((a, c) => a - c)); // shuffled within
      at += size;
    }
    expect(e0.order).not.toEqual(Array.from({ length: blocks }, (_, i) => i));
    expect(draw(1).perm).not.toEqual(e0.perm);
    expect(draw(0)).toEqual(e0);
  });

  test('training with shuffle blocks is deterministic and differs from the global order; blockRows ≥ rows is the global order', async () => {
    const probe = headRows(mnistFloats, 50);
    const global = await trained(SMALL, mnistFloats, { ...FIT, epochs: 1 }, probe);
    const blocks = await trained(SMALL, mnistFloats, { ...FIT, epochs: 1, shuffle: { blockRows: 256 } }, probe);
    expect(await trained(SMALL, mnistFloats, { ...FIT, epochs: 1, shuffle: { blockRows: 256 } }, probe)).toEqual(blocks);
    expect(blocks.params.equals(global.params)).toBe(false);
    expect(await trained(SMALL, mnistFloats, { ...FIT, epochs: 1, shuffle: { blockRows: 5000 } }, probe)).toEqual(global);
    expect(Math.abs(blocks.losses[0][0] - global.losses[0][0]) / global.losses[0][0]).toBeLessThan(0.05);
  });
});

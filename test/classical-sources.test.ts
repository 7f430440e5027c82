// classical-sources.test.ts — the classical models (GaussianMixture, PCA, PPCA, FactorAnalysis) read every data form
// of data/rows.ts natively a chunk of rows at a time (native/data/centred_rows.h): uint8 bytes, a memory-mapped
// float32 or uint8 .npy, CSR and row selections fit and score bit for bit as their dense float32 twin; mapped values
// are checked as they are read, by row and column.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { datasets, encodeNpy, loadData, mapNpy, selectRows } from '../lib/data';
import { BYTE_SCALE, ByteMatrix, CsrMatrix, DataInput, MappedMatrix } from '../lib/data/rows';
import { Matrix } from '../lib/matrix';
import { FactorAnalysis, GaussianMixture, GaussianMixtureOptions, PCA, PPCA } from '../lib';
import { csrOf, randn } from './helpers';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'latentkit-classical-sources-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
// maxIter-bounded fits warn by design (ConvergenceWarning; FactorAnalysis on MNIST's constant border pixels)
beforeAll(() => { jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined); });

const all = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Every form of the same values: in memory, CSR, mapped float32, (bytes:) in-memory and mapped uint8, a selection. */
async function formsOf(name: string, dense: Matrix, byteForm?: ByteMatrix): Promise<Record<string, DataInput>> {
  const f32 = path.join(tmp, `${name}-f32.npy`);
  fs.writeFileSync(f32, encodeNpy(dense));
  const forms: Record<string, DataInput> = {
    csr: csrOf(dense), mappedFloat32: await mapNpy(f32),
    selection: selectRows((await loadData(f32, { mmap: true })).x, all(dense.rows)),
  };
  if (byteForm) {
    const u8 = path.join(tmp, `${name}-u8.npy`);
    fs.writeFileSync(u8, encodeNpy(byteForm));
    forms.bytes = byteForm;
    forms.mappedBytes = (await loadData(u8, { mmap: true })).x;
  }
  return forms;
}

let images: Matrix, imageForms: Record<string, DataInput>;
let counts: Matrix, countForms: Record<string, DataInput>;
beforeAll(async () => {
  const m = (await datasets.mnist({ split: 'train', mmap: true })).x as MappedMatrix;
  const bytes: ByteMatrix = { data: m.mapping.read(m.offset, 1000 * 784), rows: 1000, cols: 784 };
  images = { data: Float32Array.from(bytes.data, (v) => v * BYTE_SCALE), rows: 1000, cols: 784 };
  imageForms = await formsOf('images', images, bytes);
  // Counts at about 20 % density, 600 cells × 12 genes, for the mixtures' full covariances.
  counts = { data: new Float32Array(600 * 12), rows: 600, cols: 12 };
  const noise = randn(counts.data.length, 21);
  for (let i = 0; i < counts.data.length; i++) if (noise[i] > 0.85) counts.data[i] = 1 + Math.floor(4 * Math.abs(noise[(i * 7) % noise.length])) + (i % 12 < 4 && i % 1200 < 600 ? 3 : 0);
  countForms = await formsOf('counts', counts);
});

describe('the classical models read every data form as its dense twin, bit for bit', () => {
  test('the sparse forms under test are sparse', () => {
    const density = (c: CsrMatrix) => c.indices.length / (c.rows * c.cols);
    expect(density(countForms.csr as CsrMatrix)).toBeGreaterThan(0.1);
    expect(density(imageForms.csr as CsrMatrix)).toBeLessThan(0.3);
    expect(Object.keys(imageForms).sort()).toEqual(['bytes', 'csr', 'mappedBytes', 'mappedFloat32', 'selection']);
  });

  test.each([
    ['full, k-means init', { nComponents: 3, covarianceType: 'full', maxIter: 15, regCovar: 1e-3, seed: 2 }],
    ['tied, k-means++ init', { nComponents: 3, covarianceType: 'tied', init: 'k-means++', maxIter: 10, seed: 1 }],
    ['spherical, random init', { nComponents: 4, covarianceType: 'spherical', init: 'random', maxIter: 10, seed: 4 }],
  ] as Array<[string, GaussianMixtureOptions]>)('GaussianMixture %s on counts: parameters, lower bounds, scores and predictions', async (_, options) => {
    const fitted = async (x: DataInput) => {
      const g = await new GaussianMixture(options).fit(x);
      return { weights: g.weights, means: g.means, covariances: g.covariances, bounds: g.lowerBounds,
        score: g.scoreSamples(x), proba: g.predictProba(x).data, labels: g.predict(counts), bic: g.bic(x) };
    };
    const want = await fitted(counts);
    expect(want.bounds.length).toBeGreaterThan(2);
    for (const [form, x] of Object.entries(countForms)) expect([form, await fitted(x)]).toEqual([form, want]);
  });

  test('GaussianMixture (diag, k-means init) on images in every form, bytes included', async () => {
    const fitted = async (x: DataInput) => {
      const g = await new GaussianMixture({ nComponents: 4, covarianceType: 'diag', maxIter: 8, seed: 3 }).fit(x);
      return { means: g.means.data, covariances: g.covariances.data, bounds: g.lowerBounds, score: g.scoreSamples(x) };
    };
    const want = await fitted(images);
    for (const [form, x] of Object.entries(imageForms)) expect([form, await fitted(x)]).toEqual([form, want]);
  });

  test('PCA, PPCA (closed form and EM) and FactorAnalysis (SVD, EM, sampling EM) on images in every form', async () => {
    const linear = async (x: DataInput) => {
      const pca = await new PCA({ nComponents: 6 }).fit(x);
      const ppca = await new PPCA({ nComponents: 4, method: 'em', maxIter: 6, tol: 0 }).fit(x);
      const closed = await new PPCA({ nComponents: 4 }).fit(x);
      const fa = await new FactorAnalysis({ nComponents: 4, maxIter: 4 }).fit(x);
      const sampled = await new FactorAnalysis({ nComponents: 3, method: 'em', estep: 'sample', maxIter: 3, seed: 5 }).fit(x);
      return {
        pca: [pca.components.data, pca.explainedVariance, pca.mean, pca.transform(x).data],
        ppca: [ppca.components.data, ppca.noiseVariance, ppca.loglike, ppca.scoreSamples(x), ppca.transform(x).data],
        closed: [closed.components.data, closed.scoreSamples(x)],
        fa: [fa.components.data, fa.noiseVariance, fa.loglike, fa.scoreSamples(x)],
        sampled: [sampled.components.data, sampled.noiseVariance],
      };
    };
    const want = await linear(images);
    expect(want.ppca[2]).toHaveLength(6);
    for (const [form, x] of Object.entries(imageForms)) expect([form, await linear(x)]).toEqual([form, want]);
  }, 60_000);

  test('a row selection fits as the rows it selects, copied', async () => {
    const picked = [5, 3, 900, 17, ...all(200).map((i) => 2 * i + 400)];
    const copy: Matrix = { data: new Float32Array(picked.length * 784), rows: picked.length, cols: 784 };
    picked.forEach((r, i) => copy.data.set(images.data.subarray(r * 784, (r + 1) * 784), i * 784));
    const a = await new PCA({ nComponents: 5 }).fit(copy);
    const b = await new PCA({ nComponents: 5 }).fit(selectRows(imageForms.bytes as ByteMatrix, picked));
    expect(b.components.data).toEqual(a.components.data);
    expect(b.transform(selectRows(imageForms.csr as CsrMatrix, picked)).data).toEqual(a.transform(copy).data);
  });
});

describe('checks as the classical models read', () => {
  test('a mapped NaN is found as it is read, by row and column, in a fit and in scoring', async () => {
    const bad = { data: Float32Array.from(counts.data), rows: counts.rows, cols: counts.cols };
    bad.data[437 * 12 + 9] = NaN;
    const file = path.join(tmp, 'nan.npy');
    fs.writeFileSync(file, encodeNpy(bad));
    const mapped = await mapNpy(file);
    const message = /Expected finite values for x but received NaN at row 437, column 9/;
    await expect(new GaussianMixture({ nComponents: 2 }).fit(mapped)).rejects.toMatchObject({ code: 'LATENTKIT_BAD_DATA', message: expect.stringMatching(message) });
    await expect(new FactorAnalysis({ nComponents: 2 }).fit(mapped)).rejects.toThrow(message);
    const pca = await new PCA({ nComponents: 2 }).fit(counts);
    expect(() => pca.transform(mapped)).toThrow(message);
    expect(() => pca.scoreSamples(mapped)).toThrow(message);
  });

  test('a CSR input of the wrong width, or with too few rows, is named', async () => {
    const g = await new GaussianMixture({ nComponents: 2 }).fit(counts);
    const narrow = csrOf({ data: counts.data.subarray(0, 60), rows: 6, cols: 10 });
    expect(() => g.scoreSamples(narrow)).toThrow(/Expected rows of length 12 for x but received rows of length 10/);
    await expect(new PCA({ nComponents: 1 }).fit(selectRows(countForms.csr as CsrMatrix, [3]))).rejects.toThrow(/Expected at least 2 rows for x but received 1 rows/);
  });
});

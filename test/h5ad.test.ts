// h5ad.test.ts — AnnData .h5ad files written by Debian's python3-anndata 0.8 (test/fixtures/make_h5ad.py): dense X,
// CSR X and a CSR counts layer read as their dense twins; categorical and numeric obs columns; a ZINB VAE trained on
// the CSR counts as on the dense counts; the CLI's --layer / --condition-key / --label-key; every bad input named.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadData, readH5ad, readNpy } from '../lib/data';
import { CsrMatrix, takeDataRows } from '../lib/data/rows';
import { Vae } from '../lib/models/vae';
import { runCli } from './helpers';

const fixtures = path.join(__dirname, 'fixtures');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'latentkit-h5ad-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const all = (n: number) => Array.from({ length: n }, (_, i) => i);
const obsJson = JSON.parse(fs.readFileSync(path.join(fixtures, 'cells_obs.json'), 'utf8'));

test('X dense, X CSR and layers["counts"] (CSR) read as their dense twins; obs columns categorical and numeric', async () => {
  const counts = await readNpy(path.join(fixtures, 'cells_counts.npy'));
  const logX = await readNpy(path.join(fixtures, 'cells_logX.npy'));
  const a = await readH5ad(path.join(fixtures, 'cells.h5ad'));
  expect('data' in a.x && bytes((a.x as { data: Float32Array }).data).equals(bytes(logX.data))).toBe(true);
  const layer = await readH5ad(path.join(fixtures, 'cells.h5ad'), { layer: 'counts' });
  expect('indptr' in layer.x).toBe(true);
  expect(bytes(takeDataRows(layer.x as CsrMatrix, all(40)).data).equals(bytes(counts.data))).toBe(true);
  const csr = await readH5ad(path.join(fixtures, 'cells_csr.h5ad'));
  expect(bytes(takeDataRows(csr.x as CsrMatrix, all(40)).data).equals(bytes(counts.data))).toBe(true);
  expect(a.obsNames).toEqual(obsJson.index);
  expect(a.varNames).toEqual(all(12).map((j) => `gene${j}`));
  const batch = a.obs.batch;
  expect(batch.kind === 'categorical' && Array.from(batch.codes, (c) => batch.categories[c])).toEqual(obsJson.batch);
  const type = a.obs.cell_type;
  expect(type.kind === 'categorical' && type.categories).toEqual(['T', 'B', 'NK']);
  expect(a.obs.n_genes.kind === 'numeric' && Array.from(a.obs.n_genes.values)).toEqual(obsJson.n_genes);
  expect(a.obs.score.kind === 'numeric' && Array.from(a.obs.score.values)).toEqual(obsJson.score);
  // loadData: the labels of an obs column, with their names
  const d = await loadData(path.join(fixtures, 'cells.h5ad'), { layer: 'counts', labelKey: 'cell_type' });
  expect(d.labelNames).toEqual(['T', 'B', 'NK']);
  expect(Array.from(d.labels, (l) => d.labelNames![l])).toEqual(obsJson.cell_type);
});

test('a ZINB VAE trains on the CSR counts layer as on its dense twin, bit for bit', async () => {
  const counts = await readNpy(path.join(fixtures, 'cells_counts.npy'));
  const sparse = (await loadData(path.join(fixtures, 'cells.h5ad'), { layer: 'counts' })).x;
  const fit = async (x: Parameters<Vae['fit']>[0]) => {
    const vae = new Vae({ inputDim: 12, latentDim: 2, hidden: [8], likelihood: 'zinb', seed: 2 });
    await vae.fit(x, { epochs: 3, batchSize: 8, threads: 1 });
    return bytes(vae.parameters().flat);
  };
  expect((await fit(sparse)).equals(await fit(counts))).toBe(true);
});

test('bad input names the key: missing layer or column, a string column, csc, a non-HDF5 file, options on other files', async () => {
  const cells = path.join(fixtures, 'cells.h5ad');
  await expect(readH5ad(cells, { layer: 'spliced' })).rejects.toThrow(/has no layers\['spliced'\] \(layers holds counts\)/);
  await expect(loadData(cells, { labelKey: 'tissue' })).rejects.toThrow(/labelKey "tissue": obs has no such categorical or numeric column \(it has batch, cell_type, n_genes, score\)/);
  await expect(loadData(cells, { labelKey: 'score' })).rejects.toThrow(/labelKey "score": it is numeric and row 0 \(cell0\) holds .*; codes are integers/);
  const junk = path.join(tmp, 'junk.h5ad');
  fs.writeFileSync(junk, 'not hdf5 at all');
  await expect(readH5ad(junk)).rejects.toThrow(/junk\.h5ad: it is not an HDF5 file/);
  const cut = path.join(tmp, 'cut.h5ad');
  fs.writeFileSync(cut, fs.readFileSync(cells).subarray(0, 4000));
  await expect(readH5ad(cut)).rejects.toMatchObject({ code: 'LATENTKIT_BAD_DATA' });
  await expect(loadData(path.join(fixtures, 'small_f4.npy'), { layer: 'counts' })).rejects.toThrow(/Expected nothing unless the source is an \.h5ad file/);
  await expect(loadData(cells, { mmap: true })).rejects.toThrow(/an \.h5ad is read into memory/);
});

test('latentkit train --layer counts --likelihood zinb --condition-key batch: a conditional model on the batch; the latent legend names the categories', async () => {
  const out = path.join(tmp, 'run');
  const r = await runCli(['train', '--data', path.join(fixtures, 'cells.h5ad'), '--layer', 'counts', '--likelihood', 'zinb', '--condition-key', 'batch',
    '--epochs', '2', '--latent', '2', '--hidden', '8', '--batch-size', '8', '--threads', '1', '--out', out]);
  expect(r.err).toMatch(/epoch 2\/2/);
  expect(r.code).toBe(0);
  const m = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
  expect(m.config.source).toMatchObject({ layer: 'counts', labelKey: 'batch' });
  expect(m.config.conditionDim).toBe(3);
  const svg = fs.readFileSync(path.join(out, 'latent.svg'), 'utf8');
  // the legend names the categories of the test rows' batches (4 held-out cells here)
  expect(svg).toMatch(/legend titled 'batch' for fill color with \d values?: b[0-2](, b[0-2])*"/);
  expect(svg).toContain('>batch<');
  expect((await runCli(['eval', '--model', path.join(out, 'model.safetensors'), '--threads', '1'])).code).toBe(0);
  expect((await runCli(['train', '--data', path.join(fixtures, 'cells.h5ad'), '--label-key', 'a', '--condition-key', 'b', '--out', out])).err).toMatch(/give one/);
  expect((await runCli(['train', '--data', path.join(fixtures, 'small_f4.npy'), '--layer', 'counts', '--out', out])).err).toMatch(/--layer applies to an \.h5ad --data/);
});

// parquet.test.ts — Parquet tables (data/parquet.ts, through hyparquet) written by test/fixtures/make_parquet.mjs with
// hyparquet-writer: numeric columns by name across row groups and codecs, labels from a string or integer column,
// loadData and the CLI; every bad input (missing column, non-numeric column, null, not Parquet, truncated) named.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadData, readParquet } from '../lib/data';
import { Matrix } from '../lib/matrix';
import { GaussianMixture, Vae } from '../lib';
import { runCli } from './helpers';

const fixtures = path.join(__dirname, 'fixtures');
const table = path.join(fixtures, 'table.parquet');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'latentkit-parquet-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

// The fixture script's formula (make_parquet.mjs).
const n = 300;
const value = (i: number, k: number) => Math.sin(0.37 * i + 1.3 * k) * (k + 1) + 0.01 * i;
const expected: Record<string, (i: number) => number> = {
  f32: (i) => Math.fround(value(i, 0)), f64: (i) => value(i, 1), i32: (i) => ((i * 7) % 23) - 11, i64: (i) => i * 1000003,
  flag: (i) => (i % 4 === 0 ? 1 : 0), batch: (i) => i % 3,
};
const matrixOf = (columns: string[]): Matrix => {
  const m: Matrix = { data: new Float32Array(n * columns.length), rows: n, cols: columns.length };
  for (let i = 0; i < n; i++) columns.forEach((c, j) => (m.data[i * columns.length + j] = expected[c](i)));
  return m;
};

test('numeric columns by name, in the order asked, across row groups; every numeric column by default', async () => {
  const t = await readParquet(table, { columns: ['i64', 'f32', 'f64'] });
  expect(t.columns).toEqual(['i64', 'f32', 'f64']);
  expect(t.x).toEqual(matrixOf(['i64', 'f32', 'f64']));
  expect(Array.from(t.labels)).toEqual(new Array(n).fill(0));
  const all = await readParquet(table);
  expect(all.columns).toEqual(['f32', 'f64', 'i32', 'i64', 'flag', 'batch']); // strings and timestamps left out
  expect(all.x).toEqual(matrixOf(all.columns));
  // the same values GZIP-compressed in one row group
  expect((await readParquet(path.join(fixtures, 'table_gzip.parquet'), { columns: ['i64', 'f32', 'f64'] })).x).toEqual(t.x);
});

test('a string label column gives sorted categories; an integer one its values; the label column is left out of x', async () => {
  const t = await readParquet(table, { labelKey: 'cell_type' });
  expect(t.labelNames).toEqual(['B', 'NK', 'T']);
  expect(Array.from(t.labels.subarray(0, 6))).toEqual([2, 1, 0, 2, 1, 0]); // T, NK, B, …
  const b = await readParquet(table, { labelKey: 'batch', columns: ['f32', 'f64'] });
  expect(Array.from(b.labels.subarray(0, 4))).toEqual([0, 1, 2, 0]);
  expect(b.labelNames).toEqual(['0', '1', '2']);
  expect((await readParquet(table, { labelKey: 'batch' })).columns).not.toContain('batch');
  const d = await loadData(table, { labelKey: 'cell_type', columns: ['f32', 'f64', 'i32'] });
  expect([d.name, d.x.rows, d.x.cols, d.labelNames]).toEqual(['table.parquet', n, 3, ['B', 'NK', 'T']]);
});

test('models train on a table; the CLI trains a VAE and fits a GMM with --columns and --label-key', async () => {
  const d = await loadData(table, { columns: ['f32', 'f64', 'i32'] });
  const g = await new GaussianMixture({ nComponents: 2, covarianceType: 'diag' }).fit(d.x);
  expect(Number.isFinite(g.score(d.x))).toBe(true);
  const vae = new Vae({ inputDim: 3, latentDim: 2, hidden: [8], likelihood: 'gaussian', seed: 1 });
  expect((await vae.fit(d.x, { epochs: 1, batchSize: 50 })).epochs).toHaveLength(1);

  const out = path.join(tmp, 'run');
  const r = await runCli(['train', '--data', table, '--columns', 'f32,f64,i32', '--label-key', 'cell_type', '--likelihood', 'gaussian',
    '--latent', '2', '--hidden', '8', '--epochs', '1', '--out', out, '--threads', '1']);
  expect(r.code).toBe(0);
  const m = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
  expect(m.config.source).toMatchObject({ columns: ['f32', 'f64', 'i32'], labelKey: 'cell_type' });
  expect(fs.readFileSync(path.join(out, 'latent.svg'), 'utf8')).toMatch(/NK/); // the legend names the categories
  const e = await runCli(['eval', '--model', path.join(out, 'model.safetensors'), '--threads', '1']); // re-reads the recorded columns
  expect(e.code).toBe(0);
  const f = await runCli(['fit', 'gmm', '--data', table, '--columns', 'f64,i64', '--components', '2', '--out', path.join(tmp, 'gmm')]);
  expect(f.code).toBe(0);
  expect(JSON.parse(fs.readFileSync(path.join(tmp, 'gmm', 'metrics.json'), 'utf8')).config.cols).toBe(2);
  expect((await runCli(['train', '--data', table, '--columns', 'note', '--out', path.join(tmp, 'bad')])).err)
    .toMatch(/columns "note": it holds strings, not numbers/);
  expect((await runCli(['train', '--columns', 'a', '--out', path.join(tmp, 'bad')])).err).toMatch(/--columns applies to a \.parquet --data/);
});

test('bad input names the file and the column', async () => {
  await expect(readParquet(table, { columns: ['f32', 'nope'] })).rejects.toThrow(/table\.parquet: columns "nope": no such column \(it has f32, f64, i32, i64, flag, cell_type, batch, when, note\)/);
  await expect(readParquet(table, { columns: ['when'] })).rejects.toThrow(/columns "when": it holds dates or times, not numbers/);
  await expect(readParquet(table, { columns: ['cell_type'] })).rejects.toThrow(/columns "cell_type": it holds strings, not numbers \(numeric columns: f32, f64, i32, i64, flag, batch\)/);
  await expect(readParquet(table, { labelKey: 'missing' })).rejects.toThrow(/labelKey "missing": no such column/);
  await expect(readParquet(table, { labelKey: 'f64' })).rejects.toThrow(/labelKey "f64": it is numeric and row 0 holds -?\d/);
  await expect(readParquet(table, { columns: ['f32', 'f32'] })).rejects.toThrow(/names a column twice/);
  await expect(readParquet(path.join(fixtures, 'nulls.parquet'))).rejects.toMatchObject({
    code: 'LATENTKIT_BAD_DATA', message: expect.stringMatching(/nulls\.parquet: column "x" has no value \(null\) at row 7/) });
  const junk = path.join(tmp, 'junk.parquet');
  fs.writeFileSync(junk, 'not a parquet file at all');
  await expect(readParquet(junk)).rejects.toThrow(/junk\.parquet: it is not a readable Parquet file/);
  const bytes = fs.readFileSync(table);
  const cut = path.join(tmp, 'cut.parquet'); // the footer kept, a data page cut short
  fs.writeFileSync(cut, Buffer.concat([bytes.subarray(0, 200), Buffer.alloc(bytes.length - 200 - 2000), bytes.subarray(bytes.length - 2000)]));
  await expect(readParquet(cut)).rejects.toThrow(/cut\.parquet: (its data could not be read|it is not a readable Parquet file)/);
  await expect(readParquet(path.join(tmp, 'absent.parquet'))).rejects.toThrow(/cannot read data file .*absent\.parquet: no such file/);
  await expect(loadData(table, { mmap: true })).rejects.toThrow(/a Parquet table is decoded into memory/);
  await expect(loadData(table, { layer: 'counts' })).rejects.toThrow(/layer/);
  await expect(loadData(path.join(fixtures, 'cells.h5ad'), { columns: ['a'] })).rejects.toThrow(/columns/);
});

// Data loaders: IDX (plain and gzip, every element type), .npy and .npz (fixtures made by numpy, see
// fixtures/make_npy.py and make_npz.py),
// CSV, MNIST, and the dataset helpers.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { binarize, datasets, denseMatrix, encodeNpy, loadData, minMaxScale, parseCsv, parseIdx, parseNpy, parseNpz, readNpy, readNpz, trainTestSplit } from '../lib/data';

const fixtures = path.join(__dirname, 'fixtures');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'latentkit-data-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function idx(type: number, shape: number[], write: (b: Buffer, i: number) => void, bytes: number): Buffer {
  const n = shape.reduce((a, b) => a * b, 1);
  const b = Buffer.alloc(4 + 4 * shape.length + n * bytes);
  b[2] = type;
  b[3] = shape.length;
  shape.forEach((s, i) => b.writeUInt32BE(s, 4 + 4 * i));
  for (let i = 0; i < n; i++) write(b, 4 + 4 * shape.length + i * bytes);
  return b;
}

describe('IDX', () => {
  test.each([
    ['uint8', 0x08, 1, (b: Buffer, o: number, v: number) => b.writeUInt8(v, o)],
    ['int16', 0x0b, 2, (b: Buffer, o: number, v: number) => b.writeInt16BE(-v, o)],
    ['int32', 0x0c, 4, (b: Buffer, o: number, v: number) => b.writeInt32BE(-v * 1000, o)],
    ['float32', 0x0d, 4, (b: Buffer, o: number, v: number) => b.writeFloatBE(v / 4, o)],
    ['float64', 0x0e, 8, (b: Buffer, o: number, v: number) => b.writeDoubleBE(v / 8, o)],
  ])('%s, plain and gzip', (type, code, bytes, write) => {
    let k = 0;
    const buf = idx(code, [2, 3, 2], (b, o) => write(b, o, k++), bytes);
    for (const input of [buf, zlib.gzipSync(buf)]) {
      const a = parseIdx(input);
      expect(a.type).toBe(type);
      expect(a.shape).toEqual([2, 3, 2]);
      const expected = Array.from({ length: 12 }, (_, i) =>
        type === 'uint8' ? i : type === 'int16' ? 0 - i || 0 : type === 'int32' ? 0 - i * 1000 || 0 : type === 'float32' ? i / 4 : i / 8);
      expect(Array.from(a.data)).toEqual(expected);
    }
  });
  test('truncated, wrong magic, unknown type', () => {
    const good = idx(0x08, [4, 4], (b, o) => b.writeUInt8(1, o), 1);
    expect(() => parseIdx(good.subarray(0, good.length - 1), 'f')).toThrow(/truncated/);
    expect(() => parseIdx(Buffer.from([1, 2, 3, 4]), 'f')).toThrow(/magic/);
    expect(() => parseIdx(Buffer.from([0, 0, 0x42, 1, 0, 0, 0, 0]), 'f')).toThrow(/unknown element type/);
  });
});

describe('.npy', () => {
  const expected = Array.from({ length: 12 }, (_, i) => i / 8);
  test.each(['small_f4.npy', 'small_f8.npy'])('%s', async (file) => {
    const m = await readNpy(path.join(fixtures, file));
    expect([m.rows, m.cols]).toEqual([3, 4]);
    expect(Array.from(m.data)).toEqual(expected);
  });
  test('uint8, 1-D, Fortran order refused, round trip through encodeNpy', async () => {
    expect(Array.from((await readNpy(path.join(fixtures, 'small_u1.npy'))).data)).toEqual(Array.from({ length: 12 }, (_, i) => i * 20));
    const v = await readNpy(path.join(fixtures, 'vector_f8.npy'));
    expect([v.rows, v.cols]).toEqual([5, 1]);
    await expect(readNpy(path.join(fixtures, 'fortran_f4.npy'))).rejects.toThrow(/Fortran order/);
    const m = { data: Float32Array.from([1, 2, 3, 4, 5, 6]), rows: 2, cols: 3 };
    expect(parseNpy(encodeNpy(m))).toEqual(m);
    expect(() => parseNpy(Buffer.from('not numpy at all'))).toThrow(/NUMPY magic/);
  });
});

describe('.npz', () => {
  const x = Array.from({ length: 12 }, (_, i) => i / 8);
  test.each(['small.npz', 'small_compressed.npz'])('%s (numpy savez / savez_compressed): members by name; loadData takes x and y', async (file) => {
    const members = await readNpz(path.join(fixtures, file));
    expect(Object.keys(members).sort()).toEqual(['x', 'y']);
    expect([members.x.rows, members.x.cols]).toEqual([4, 3]);
    expect(Array.from(members.x.data)).toEqual(x);
    const d = await loadData(path.join(fixtures, file));
    expect(Array.from(denseMatrix(d.x).data)).toEqual(x);
    expect(Array.from(d.labels)).toEqual([0, 1, 2, 1]);
  });
  test('refused: several arrays without x, not a zip, a damaged member, an impossible declared size', async () => {
    await expect(loadData(path.join(fixtures, 'pair.npz'))).rejects.toThrow(/needs one named 'x' \(it holds a, b\)/);
    expect(() => parseNpz(Buffer.from('not a zip file at all, not at all'), 'f')).toThrow(/f is not a readable .npz file: missing the zip signature/);
    const good = fs.readFileSync(path.join(fixtures, 'small.npz'));
    const broken = Buffer.from(good);
    broken.write('XUMPY', good.indexOf('NUMPY'), 'latin1'); // the first member's .npy magic (stored, not deflated)
    expect(() => parseNpz(broken, 'f')).toThrow(/f member x\.npy is not a readable \.npy file: missing the \\x93NUMPY magic/);
    // The central directory's uncompressed size of the first member raised to 4 GB: refused before inflating.
    const huge = Buffer.from(good);
    const central = huge.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    huge.writeUInt32LE(0xfffffff0, central + 24);
    expect(() => parseNpz(huge, 'f')).toThrow(/f is not a readable \.npz file: member x\.npy declares 4294967280 bytes from \d+/);
    expect(() => parseNpz(good.subarray(0, good.length - 30), 'f')).toThrow(/not a readable .npz file/);
  });
});

describe('CSV', () => {
  test('header, separators, errors', () => {
    const m = parseCsv('a,b,c\n1,2,3\n4,5.5,-6\n');
    expect(m.header).toEqual(['a', 'b', 'c']);
    expect([m.rows, m.cols]).toEqual([2, 3]);
    expect(Array.from(m.data)).toEqual([1, 2, 3, 4, 5.5, -6]);
    expect(Array.from(parseCsv('1;2\r\n3;4').data)).toEqual([1, 2, 3, 4]);
    expect(() => parseCsv('1,2\n3')).toThrow(/line 2 has 1 fields, expected 2/);
    expect(() => parseCsv('1,2\n3,x')).toThrow(/line 2, field 2 is not a number/);
    expect(() => parseCsv('')).toThrow(/empty/);
  });
});

describe('MNIST and helpers', () => {
  test('mnist() reads 60k/10k images scaled to [0, 1] with labels 0–9', async () => {
    const test = await datasets.mnist({ split: 'test' });
    expect([test.x.rows, test.x.cols]).toEqual([10000, 784]);
    expect(test.labels).toHaveLength(10000);
    let max = 0;
    for (const v of test.x.data) max = Math.max(max, v);
    expect(max).toBe(1);
    expect(new Set(test.labels).size).toBe(10);
    expect(test.labels[0]).toBe(7); // the first MNIST test digit is a 7
    await expect(datasets.mnist({ split: 'validation' as never })).rejects.toThrow(/for split/);
  });
  test('loadData by extension; split, binarize, scale', async () => {
    const f = path.join(tmp, 'd.csv');
    fs.writeFileSync(f, '0,1\n2,3\n4,5\n6,7\n8,9\n');
    const d = await loadData(f);
    expect([d.x.rows, d.x.cols]).toEqual([5, 2]);
    await expect(loadData(path.join(tmp, 'x.feather'))).rejects.toThrow(/unknown data format/);
    const s = trainTestSplit(denseMatrix(d.x), d.labels, { testFraction: 0.4, seed: 1 });
    expect([s.train.x.rows, s.test.x.rows]).toEqual([3, 2]);
    const all = [...s.train.x.data, ...s.test.x.data].sort((a, b) => a - b);
    expect(all).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const scaled = minMaxScale(denseMatrix(d.x)).x;
    expect(Math.min(...scaled.data)).toBe(0);
    expect(Math.max(...scaled.data)).toBe(1);
    const b = binarize({ data: new Float32Array(10000).fill(0.3), rows: 100, cols: 100 }, 3);
    const ones = b.data.reduce((a, v) => a + v, 0);
    expect(b.data.every((v) => v === 0 || v === 1)).toBe(true);
    expect(Math.abs(ones / 10000 - 0.3)).toBeLessThan(0.02);
  });
});

// Inputs the loaders accepted before and should refuse (or misread): each a test that failed before the fix.
describe('loaders refuse what they should', () => {
  const badData = (message: RegExp) => expect.objectContaining({ code: 'LATENTKIT_BAD_DATA', message: expect.stringMatching(message) });

  test('CSV: a first row with an empty or NaN field is data (an error), not a header; hex, binary, 1e400; lone CR', () => {
    expect(() => parseCsv('1,,3\n4,5,6')).toThrow(badData(/line 1, field 2 is not a number/));
    expect(() => parseCsv('1,NaN,3\n4,5,6')).toThrow(badData(/line 1, field 2 is not a number.*"NaN"/));
    expect(() => parseCsv('a,b\n0x10,1')).toThrow(badData(/line 2, field 1 is not a number.*"0x10"/));
    expect(() => parseCsv('a,b\n1,0b11')).toThrow(badData(/"0b11"/));
    expect(() => parseCsv('a,b\n1,1e400')).toThrow(badData(/outside float32's range/));
    expect(() => parseCsv('a,b\n1,Infinity')).toThrow(badData(/"Infinity"/));
    const cr = parseCsv('a,b\r1,2\r3,4\r');
    expect([cr.header, cr.rows, Array.from(cr.data)]).toEqual([['a', 'b'], 2, [1, 2, 3, 4]]);
    const quoted = parseCsv('"x, y",z\n"1",2\n\n3,4\n');
    expect([quoted.header, quoted.rows]).toEqual([['x, y', 'z'], 2]);
    expect(() => parseCsv('a,b\n1,2\n\n3')).toThrow(badData(/line 4 has 1 fields, expected 2/));
  });

  test('.npy: trailing bytes, a repeated key, a malformed header', () => {
    const good = encodeNpy({ data: Float32Array.from([1, 2, 3, 4]), rows: 2, cols: 2 });
    expect(Array.from(parseNpy(good).data)).toEqual([1, 2, 3, 4]);
    expect(() => parseNpy(Buffer.concat([good, Buffer.alloc(3)]))).toThrow(badData(/3 bytes after its 4 values/));
    const withHeader = (h: string) => {
      const padded = h + ' '.repeat((64 - ((10 + h.length + 1) % 64)) % 64) + '\n';
      const head = Buffer.alloc(10);
      head.writeUInt8(0x93, 0);
      head.write('NUMPY', 1, 'latin1');
      head[6] = 1;
      head.writeUInt16LE(padded.length, 8);
      return Buffer.concat([head, Buffer.from(padded, 'latin1'), Buffer.alloc(16)]);
    };
    expect(parseNpy(withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }")).rows).toBe(2);
    expect(() => parseNpy(withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'shape': (4,), }"))).toThrow(badData(/repeats the key 'shape'/));
    expect(() => parseNpy(withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }"))).toThrow(badData(/not a tuple of integers/));
    expect(() => parseNpy(withHeader("{'descr': '<f4', 'shape': (4,), }"))).toThrow(badData(/needs 'descr'.*'fortran_order'/));
  });

  test('IDX: trailing bytes, a damaged gzip stream', () => {
    const idx = Buffer.from([0, 0, 0x08, 1, 0, 0, 0, 3, 7, 8, 9]);
    expect(Array.from(parseIdx(idx).data)).toEqual([7, 8, 9]);
    expect(() => parseIdx(Buffer.concat([idx, Buffer.from([1])]))).toThrow(badData(/1 bytes after its 3 values/));
    const gz = zlib.gzipSync(idx);
    gz[gz.length - 12] ^= 0xff; // inside the deflate data
    expect(() => parseIdx(gz)).toThrow(badData(/gzip stream is damaged/));
  });
});

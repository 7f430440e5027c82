// data/npy.ts — NumPy .npy files (format versions 1–3): little-endian float32 / float64 / uint8 (and int32/int64),
// C order, 1-D (one column) or 2-D. readNpy gives a float32 matrix (values as stored), read in pieces so any size
// loads; mapNpy maps a float32 or uint8 file into memory without reading it.
import { LatentkitError } from '../errors';
import { Matrix } from '../matrix';
import { native } from '../native';
import { readAt, withDataFile } from './file';
import type { ByteMatrix, MappedMatrix } from './rows';

/** A parsed .npy header: the dtype, the shape as (rows, cols), and the byte offset of the values. */
export interface NpyHeader {
  descr: string;
  rows: number;
  cols: number;
  start: number;
  /** uint8 and 2-D: images, which loadData reads as v / 255 */
  scaled: boolean;
}

type Bad = (why: string) => never;
const badNpy = (name: string): Bad => (why: string) => {
  throw new LatentkitError('LATENTKIT_BAD_DATA', `${name} is not a readable .npy file: ${why}`);
};

/** The header at the start of `buf` (which needs to hold at least the header). */
export function parseNpyHeader(buf: Buffer, name = 'the .npy data'): NpyHeader {
  const bad = badNpy(name);
  if (buf.length < 10 || buf.readUInt8(0) !== 0x93 || buf.toString('latin1', 1, 6) !== 'NUMPY') bad('missing the \\x93NUMPY magic');
  const major = buf[6];
  const headerLenSize = major === 1 ? 2 : 4;
  if (major < 1 || major > 3) bad(`unsupported format version ${major}`);
  const headerLen = headerLenSize === 2 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = 8 + headerLenSize + headerLen;
  if (buf.length < start) bad('it ends inside its header');
  const header = buf.toString(major === 3 ? 'utf8' : 'latin1', 8 + headerLenSize, start);
  const fields = parseHeaderDict(header, bad);
  const { descr, fortran_order: fortran, shape } = fields;
  if (typeof descr !== 'string' || typeof fortran !== 'boolean' || !Array.isArray(shape))
    return bad("its header needs 'descr' (a string), 'fortran_order' (True/False) and 'shape' (a tuple)");
  if (fortran) bad('it is in Fortran order; save it with np.ascontiguousarray first');
  if (shape.length < 1 || shape.length > 2 || shape.some((v) => !Number.isSafeInteger(v) || v < 0))
    bad(`shape (${shape.join(', ')}) is not 1-D or 2-D`);
  if (!(descr in KINDS)) bad(`dtype ${descr} is not supported (float32, float64, uint8, int32, int64 little-endian)`);
  return { descr, rows: shape[0], cols: shape.length === 2 ? shape[1] : 1, start, scaled: shape.length === 2 && (descr === '|u1' || descr === '<u1') };
}

/** Bytes per value and a reader of one value, by dtype. */
const KINDS: Record<string, [number, (b: Buffer, o: number) => number]> = {
  '<f4': [4, (b, o) => b.readFloatLE(o)],
  '<f8': [8, (b, o) => b.readDoubleLE(o)],
  '|u1': [1, (b, o) => b[o]],
  '<u1': [1, (b, o) => b[o]],
  '<i4': [4, (b, o) => b.readInt32LE(o)],
  '<i8': [8, (b, o) => Number(b.readBigInt64LE(o))],
};

/** The byte count of the values a header promises, checked against the bytes there are after it. */
function valueBytes(h: NpyHeader, total: number, bad: Bad): number {
  const count = h.rows * h.cols;
  const bytes = count * KINDS[h.descr][0];
  if (total < h.start + bytes) bad(`it promises ${count} values but is truncated`);
  if (total > h.start + bytes) bad(`it has ${total - h.start - bytes} bytes after its ${count} values`);
  return bytes;
}

/** Values of dtype `descr` in buf (from byte 0) into out from index `at`. */
function convert(buf: Buffer, descr: string, out: Float32Array, at: number): void {
  const [size, read] = KINDS[descr];
  const n = buf.length / size;
  if (descr === '<f4') {
    new Uint8Array(out.buffer, out.byteOffset + at * 4, buf.length).set(buf);
    return;
  }
  for (let i = 0; i < n; i++) out[at + i] = read(buf, i * size);
}

/** An integer .npy (int32 / int64 / uint8) as exact numbers (indices, counts: float32 would round past 2^24). */
export function parseNpyIntegers(buf: Buffer, name = 'the .npy data'): Float64Array {
  const h = parseNpyHeader(buf, name);
  const bad = badNpy(name);
  if (!['<i4', '<i8', '|u1', '<u1'].includes(h.descr)) bad(`it holds ${h.descr} values; integers (int32, int64) are needed`);
  valueBytes(h, buf.length, bad);
  const [size, read] = KINDS[h.descr];
  const out = new Float64Array(h.rows * h.cols);
  for (let i = 0; i < out.length; i++) out[i] = read(buf, h.start + i * size);
  return out;
}

export function parseNpy(buf: Buffer, name = 'the .npy data'): Matrix {
  const h = parseNpyHeader(buf, name);
  valueBytes(h, buf.length, badNpy(name));
  const data = new Float32Array(h.rows * h.cols);
  convert(buf.subarray(h.start), h.descr, data, 0);
  return { data, rows: h.rows, cols: h.cols };
}

/**
 * The header's Python dict literal, strictly: {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } — string
 * keys, each once, and string, True/False or tuple-of-integers values.
 */
function parseHeaderDict(text: string, bad: Bad): Record<string, string | boolean | number[]> {
  const out: Record<string, string | boolean | number[]> = {};
  let i = 0;
  const space = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  const expect = (c: string) => {
    space();
    if (text[i] !== c) bad(`its header is not a dict literal (expected ${JSON.stringify(c)} at character ${i})`);
    i++;
  };
  const str = (): string => {
    space();
    const q = text[i];
    if (q !== "'" && q !== '"') bad(`its header is not a dict literal (expected a string at character ${i})`);
    const end = text.indexOf(q, i + 1);
    if (end < 0) bad('its header has an unterminated string');
    const v = text.slice(i + 1, end);
    i = end + 1;
    return v;
  };
  expect('{');
  for (;;) {
    space();
    if (text[i] === '}') break;
    const key = str();
    if (key in out) bad(`its header repeats the key '${key}'`);
    expect(':');
    space();
    if (text.startsWith('True', i) || text.startsWith('False', i)) {
      out[key] = text.startsWith('True', i);
      i += out[key] ? 4 : 5;
    } else if (text[i] === '(') {
      const end = text.indexOf(')', i);
      if (end < 0) bad('its header has an unterminated tuple');
      const items = text.slice(i + 1, end).split(',').map((v) => v.trim()).filter((v) => v !== '');
      if (!items.every((v) => /^\d+L?$/.test(v))) bad(`its shape (${text.slice(i + 1, end)}) is not a tuple of integers`);
      out[key] = items.map((v) => Number(v.replace('L', '')));
      i = end + 1;
    } else out[key] = str();
    space();
    if (text[i] === ',') i++;
    else if (text[i] !== '}') bad(`its header is not a dict literal (expected ',' or '}' at character ${i})`);
  }
  i++;
  if (text.slice(i).trim() !== '') bad('its header has text after the dict');
  return out;
}

/** The header of a .npy file. */
export async function npyHeaderOf(file: string): Promise<NpyHeader> {
  return withDataFile(file, async (fh, size) => parseNpyHeader(await readAt(fh, 0, Math.min(size, NPY_HEADER_MAX)), file));
}

/** Bytes read per call when a file is read in pieces (a file over 2 GB cannot be read into one Buffer). */
const READ_CHUNK_BYTES = 64 << 20;

/** A .npy file as float32, read in pieces straight into the result (any size). */
export async function readNpy(file: string): Promise<Matrix> {
  return withDataFile(file, async (fh, size) => {
    const h = parseNpyHeader(await readAt(fh, 0, Math.min(size, NPY_HEADER_MAX)), file);
    const bytes = valueBytes(h, size, badNpy(file));
    const data = new Float32Array(h.rows * h.cols);
    const valueSize = KINDS[h.descr][0];
    const chunk = Math.floor(READ_CHUNK_BYTES / valueSize) * valueSize;
    for (let off = 0; off < bytes; off += chunk) convert(await readAt(fh, h.start + off, Math.min(chunk, bytes - off)), h.descr, data, off / valueSize);
    return { data, rows: h.rows, cols: h.cols };
  });
}

/**
 * A .npy file of float32 or 2-D uint8 (read as bytes, v / 255) memory-mapped: its values are read from the file as
 * they are used and never copied into memory (a model checks them as it reads them). Other dtypes are refused:
 * convert with x.astype(np.float32).
 */
export async function mapNpy(file: string): Promise<MappedMatrix> {
  const mapping = native().data.mapFile(file);
  const h = parseNpyHeader(mapping.read(0, NPY_HEADER_MAX), file);
  valueBytes(h, mapping.byteLength(), badNpy(file));
  const mapped = { mapping, offset: h.start, rows: h.rows, cols: h.cols, file };
  if (h.scaled) return { ...mapped, dtype: 'uint8' };
  if (h.descr !== '<f4')
    throw new LatentkitError('LATENTKIT_BAD_DATA', `${file}: a memory-mapped .npy holds float32 or 2-D uint8, not ${h.descr}${h.cols === 1 ? ' (1-D)' : ''}; save it with x.astype(np.float32) or read it without mmap`);
  if (h.start % 4 !== 0)
    throw new LatentkitError('LATENTKIT_BAD_DATA', `${file}: its values start at byte ${h.start}, not a multiple of 4, so they cannot be mapped as float32; save it again with numpy (headers are padded to 64 bytes)`);
  return { ...mapped, dtype: 'float32' };
}

/** The longest header read (format 2 allows 4 GB headers; real ones are a few hundred bytes). */
const NPY_HEADER_MAX = 1 << 20;


/** Serialises a float32 matrix (or a uint8 one, as bytes: '|u1') as a version-1 .npy file. */
export function encodeNpy(m: Matrix | ByteMatrix): Buffer {
  const descr = m.data instanceof Uint8Array ? '|u1' : '<f4';
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${m.rows}, ${m.cols}), }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  head.writeUInt8(0x93, 0);
  head.write('NUMPY', 1, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength)]);
}

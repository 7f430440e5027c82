// data/npy.ts — NumPy .npy files (format versions 1–3): little-endian float32 / float64 / uint8 (and int32/int64),
// C order, 1-D (one column) or 2-D. Returns a float32 matrix.
import { LatentkitError } from '../errors';
import { readDataFile } from './file';
import { Matrix } from '../matrix';

export function parseNpy(buf: Buffer, name = 'the .npy data'): Matrix {
  const bad = (why: string): never => {
    throw new LatentkitError('LATENTKIT_BAD_DATA', `${name} is not a readable .npy file: ${why}`);
  };
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
  const rows = shape[0];
  const cols = shape.length === 2 ? shape[1] : 1;
  const count = rows * cols;
  const kinds: Record<string, [number, (o: number) => number]> = {
    '<f4': [4, (o) => buf.readFloatLE(o)],
    '<f8': [8, (o) => buf.readDoubleLE(o)],
    '|u1': [1, (o) => buf[o]],
    '<u1': [1, (o) => buf[o]],
    '<i4': [4, (o) => buf.readInt32LE(o)],
    '<i8': [8, (o) => Number(buf.readBigInt64LE(o))],
  };
  const kind = kinds[descr];
  if (!kind) bad(`dtype ${descr} is not supported (float32, float64, uint8, int32, int64 little-endian)`);
  const [size, read] = kind;
  if (buf.length < start + count * size) bad(`it promises ${count} values but is truncated`);
  if (buf.length > start + count * size) bad(`it has ${buf.length - start - count * size} bytes after its ${count} values`);
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) data[i] = read(start + i * size);
  return { data, rows, cols };
}

/**
 * The header's Python dict literal, strictly: {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } — string
 * keys, each once, and string, True/False or tuple-of-integers values.
 */
function parseHeaderDict(text: string, bad: (why: string) => never): Record<string, string | boolean | number[]> {
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

export async function readNpy(file: string): Promise<Matrix> {
  return parseNpy(await readDataFile(file), file);
}

/** Serialises a float32 matrix as a version-1 .npy file. */
export function encodeNpy(m: Matrix): Buffer {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${m.rows}, ${m.cols}), }`;
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

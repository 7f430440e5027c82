// data/npy.ts — NumPy .npy files (format versions 1–3): little-endian float32 / float64 / uint8 (and int32/int64),
// C order, 1-D (one column) or 2-D. Returns a float32 matrix.
import * as fs from 'fs';
import { LatentkitError } from '../errors';
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
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) bad('its header lacks descr, fortran_order or shape');
  if (fortran === 'True') bad('it is in Fortran order; save it with np.ascontiguousarray first');
  const shape = shapeText!.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (shape.length < 1 || shape.length > 2 || shape.some((s) => !Number.isInteger(s) || s < 0))
    bad(`shape (${shapeText}) is not 1-D or 2-D`);
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
  const kind = kinds[descr!];
  if (!kind) bad(`dtype ${descr} is not supported (float32, float64, uint8, int32, int64 little-endian)`);
  const [size, read] = kind;
  if (buf.length < start + count * size) bad(`it promises ${count} values but is truncated`);
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) data[i] = read(start + i * size);
  return { data, rows, cols };
}

export async function readNpy(file: string): Promise<Matrix> {
  return parseNpy(await fs.promises.readFile(file), file);
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

// data/idx.ts — the IDX format (MNIST's): 2 zero bytes, a type byte, a dimension count, big-endian u32 sizes, then
// big-endian values. Plain or gzip-compressed (.gz or by magic). Returns the raw values as float64-exact numbers in
// a Float32Array (uint8/int8/int16 are exact) and the shape; or maps an uncompressed uint8 image file (mapIdxImages).
import * as zlib from 'zlib';
import { LatentkitError } from '../errors';
import { native } from '../native';
import { readDataFile } from './file';
import type { MappedMatrix } from './rows';

export interface IdxArray {
  shape: number[];
  data: Float32Array;
  type: 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';
}

// Element types by their IDX code: name, width and a big-endian reader.
const TYPES: Record<number, { type: IdxArray['type']; bytes: number; read: (b: Buffer, offset: number) => number }> = {
  0x08: { type: 'uint8', bytes: 1, read: (b, o) => b[o] },
  0x09: { type: 'int8', bytes: 1, read: (b, o) => b.readInt8(o) },
  0x0b: { type: 'int16', bytes: 2, read: (b, o) => b.readInt16BE(o) },
  0x0c: { type: 'int32', bytes: 4, read: (b, o) => b.readInt32BE(o) },
  0x0d: { type: 'float32', bytes: 4, read: (b, o) => b.readFloatBE(o) },
  0x0e: { type: 'float64', bytes: 8, read: (b, o) => b.readDoubleBE(o) },
};

/** The header of an uncompressed IDX file at the start of buf, its size checked against the file's (`total`). */
function idxHeader(buf: Uint8Array, bad: (why: string) => never, total = buf.length) {
  const view = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (total < 4) bad('it is shorter than the 4-byte magic number');
  if (buf[0] !== 0 || buf[1] !== 0) bad('its magic number does not start with two zero bytes');
  const t = TYPES[buf[2]];
  if (!t) bad(`unknown element type 0x${buf[2].toString(16)}`);
  const ndim = buf[3];
  if (ndim < 1) bad('it has no dimensions');
  if (total < 4 + 4 * ndim) bad('it ends inside its header');
  const shape: number[] = [];
  for (let i = 0; i < ndim; i++) shape.push(view.readUInt32BE(4 + 4 * i));
  const count = shape.reduce((a, b) => a * b, 1);
  const start = 4 + 4 * ndim;
  const need = start + count * t.bytes;
  if (total < need) bad(`its header promises ${count} values (${need} bytes) but it has ${total} bytes (truncated?)`);
  if (total > need) bad(`it has ${total - need} bytes after its ${count} values`);
  return { t, shape, count, start };
}

/**
 * An uncompressed uint8 IDX file of 2 or more dimensions (images) memory-mapped (rows = the first dimension; pixels
 * read as bytes, v / 255): nothing is read until used.
 */
export function mapIdxImages(file: string): MappedMatrix {
  const bad = (why: string): never => {
    throw new LatentkitError('LATENTKIT_BAD_DATA', `${file} cannot be memory-mapped: ${why}`);
  };
  const mapping = native().data.mapFile(file);
  const head = mapping.read(0, 4 + 4 * 255);
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) bad('it is gzip-compressed (gunzip it first)');
  const { t, shape, count, start } = idxHeader(head, (why) => bad(`it is not a valid IDX file: ${why}`), mapping.byteLength());
  if (t.type !== 'uint8' || shape.length < 2) bad(`it holds ${t.type} values of ${shape.length} dimension(s); uint8 images (2 or more) map`);
  return { mapping, offset: start, dtype: 'uint8', rows: shape[0], cols: count / Math.max(1, shape[0]), file };
}

export function parseIdx(input: Buffer, name = 'the IDX data'): IdxArray {
  const bad = (why: string): never => {
    throw new LatentkitError('LATENTKIT_BAD_DATA', `${name} is not a valid IDX file: ${why}`);
  };
  let buf = input;
  if (input.length >= 2 && input[0] === 0x1f && input[1] === 0x8b) {
    try {
      buf = zlib.gunzipSync(input);
    } catch (e) {
      bad(`its gzip stream is damaged (${(e as Error).message})`);
    }
  }
  const { t, shape, count, start } = idxHeader(buf, bad);
  const data = new Float32Array(count);
  if (t.type === 'uint8') for (let i = 0; i < count; i++) data[i] = buf[start + i]; // the common case, kept tight
  else for (let i = 0; i < count; i++) data[i] = t.read(buf, start + i * t.bytes);
  return { shape, data, type: t.type };
}

export async function readIdx(file: string): Promise<IdxArray> {
  return parseIdx(await readDataFile(file), file);
}

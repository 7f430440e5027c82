// data/npz.ts — NumPy .npz archives (np.savez, np.savez_compressed): a zip of .npy members, unpacked with fflate
// (stored and deflated entries) and each member parsed by npy.ts. Members come back as float32 matrices by name
// ('x.npy' → 'x'), or — for scipy.sparse.save_npz's archives — as a CSR matrix (csrOfNpz). A member whose declared size is impossible for its compressed size (deflate expands at most
// 1032:1) is refused before anything is inflated, so a damaged or hostile header cannot ask for gigabytes.
import { unzipSync } from 'fflate';
import { LatentkitError } from '../errors';
import { Matrix } from '../matrix';
import { readDataFile } from './file';
import { parseNpy, parseNpyIntegers } from './npy';
import type { CsrMatrix } from './rows';

const MAX_DEFLATE_RATIO = 1032;

export function parseNpz(buf: Buffer, name = 'the .npz data'): Record<string, Matrix> {
  return npzMatrices(npzMembers(buf, name), name);
}

/** Each member as a float32 matrix. */
export function npzMatrices(members: Record<string, Buffer>, name: string): Record<string, Matrix> {
  const out: Record<string, Matrix> = {};
  for (const [member, bytes] of Object.entries(members)) out[member] = parseNpy(bytes, `${name} member ${member}.npy`);
  return out;
}

/** The .npy bytes of each member of an .npz archive, by name ('x.npy' → 'x'). */
export function npzMembers(buf: Buffer, name = 'the .npz data'): Record<string, Buffer> {
  const bad = (why: string): never => {
    throw new LatentkitError('LATENTKIT_BAD_DATA', `${name} is not a readable .npz file: ${why}`);
  };
  if (buf.length < 22 || buf.readUInt32LE(0) !== 0x04034b50) bad('missing the zip signature (PK\\x03\\x04)');
  let members: Record<string, Uint8Array> = {};
  try {
    members = unzipSync(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), {
      filter: (f) => {
        if (f.compression !== 0 && f.compression !== 8) bad(`member ${f.name} uses compression method ${f.compression} (only stored and deflate)`);
        const limit = f.compression === 0 ? f.size : f.size * MAX_DEFLATE_RATIO + 1024;
        if (f.originalSize > limit || f.size > buf.length) bad(`member ${f.name} declares ${f.originalSize} bytes from ${f.size}`);
        return true;
      },
    });
  } catch (e) {
    if (e instanceof LatentkitError) throw e;
    bad((e as Error).message);
  }
  const out: Record<string, Buffer> = {};
  const names = Object.keys(members);
  if (names.length === 0) bad('it holds no arrays');
  for (const member of names) {
    if (!member.endsWith('.npy')) bad(`member ${member} is not a .npy array`);
    const bytes = members[member];
    out[member.slice(0, -4)] = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  return out;
}

/** Whether the members are scipy.sparse.save_npz's (data, indices, indptr, shape and format). */
export function isSparseNpz(members: Record<string, Buffer>): boolean {
  return ['data', 'indices', 'indptr', 'shape', 'format'].every((k) => k in members);
}

/** scipy.sparse.save_npz's CSR matrix (format b'csr'; other formats are refused, naming .tocsr()). */
export function csrOfNpz(members: Record<string, Buffer>, name: string): CsrMatrix {
  const bad = (why: string): never => {
    throw new LatentkitError('LATENTKIT_BAD_DATA', `${name}: ${why}`);
  };
  const format = members.format.subarray(members.format.length - 3).toString('latin1');
  if (format !== 'csr') bad(`it holds a sparse matrix in format '${members.format.toString('latin1').replace(/[^a-z]/g, '').slice(-3)}'; save it as CSR (matrix.tocsr())`);
  const shape = parseNpyIntegers(members.shape, `${name} member shape.npy`);
  if (shape.length !== 2) bad(`its shape member holds ${shape.length} values, not (rows, cols)`);
  const indptr = parseNpyIntegers(members.indptr, `${name} member indptr.npy`);
  const indices = parseNpyIntegers(members.indices, `${name} member indices.npy`);
  const data = parseNpy(members.data, `${name} member data.npy`).data;
  if (indptr.length !== shape[0] + 1) bad(`its indptr has ${indptr.length} entries for ${shape[0]} rows`);
  return { indptr: BigInt64Array.from(indptr, (v) => BigInt(v)), indices: Int32Array.from(indices), data, rows: shape[0], cols: shape[1] };
}

export async function readNpz(file: string): Promise<Record<string, Matrix>> {
  return parseNpz(await readDataFile(file), file);
}

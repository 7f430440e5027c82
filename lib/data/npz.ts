// data/npz.ts — NumPy .npz archives (np.savez, np.savez_compressed): a zip of .npy members, unpacked with fflate
// (stored and deflated entries) and each member parsed by npy.ts. Members come back as float32 matrices by name
// ('x.npy' → 'x'). A member whose declared size is impossible for its compressed size (deflate expands at most
// 1032:1) is refused before anything is inflated, so a damaged or hostile header cannot ask for gigabytes.
import { unzipSync } from 'fflate';
import { LatentkitError } from '../errors';
import { Matrix } from '../matrix';
import { readDataFile } from './file';
import { parseNpy } from './npy';

const MAX_DEFLATE_RATIO = 1032;

export function parseNpz(buf: Buffer, name = 'the .npz data'): Record<string, Matrix> {
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
  const out: Record<string, Matrix> = {};
  const names = Object.keys(members);
  if (names.length === 0) bad('it holds no arrays');
  for (const member of names) {
    if (!member.endsWith('.npy')) bad(`member ${member} is not a .npy array`);
    const bytes = members[member];
    out[member.slice(0, -4)] = parseNpy(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), `${name} member ${member}`);
  }
  return out;
}

export async function readNpz(file: string): Promise<Record<string, Matrix>> {
  return parseNpz(await readDataFile(file), file);
}

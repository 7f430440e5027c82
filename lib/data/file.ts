// data/file.ts — reading a data file whole or through an open handle, with a failure (missing, unreadable, a folder) reported as
// LATENTKIT_BAD_DATA naming the file and what to do, rather than a raw ENOENT.
import * as fs from 'fs';
import { LatentkitError } from '../errors';

export async function readDataFile(file: string): Promise<Buffer> {
  try {
    return await fs.promises.readFile(file);
  } catch (e) {
    throw unreadable(file, e);
  }
}

/** Runs `use` on the open file and its size, then closes it; opening failures reported as readDataFile's. */
export async function withDataFile<T>(file: string, use: (fh: fs.promises.FileHandle, size: number) => Promise<T>): Promise<T> {
  let fh: fs.promises.FileHandle;
  let size: number;
  try {
    fh = await fs.promises.open(file, 'r');
  } catch (e) {
    throw unreadable(file, e);
  }
  try {
    const st = await fh.stat();
    if (st.isDirectory()) throw unreadable(file, Object.assign(new Error('EISDIR'), { code: 'EISDIR' }));
    size = st.size;
    return await use(fh, size);
  } finally {
    await fh.close();
  }
}

/** Bytes [position, position + length) of an open file (fewer at its end). */
export async function readAt(fh: fs.promises.FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === length ? buf : buf.subarray(0, done);
}

function unreadable(file: string, e: unknown): LatentkitError {
  const err = e as NodeJS.ErrnoException;
  const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'it is a folder' : err.code === 'EACCES' ? 'permission denied' : err.message;
  return new LatentkitError('LATENTKIT_BAD_DATA', `cannot read data file ${file}: ${why}`, { cause: e });
}

// data/file.ts — reading a data file whole, with a failure (missing, unreadable, a folder) reported as
// LATENTKIT_BAD_DATA naming the file and what to do, rather than a raw ENOENT.
import * as fs from 'fs';
import { LatentkitError } from '../errors';

export async function readDataFile(file: string): Promise<Buffer> {
  try {
    return await fs.promises.readFile(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'it is a folder' : err.code === 'EACCES' ? 'permission denied' : err.message;
    throw new LatentkitError('LATENTKIT_BAD_DATA', `cannot read data file ${file}: ${why}`, { cause: e });
  }
}

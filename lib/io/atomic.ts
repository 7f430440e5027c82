// atomic.ts — files are written to a temporary sibling `.<name>.<pid>.<random>.tmp`, flushed, then renamed over
// the target, so a crash or a full disk never leaves a half-written file under the real name. A process killed
// mid-write leaves its temporary behind: the first write of a process into a folder removes the temporaries there
// whose writer (the pid in the name) is no longer running.
import * as fs from 'fs';
import * as path from 'path';

const TEMPORARY = /^\..+\.(\d+)\.[a-z0-9]+\.tmp$/;
const cleaned = new Set<string>();

function running(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, another user's
  }
}

/** Removes the temporaries of writeFileAtomic in `dir` left by processes that are no longer running; returns them. */
export async function removeStaleTemporaries(dir: string): Promise<string[]> {
  const removed: string[] = [];
  let names: string[];
  try {
    names = await fs.promises.readdir(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = TEMPORARY.exec(name);
    if (!m || running(Number(m[1]))) continue;
    await fs.promises.rm(path.join(dir, name), { force: true });
    removed.push(name);
  }
  return removed;
}

export async function writeFileAtomic(file: string, data: Uint8Array | string): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  await fs.promises.mkdir(dir, { recursive: true });
  if (!cleaned.has(dir)) {
    cleaned.add(dir);
    await removeStaleTemporaries(dir);
  }
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  const handle = await fs.promises.open(tmp, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (e) {
    await handle.close().catch(() => undefined);
    await fs.promises.rm(tmp, { force: true });
    throw e;
  }
  await handle.close();
  try {
    await fs.promises.rename(tmp, file);
  } catch (e) {
    await fs.promises.rm(tmp, { force: true });
    throw e;
  }
}

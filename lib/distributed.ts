// distributed.ts — data-parallel training over MPI (native/distributed/communicator.h; the trainer splits each batch over
// the ranks and sums their gradients, native/train/trainer.h): the process group, the start-of-job check that every
// rank was given the same model, options and data shape, and the rule for a rank that cannot go on.
import { DataMatrix, RowSelection, selectRows } from './data/rows';
import { LatentkitError } from './errors';
import { native } from './native';

export interface ProcessGroup {
  rank: number;
  size: number;
}

let group: ProcessGroup | null | undefined;

/**
 * The process group of `distributed: true`: MPI_COMM_WORLD when an MPI launcher (mpirun, srun) started this
 * process; otherwise null and a warning, once — the fit then runs as one process (a job script run by hand still
 * works). Throws LATENTKIT_DISTRIBUTED, naming what to install, when MPI cannot be started.
 */
export function processGroup(): ProcessGroup | null {
  if (group !== undefined) return group;
  if (!native().distributed.launched()) {
    process.emitWarning('distributed: true, but no MPI launcher started this process (no OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK): ' +
      'training as one process. Start the job with mpirun -np N (or srun) to train on N processes.', { type: 'DistributedWarning', code: 'LATENTKIT_NOT_DISTRIBUTED' });
    group = null;
    return group;
  }
  group = native().distributed.init();
  // A rank that exits with an error ends the job (MPI_Abort) instead of waiting in MPI_Finalize for ranks that wait
  // for it; a clean exit finalises MPI (native, at exit).
  process.on('exit', (code) => {
    if (code !== 0) native().distributed.abort(Math.min(255, Math.max(1, code)));
  });
  return group;
}

/** Rows [start, end) of n rows that rank r of a group of `size` takes as its part: ⌊n r / size⌋ … ⌊n (r + 1) / size⌋. */
export function rankPart(n: number, g: ProcessGroup): { start: number; end: number } {
  return { start: Math.floor((n * g.rank) / g.size), end: Math.floor((n * (g.rank + 1)) / g.size) };
}

/** Rank r's shard of x, rows rankPart(x.rows) of it, as a selection (a mapped file is read only there). */
export function shardOf(x: DataMatrix, g: ProcessGroup): RowSelection {
  const { start, end } = rankPart(x.rows, g);
  return selectRows(x, Array.from({ length: end - start }, (_, i) => start + i));
}

/** Every rank's numbers (the same count on every rank), in rank order: a collective, on every rank at once. */
export async function gatherAcrossRanks(values: number[]): Promise<number[][]> {
  const all = await native().distributed.allGather(new Uint8Array(new Float64Array(values).buffer));
  return all.map((b) => Array.from(new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + 8 * values.length))));
}

/** The elementwise sums over the ranks (float64): a collective, on every rank at once. */
export async function sumAcrossRanks(values: number[]): Promise<number[]> {
  return Array.from(await native().distributed.allReduceSum(new Float64Array(values)));
}

/** The first key (dotted) at which two JSON-like values differ, with each side's value; undefined when equal. */
function firstDifference(a: unknown, b: unknown, at = ''): { key: string; mine: unknown; theirs: unknown } | undefined {
  if (JSON.stringify(a) === JSON.stringify(b)) return undefined;
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const x = a as Record<string, unknown>, y = b as Record<string, unknown>;
    for (const k of new Set([...Object.keys(x), ...Object.keys(y)])) {
      const d = firstDifference(x[k], y[k], at ? `${at}.${k}` : k);
      if (d) return d;
    }
  }
  return { key: at || 'the description', mine: a, theirs: b };
}

/**
 * Checks, on every rank at once, that every rank describes its job as rank 0 does (model options, fit options, data
 * sizes): else every rank throws LATENTKIT_DISTRIBUTED naming the first rank that differs and how. `what` says
 * what is checked ('fit').
 */
export async function agreeAcrossRanks(g: ProcessGroup, what: string, description: Record<string, unknown>): Promise<void> {
  const d = native().distributed;
  const mine = Buffer.from(JSON.stringify(description), 'utf8');
  const lengths = (await gatherAcrossRanks([mine.length])).map((v) => v[0]);
  const padded = Buffer.alloc(Math.max(...lengths));
  mine.copy(padded);
  const all = (await d.allGather(padded)).map((b, r) => JSON.parse(b.subarray(0, lengths[r]).toString('utf8')) as unknown);
  for (let r = 1; r < g.size; r++) {
    const diff = firstDifference(all[r], all[0]);
    if (diff)
      throw new LatentkitError('LATENTKIT_DISTRIBUTED', `distributed ${what}: rank ${r} differs from rank 0 in ${diff.key}: ` +
        `rank ${r} has ${JSON.stringify(diff.mine)}, rank 0 has ${JSON.stringify(diff.theirs)} (every rank must be given the same model, options and data sizes)`);
  }
}

/**
 * A rank that cannot go on while the others wait in a collective (an error of its own after training began): the
 * error is printed with the rank and the whole job ends with exit status 1 (MPI_Abort), rather than leaving the
 * other ranks waiting for ever.
 */
export function abortJob(g: ProcessGroup, e: unknown): never {
  process.stderr.write(`latentkit: rank ${g.rank} of ${g.size} cannot go on (${(e as Error)?.message ?? String(e)}); ending the job\n`);
  native().distributed.abort(1);
  throw e; // not reached: MPI_Abort ends the process
}

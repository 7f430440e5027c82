// models/classical.ts — what the classical models (GaussianMixture, PCA, PPCA, FactorAnalysis) share: float64
// parameter tensors, data checks (data in any form of data/rows.ts), the not-fitted error, ConvergenceWarning, and their safetensors checkpoints
// (float64 tensors; metadata format=latentkit, kind=<model>, options as JSON).
import { LatentkitError } from '../errors';
import { loadSafetensors, saveSafetensors } from '../io/safetensors';
import { Rows, toRows } from '../data/rows';
import { Matrix, MatrixLike, toMatrix } from '../matrix';
import { LatentkitError as Err, withCallerStack } from '../errors';
import type { NativeJob, NativeProgress } from '../native';
import { storedThreads } from '../threads';
import { abortJob, agreeAcrossRanks, processGroup } from '../distributed';
import { boolean, fail, failReceived, knownKeys, plainObject } from '../validate';
import { VERSION } from '../version';

/** A float64 tensor, row-major. */
export interface Tensor64 {
  data: Float64Array;
  shape: number[];
}

export function tensor64(data: Float64Array, shape: number[]): Tensor64 {
  return { data, shape };
}

/** A float32 matrix (latent codes), checked (finite values, the expected width). */
export function dataMatrix(name: string, x: unknown, cols?: number, minRows = 1): Matrix {
  const m = toMatrix(name, x as MatrixLike, { cols, allowEmpty: minRows === 0 });
  if (m.rows < minRows) failReceived(name, `at least ${minRows} rows`, `${m.rows} rows`);
  return m;
}

/**
 * The training or scoring data in any form (data/rows.ts: dense, bytes, CSR, a mapped file, a row selection),
 * checked: the expected width, at least `minRows` rows, finite values (a mapped file's natively, as they are read).
 */
export function dataRows(name: string, x: unknown, cols?: number, minRows = 1): Rows {
  const r = toRows(name, x, { cols, allowEmpty: minRows === 0 });
  if (r.rows < minRows) failReceived(name, `at least ${minRows} rows`, `${r.rows} rows`);
  return r;
}

/** A user parameter given as a (nested) number array or typed array, flattened to float64 of length `length`. */
export function flatFloat64(name: string, v: unknown, length: number, what: string): Float64Array {
  const out: number[] = [];
  const walk = (x: unknown): void => {
    if (typeof x === 'number') out.push(x);
    else if (Array.isArray(x)) x.forEach(walk);
    else if (ArrayBuffer.isView(x) && !(x instanceof DataView)) Array.from(x as unknown as ArrayLike<number>).forEach((n) => out.push(Number(n)));
    else if (x && typeof x === 'object' && 'data' in x) walk((x as { data: unknown }).data);
    else fail(name, what, x, 'type');
  };
  walk(v);
  if (out.length !== length) failReceived(name, `${what} (${length} numbers)`, `${out.length} numbers`);
  if (!out.every(Number.isFinite)) fail(name, `${what} with finite values`, v);
  return Float64Array.from(out);
}

export function notFitted(model: string, method: string): never {
  throw new LatentkitError('LATENTKIT_NOT_FITTED', `${model}.${method}: the model is not fitted yet; call fit(x) first (or load a saved model)`);
}

/** Node's warning channel, type ConvergenceWarning (listen with process.on('warning')). */
export function convergenceWarning(message: string): void {
  process.emitWarning(message, { type: 'ConvergenceWarning', code: 'LATENTKIT_CONVERGENCE' });
}

export async function saveModel(file: string, kind: string, options: object, tensors: Record<string, Tensor64>, extra: Record<string, unknown>): Promise<void> {
  if (typeof file !== 'string' || file === '') fail('path', 'a file path', file, 'type');
  await saveSafetensors(file, Object.entries(tensors).map(([name, t]) => ({ name, shape: t.shape, data: t.data })),
    { format: 'latentkit', kind, version: VERSION, options: JSON.stringify(options), state: JSON.stringify(extra) });
}

export function badCheckpoint(file: string, kind: string, why: string): never {
  throw new LatentkitError('LATENTKIT_BAD_CHECKPOINT', `${file} is not a latentkit ${kind} checkpoint: ${why}`);
}

/**
 * Reads a classical model's checkpoint: its options (built into the model by `construct`, whose option errors
 * become LATENTKIT_BAD_CHECKPOINT), its state and exactly the tensors `dimsOf(model)` names, each with that number of
 * dimensions and finite values. The caller checks sizes and values against the options with `bad`.
 */
export async function loadModel<T>(file: string, kind: string, construct: (options: Record<string, unknown>) => T,
  dimsOf: (model: T) => Record<string, number>): Promise<{
  model: T; state: Record<string, unknown>; tensors: Record<string, Tensor64>; bad: (why: string) => never;
}> {
  if (typeof file !== 'string' || file === '') fail('path', 'a file path', file, 'type');
  const f = await loadSafetensors(file);
  const bad = (why: string): never => badCheckpoint(file, kind, why);
  if (f.metadata.format !== 'latentkit' || f.metadata.kind !== kind) bad(`its metadata says format=${f.metadata.format}, kind=${f.metadata.kind}`);
  let options: unknown = {};
  let state: unknown = {};
  try {
    options = JSON.parse(f.metadata.options ?? '{}');
    state = JSON.parse(f.metadata.state ?? '{}');
  } catch {
    bad('its options or state metadata is not JSON');
  }
  if (!options || typeof options !== 'object' || Array.isArray(options)) bad('its options metadata is not an object');
  if (!state || typeof state !== 'object' || Array.isArray(state)) bad('its state metadata is not an object');
  let model: T;
  try {
    const stored = options as Record<string, unknown>;
    model = construct({ ...stored, ...(stored.threads !== undefined ? { threads: storedThreads(stored.threads) } : {}) });
  } catch (e) {
    return bad(`its options are invalid (${(e as Error).message})`);
  }
  const tensors: Record<string, Tensor64> = {};
  const dims = dimsOf(model);
  for (const [name, ndim] of Object.entries(dims)) {
    const t = f.tensors.get(name);
    if (!t) return bad(`tensor ${name} is missing`);
    if (t.shape.length !== ndim) bad(`tensor ${name} has shape [${t.shape}] where ${ndim} dimensions are needed`);
    const data = t.data.BYTES_PER_ELEMENT === 8 ? (t.data as Float64Array) : Float64Array.from(t.data);
    if (!data.every(Number.isFinite)) bad(`tensor ${name} has non-finite values`);
    tensors[name] = { data, shape: t.shape };
  }
  const extra = [...f.tensors.keys()].filter((n) => !(n in dims));
  if (extra.length > 0) bad(`it has tensors the model does not: ${extra.join(', ')}`);
  return { model, state: state as Record<string, unknown>, tensors, bad };
}

/** The kind recorded in a latentkit checkpoint (for `latentkit score` to pick the class). */
export async function checkpointKind(file: string): Promise<string> {
  return (await loadSafetensors(file)).metadata.kind ?? 'unknown';
}

/** One report of an iterative fit: the initialisation (0-based), the EM iteration (1-based) and its mean log-likelihood per row (a GMM's lower bound). */
export interface FitProgress {
  init: number;
  iteration: number;
  logLikelihood: number;
}

/** What every classical fit takes beside the data: an AbortSignal, and a per-iteration progress callback (at most every 50 ms). */
export interface FitOptions {
  signal?: AbortSignal;
  progress?: (p: FitProgress) => void;
  /**
   * Under mpirun: x is this rank's shard of the rows (the shards in rank order make the set) and the fit is the
   * whole set's, its sums reduced over the ranks at every iteration; every rank gets the same parameters. Every rank
   * passes the same options (checked: a difference names the rank and the option); GaussianMixture needs init
   * 'random'. An error on any rank ends the job (exit status 1). Outside an MPI launcher: one process, with a warning.
   */
  distributed?: boolean;
}

/**
 * Runs a native fit under its options: the signal cancels the job (rejecting with LATENTKIT_CANCELLED, the model left
 * as it was), progress reports arrive on the event loop, and a native error gets the caller's stack. With
 * distributed: true under mpirun, `describe` (the model's options and the data's width) is checked against rank 0's
 * first, `start` is told to reduce over the ranks, and an error ends the job (the other ranks would wait for ever).
 */
export async function runFit<T>(model: string, options: unknown, start: (onProgress?: NativeProgress, distributed?: boolean) => NativeJob<T>,
  describe: Record<string, unknown> = {}): Promise<T> {
  const o = plainObject('fitOptions', options ?? {});
  knownKeys('fitOptions', o, ['signal', 'progress', 'distributed']);
  const group = boolean('distributed', o.distributed ?? false) ? processGroup() : null;
  if (group) await agreeAcrossRanks(group, `${model}.fit`, describe);
  const signal = o.signal as AbortSignal | undefined;
  if (signal !== undefined && (typeof signal !== 'object' || signal === null || typeof signal.aborted !== 'boolean')) fail('signal', 'an AbortSignal', signal, 'type');
  const progress = o.progress as FitOptions['progress'];
  if (progress !== undefined && typeof progress !== 'function') fail('progress', 'a function', progress, 'type');
  const cancelled = () => new Err('LATENTKIT_CANCELLED', `${model}.fit was cancelled by its AbortSignal`);
  if (signal?.aborted) throw cancelled();
  const job = start(progress && ((init, iteration, logLikelihood) => progress({ init, iteration, logLikelihood })), Boolean(group));
  const onAbort = () => job.cancel();
  signal?.addEventListener('abort', onAbort);
  try {
    return await withCallerStack(() => job);
  } catch (e) {
    if (group) abortJob(group, e);
    throw (e as LatentkitError).code === 'LATENTKIT_CANCELLED' && signal?.aborted ? cancelled() : e;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

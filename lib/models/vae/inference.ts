// models/vae/inference.ts — encode, decode, reconstruct, the decoder's scales (and sampling.ts's draws) written once
// for both call styles. Each is an *operation*: a generator that checks its arguments, yields the native encode and
// decode calls it needs, and returns its result. `inline` makes each call synchronously (the JS thread waits for it:
// Vae.encode, decode, …); `asJob` makes each an async job on the compute thread, so the event loop runs on meanwhile
// (Vae.encodeAsync, decodeAsync, …). Shapes: x (rows, inputDim), z / mean / logVar (rows, latentDim), decoded means
// and scales (rows, inputDim), condition (rows or 1, conditionDim).
import { DataInput, Rows, rowSums } from '../../data/rows';
import { withCallerStack } from '../../errors';
import { Matrix, MatrixLike, matrix, toMatrix } from '../../matrix';
import { native, NativePrecision } from '../../native';
import { inferencePrecision, InferenceOptions } from '../../precision';
import { LIKELIHOOD } from './likelihoods';
import { conditionOf, inputOf, nativeOf, Vae } from './model';

export type Encoded = { mean: Matrix; logVar: Matrix };
export type Decoded = { mean: Matrix; aux: Matrix | null };
/** One native call an operation needs. */
export type NativeCall =
  | { kind: 'encode'; x: Rows; condition?: Matrix; precision: NativePrecision }
  | { kind: 'decode'; z: Matrix; condition?: Matrix; precision: NativePrecision; withAux: boolean };
export type Operation<T> = Generator<NativeCall, T, Encoded | Decoded>;

/** The native encode of checked inputs, as a step of an operation (`yield*` it). */
export function* encodeCall(x: Rows, condition: Matrix | undefined, precision: NativePrecision): Operation<Encoded> {
  return (yield { kind: 'encode', x, condition, precision }) as Encoded;
}

/** The native decode of checked inputs (with the log-scale / dropout logits when withAux), as a step of an operation. */
export function* decodeCall(z: Matrix, condition: Matrix | undefined, precision: NativePrecision, withAux = false): Operation<Decoded> {
  return (yield { kind: 'decode', z, condition, precision, withAux }) as Decoded;
}

/** Runs an operation with each native call synchronous. */
export function inline<T>(vae: Vae, op: Operation<T>): T {
  const nat = nativeOf(vae);
  for (let r = op.next(); ; ) {
    if (r.done) return r.value;
    const call = r.value;
    if (call.kind === 'encode') {
      const out = { mean: matrix(call.x.rows, vae.latentDim), logVar: matrix(call.x.rows, vae.latentDim) };
      nat.encode(call.x.native, call.x.rows, out.mean.data, out.logVar.data, call.condition?.data ?? null, call.precision);
      r = op.next(out);
    } else {
      const out = { mean: matrix(call.z.rows, vae.inputDim), aux: call.withAux ? matrix(call.z.rows, vae.inputDim) : null };
      nat.decode(call.z.data, call.z.rows, out.mean.data, out.aux?.data ?? null, call.condition?.data ?? null, call.precision);
      r = op.next(out);
    }
  }
}

/**
 * A job copies its input on the JS thread (a transferred buffer would be freed under it), and copying into fresh
 * memory costs page faults: 125 MB took ~370 ms on the 2-core VM of the README's figures. So an async call whose
 * in-memory float32 input is larger than this is split into jobs of at most this much (at multiples of the native
 * pass, so the bits do not change), and the event loop runs between them. (A mapped input is not copied; bytes and
 * CSR are a quarter or less of float32.)
 */
export const JOB_INPUT_BYTES = 16 << 20;

/** Runs an operation with each native call async jobs on the compute thread (see JOB_INPUT_BYTES). */
export async function asJob<T>(vae: Vae, op: Operation<T>): Promise<T> {
  for (let r = op.next(); ; ) {
    if (r.done) return r.value;
    const call = r.value;
    const input = call.kind === 'encode' ? call.x.dense : call.z;
    if (!input) {
      r = op.next(await callJob(vae, call));
      continue;
    }
    const pass = native().info().inferenceRows;
    const step = pass * Math.max(1, Math.floor(JOB_INPUT_BYTES / (4 * Math.max(1, input.cols) * pass)));
    const parts: Array<Encoded | Decoded> = [];
    for (let r0 = 0; r0 < input.rows || r0 === 0; r0 += step) {
      const rows = Math.min(step, input.rows - r0);
      parts.push(await callJob(vae, { ...call, ...(call.kind === 'encode' ? { x: Rows.ofMatrix(rowSlice(input, r0, rows)) } : { z: rowSlice(call.z, r0, rows) }),
        condition: call.condition && rowSlice(call.condition, r0, rows) } as NativeCall));
    }
    r = op.next(parts.length === 1 ? parts[0] : call.kind === 'encode'
      ? { mean: concatRows(parts.map((p) => p.mean)), logVar: concatRows(parts.map((p) => (p as Encoded).logVar)) }
      : { mean: concatRows(parts.map((p) => p.mean)), aux: call.withAux ? concatRows(parts.map((p) => (p as Decoded).aux!)) : null });
  }
}

async function callJob(vae: Vae, call: NativeCall): Promise<Encoded | Decoded> {
  const nat = nativeOf(vae);
  const rows = (data: Float32Array, cols: number): Matrix => ({ data, rows: data.length / cols, cols });
  if (call.kind === 'encode') {
    const out = await withCallerStack(() => nat.encodeAsync(call.x.native, call.x.rows, call.condition?.data ?? null, call.precision));
    return { mean: rows(out.mean, vae.latentDim), logVar: rows(out.logVar, vae.latentDim) };
  }
  const out = await withCallerStack(() => nat.decodeAsync(call.z.data, call.z.rows, call.condition?.data ?? null, call.precision, call.withAux));
  return { mean: rows(out.mean, vae.inputDim), aux: out.aux && rows(out.aux, vae.inputDim) };
}

function rowSlice(m: Matrix, r0: number, rows: number): Matrix {
  return r0 === 0 && rows === m.rows ? m : { data: m.data.subarray(r0 * m.cols, (r0 + rows) * m.cols), rows, cols: m.cols };
}

function concatRows(parts: Matrix[]): Matrix {
  const out = matrix(parts.reduce((a, p) => a + p.rows, 0), parts[0].cols);
  let at = 0;
  for (const p of parts) {
    out.data.set(p.data, at);
    at += p.data.length;
  }
  return out;
}

/** q(z | x[, c]): see Vae.encode. */
export function* encodeOp(vae: Vae, x: DataInput, condition: MatrixLike | null | undefined, options: InferenceOptions | undefined): Operation<Encoded> {
  const m = inputOf(vae, 'x', x, true);
  const c = conditionOf(vae, condition, m.rows);
  return yield* encodeCall(m, c, inferencePrecision(options));
}

/** E[x | z[, c]]: see Vae.decode. */
export function* decodeOp(vae: Vae, z: MatrixLike, condition: MatrixLike | null | undefined, options: InferenceOptions | undefined): Operation<Matrix> {
  const m = toMatrix('z', z, { cols: vae.latentDim, allowEmpty: true });
  const c = conditionOf(vae, condition, m.rows);
  return (yield* decodeCall(m, c, inferencePrecision(options))).mean;
}

/** decode(encode(x).mean), scaled by each row's library size for counts: see Vae.reconstruct. */
export function* reconstructOp(vae: Vae, x: DataInput, condition: MatrixLike | null | undefined, options: InferenceOptions | undefined): Operation<Matrix> {
  const m = inputOf(vae, 'x', x, true);
  const c = conditionOf(vae, condition, m.rows);
  const precision = inferencePrecision(options);
  const out = (yield* decodeCall((yield* encodeCall(m, c, precision)).mean, c, precision)).mean;
  if (vae.options.library === 'observed') {
    const D = vae.inputDim;
    const library = rowSums(m);
    for (let r = 0; r < m.rows; r++)
      for (let d = 0; d < D; d++) out.data[r * D + d] *= Math.max(1, library[r]);
  }
  return out;
}

/** The decoder's per-element scale or dropout probability at z: see Vae.decodeScale. */
export function* decodeScaleOp(vae: Vae, z: MatrixLike, condition: MatrixLike | null | undefined, options: InferenceOptions | undefined): Operation<{ scale?: Matrix; dropout?: Matrix }> {
  const m = toMatrix('z', z, { cols: vae.latentDim, allowEmpty: true });
  const c = conditionOf(vae, condition, m.rows);
  const aux = (yield* decodeCall(m, c, inferencePrecision(options), true)).aux!;
  const likelihood = vae.options.likelihood;
  if (LIKELIHOOD[likelihood].family === 'location-scale') {
    const half = likelihood === 'gaussian' ? 0.5 : 1;
    return { scale: { data: aux.data.map((v) => Math.exp(half * v)), rows: m.rows, cols: vae.inputDim } };
  }
  if (likelihood === 'zinb') return { dropout: { data: aux.data.map((v) => 1 / (1 + Math.exp(-v))), rows: m.rows, cols: vae.inputDim } };
  return {};
}

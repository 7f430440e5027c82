// models/vae/model.ts — the user-facing Vae: structure fixed at construction (options.ts), parameters natively in
// one flat buffer (parameters() copies it out), encode / decode / reconstruct / sample and their async twins (written
// once as operations in inference.ts), the decoder's scales, save / load and ONNX export. Training (train/fit.ts),
// evaluation (eval/vae.ts), sampling (sampling.ts) and the latent-space tools (latent.ts) are modules of their own,
// reached through the methods below; the helpers at the end are what they share with this class (the native handle, input and condition checks, the evaluation job). Shapes: x (rows,
// inputDim), z / mean / logVar (rows, latentDim), condition (rows or 1, conditionDim).
import * as path from 'path';
import { LatentkitError, withCallerStack } from '../../errors';
import { activeUnits, anomalyScore, ElboResult, elbo, klPerDimension, logLikelihood, mutualInformation } from '../../eval/vae';
import { writeFileAtomic } from '../../io/atomic';
import { loadSafetensors, NamedTensor, SafetensorsFile, saveSafetensors } from '../../io/safetensors';
import { DataInput, Rows, toRows } from '../../data/rows';
import { Matrix, MatrixLike, takeRows, toMatrix } from '../../matrix';
import { native, NativePrecision, NativeTensorInfo, NativeVae } from '../../native';
import { InferenceOptions, Precision } from '../../precision';
import { decoderOnnx, encoderOnnx } from '../../onnx/export';
import { RngPurpose, rngStream } from '../../rng';
import { fitVae, FitOptions, History } from '../../train/fit';
import { boolean, fail, failReceived, integer, knownKeys, oneOf, plainObject } from '../../validate';
import { storedThreads, threadsOption } from '../../threads';
import { VERSION } from '../../version';
import { CovarianceType, GaussianMixture } from '../mixture';
import { impute, interpolate, traverse } from './latent';
import { LIKELIHOOD } from './likelihoods';
import { architectureOf, checkLikelihoodSupport, nativeVaeConfig, ResolvedVaeOptions, resolveVaeOptions, VaeOptions } from './options';
import { asJob, decodeOp, decodeScaleOp, encodeOp, inline, reconstructOp } from './inference';
import { fitLatentMixture, priorMixture, priorSampleOf, sampleOp, SampleOptions } from './sampling';

export class Vae {
  readonly options: ResolvedVaeOptions;

  constructor(options: VaeOptions) {
    this.options = resolveVaeOptions(options);
    const o = this.options;
    const handle = new (native().VaeNative)(nativeVaeConfig(o));
    internals.set(this, { native: handle, fitting: false });
    handle.initParams(o.seed);
    handle.setThreads(o.threads);
  }

  get inputDim(): number {
    return this.options.inputDim;
  }

  get latentDim(): number {
    return this.options.latentDim;
  }

  get numParams(): number {
    return nativeOf(this).numParams();
  }

  /**
   * The decoder's scale — Gaussian σ or Laplace b, learned or fixed (for sigma: 'feature' the first feature's) —
   * or undefined (other likelihoods, and sigma: 'decoder', whose scale depends on z: see decodeScale).
   */
  get sigma(): number | undefined {
    return this.sigmas()?.[0];
  }

  /** The decoder's scale (σ or b) for each input feature (inputDim values); undefined as for `sigma`. */
  sigmas(): Float32Array | undefined {
    if (LIKELIHOOD[this.options.likelihood].family !== 'location-scale' || this.options.sigma === 'decoder') return undefined;
    const ls = nativeOf(this).decoderLogScale() as Float32Array;
    const half = this.options.likelihood === 'gaussian' ? 0.5 : 1; // log σ² or log b
    return Float32Array.from({ length: this.inputDim }, (_, d) => Math.exp(half * ls[ls.length === 1 ? 0 : d]));
  }

  /** The negative binomial's learned inverse dispersion θ per feature (Var x = μ + μ²/θ); undefined for other likelihoods. */
  dispersion(): Float32Array | undefined {
    if (this.options.likelihood !== 'nb' && this.options.likelihood !== 'zinb') return undefined;
    return (nativeOf(this).decoderLogScale() as Float32Array).map(Math.exp);
  }

  /**
   * The decoder's per-element noise parameters at z: `scale` (σ or b, for Gaussian and Laplace) or `dropout`
   * (ZINB's zero-inflation probability π). Empty for the other likelihoods.
   */
  decodeScale(z: MatrixLike, condition?: MatrixLike | null, options?: InferenceOptions): { scale?: Matrix; dropout?: Matrix } {
    return inline(this, decodeScaleOp(this, z, condition, options));
  }

  /** A copy of all parameters: one flat buffer and a named view of each tensor (weights stored (in, out)). */
  parameters(): { flat: Float32Array; tensors: NamedTensor[] } {
    const flat = new Float32Array(nativeOf(this).numParams());
    nativeOf(this).getParams(flat);
    const tensors = nativeOf(this).tensors().map((t) => ({
      name: t.name,
      shape: t.shape,
      data: flat.subarray(t.offset, t.offset + t.shape.reduce((a, b) => a * b, 1)),
    }));
    return { flat, tensors };
  }

  /** Replaces all parameters from a flat buffer laid out as parameters().flat. */
  setParameters(flat: Float32Array): void {
    requireIdle(this, 'set parameters');
    nativeOf(this).setParams(flat);
  }

  /** Trains the model in place (train/fit.ts: epochs, objective, validation, aggressive phase, callbacks, cancellation). */
  fit(x: DataInput, options: FitOptions = {}): Promise<History> {
    return fitVae(this, x, options);
  }

  /**
   * Posterior parameters q(z | x[, c]) = N(mean, diag exp(logVar)); options.precision 'fp32' (default) | 'bf16' |
   * 'auto'. Synchronous: the JS thread waits (encodeAsync does not).
   */
  encode(x: DataInput, condition?: MatrixLike | null, options?: InferenceOptions): { mean: Matrix; logVar: Matrix } {
    return inline(this, encodeOp(this, x, condition, options));
  }

  /**
   * The decoder's mean E[x | z] for each z: probabilities for Bernoulli, the mean for Gaussian and Laplace; for the
   * count likelihoods the mean at library size 1 ((1 − π) · exp(head) for ZINB), so with library: 'observed' the
   * mean for a row of library size l is l times it (reconstruct does this). Synchronous (decodeAsync is not).
   */
  decode(z: MatrixLike, condition?: MatrixLike | null, options?: InferenceOptions): Matrix {
    return inline(this, decodeOp(this, z, condition, options));
  }

  /** decode(encode(x).mean): the decoded mean at the posterior mean (scaled by each row's library size for counts). */
  reconstruct(x: DataInput, condition?: MatrixLike | null, options?: InferenceOptions): Matrix {
    return inline(this, reconstructOp(this, x, condition, options));
  }

  /**
   * encode, decode, reconstruct and sample as async jobs on the compute pool: the same results, bit for bit, while
   * the event loop runs on (the synchronous calls hold the JS thread for their whole duration, about 0.1 ms per row
   * of the 784-400-20 model at one thread). Many may run at once on a model, and beside its synchronous calls; a
   * training epoch of the model refuses them (LATENTKIT_BUSY), and they wait in the compute pool's queue like any job.
   */
  encodeAsync(x: DataInput, condition?: MatrixLike | null, options?: InferenceOptions): Promise<{ mean: Matrix; logVar: Matrix }> {
    return asJob(this, encodeOp(this, x, condition, options));
  }

  decodeAsync(z: MatrixLike, condition?: MatrixLike | null, options?: InferenceOptions): Promise<Matrix> {
    return asJob(this, decodeOp(this, z, condition, options));
  }

  reconstructAsync(x: DataInput, condition?: MatrixLike | null, options?: InferenceOptions): Promise<Matrix> {
    return asJob(this, reconstructOp(this, x, condition, options));
  }

  sampleAsync(n: number, options: SampleOptions = {}): Promise<Matrix> {
    return asJob(this, sampleOp(this, n, options));
  }

  /**
   * n draws from the model. mode 'mean' decodes z ~ N(0, I) to the decoder's mean (smooth images); 'ancestral' also
   * samples x ~ p(x | z) (binary pixels for Bernoulli, mean + scale·noise for Gaussian and Laplace, integer counts
   * for Poisson / NB / ZINB at library size `library`, default 1); 'aggregate' draws z from the
   * aggregated posterior instead of the prior — from q(z | x_n) of random rows of `data`, or from `latentMixture`
   * (a GaussianMixture fitted to the posterior means, see fitLatentMixture) — and decodes the mean.
   */
  sample(n: number, options: SampleOptions = {}): Matrix {
    return inline(this, sampleOp(this, n, options));
  }

  /** A GaussianMixture fitted to the posterior means of x: a model of the aggregated posterior for sample(). */
  fitLatentMixture(x: DataInput, options: { nComponents?: number; covarianceType?: CovarianceType; seed?: number; condition?: MatrixLike } = {}): Promise<GaussianMixture> {
    return fitLatentMixture(this, x, options);
  }

  /**
   * Per-example ELBO terms with `samples` draws of z. kl 'analytic' (default) uses the closed-form KL; 'mc' the
   * Monte-Carlo estimate log q(z | x) − log p(z) at the same draws (then the k = 1 logLikelihood equals the ELBO).
   */
  elbo(x: DataInput, options: { samples?: number; seed?: number; binarize?: boolean; kl?: 'analytic' | 'mc'; condition?: MatrixLike; precision?: Precision } = {}): Promise<ElboResult> {
    return elbo(this, x, options);
  }

  /**
   * The importance-sampled log-likelihood per example, log (1/k) Σ_j p(x | z_j) p(z_j) / q(z_j | x) with
   * z_j ~ q(z | x) (Burda et al. 2016): a lower bound on log p(x) in expectation that tightens as k grows.
   * Runs natively in chunks of about 2048 decoder rows, so memory stays bounded for any k.
   */
  logLikelihood(x: DataInput, options: { k?: number; seed?: number; binarize?: boolean; condition?: MatrixLike; precision?: Precision } = {}): Promise<Float32Array> {
    return logLikelihood(this, x, options);
  }

  /** Per-row anomaly score: the negative ELBO (method 'elbo', `samples` draws) or negative IS log-likelihood ('iw', k). */
  anomalyScore(x: DataInput, options: { method?: 'elbo' | 'iw'; k?: number; samples?: number; seed?: number; binarize?: boolean; condition?: MatrixLike; precision?: Precision } = {}): Promise<Float32Array> {
    return anomalyScore(this, x, options);
  }

  /**
   * Active units (Burda et al. 2016, §5.2): dimension u is active when A_u = Var_x(E_q[z_u | x]) > threshold.
   * perDimension holds A_u.
   */
  activeUnits(x: DataInput, options: { threshold?: number; condition?: MatrixLike } = {}): { count: number; perDimension: Float64Array } {
    return activeUnits(this, x, options);
  }

  /**
   * The learned mixture prior (prior: { mixture: C }): weights (C), means and variances (C × latentDim, row-major);
   * undefined for the normal prior.
   */
  priorMixture(): { weights: Float64Array; means: Float32Array; variances: Float32Array } | undefined {
    return priorMixture(this);
  }

  /** n draws z ~ p(z) from `seed`: N(0, I), or the mixture prior (component by its weight, then its Gaussian). */
  priorSample(n: number, seed = 0): Matrix {
    return priorSampleOf(this, n, seed);
  }

  /** The mean over x of KL(q(z_d | x) || N(0, 1)) for each latent dimension d (nats); normal prior only. */
  klPerDimension(x: DataInput, options: { condition?: MatrixLike } = {}): Float64Array {
    return klPerDimension(this, x, options);
  }

  /**
   * The mutual information I_q(x; z) under q(x, z) = p_data(x) q(z | x) (He et al. 2019, after Hoffman & Johnson
   * 2016): E_x E_q[log q(z | x)] − E_q[log q(z)], with q(z) the aggregated posterior over the rows of x (at most
   * maxRows, a seeded random subset), log q(z) = log (1/N) Σ_n q(z | x_n) evaluated natively as an N-component
   * diagonal Gaussian mixture. Bounded above by log N.
   */
  mutualInformation(x: DataInput, options: { seed?: number; maxRows?: number; condition?: MatrixLike } = {}): number {
    return mutualInformation(this, x, options);
  }

  /**
   * `steps` decoded means along the path between the posterior means of xa and xb (one row each); a conditional
   * model encodes and decodes the whole path under one `condition` row.
   */
  interpolate(xa: MatrixLike, xb: MatrixLike, options: { steps?: number; path?: 'linear' | 'spherical'; condition?: MatrixLike } = {}): Matrix {
    return interpolate(this, xa, xb, options);
  }

  /**
   * Latent traversal: for each row of x, `steps` decodes of its posterior mean with dimension `dim` set to values
   * evenly spaced over `range` (default [−3, 3]). Returns (rows × steps, inputDim), row-major by input row.
   */
  traverse(x: MatrixLike, options: { dim: number; range?: [number, number]; steps?: number; condition?: MatrixLike }): Matrix {
    return traverse(this, x, options);
  }

  /**
   * Fills the entries of x where `missing` is non-zero: starting from the column means of the observed entries,
   * `iterations` times x_missing ← decode(encode(x).mean)_missing (observed entries stay as given).
   */
  impute(x: MatrixLike, missing: MatrixLike, options: { iterations?: number; condition?: MatrixLike } = {}): Matrix {
    return impute(this, x, missing, options);
  }

  /**
   * Writes the model (options, version and every tensor) as safetensors, atomically; `epoch` (optional) is recorded
   * in its metadata (the epoch a run folder's checkpoint holds). Refused while an epoch or evaluation runs.
   */
  async save(file: string, info: { epoch?: number } = {}): Promise<void> {
    if (typeof file !== 'string' || file === '') fail('path', 'a file path', file, 'type');
    const o = plainObject('saveOptions', info);
    knownKeys('saveOptions', o, ['epoch']);
    const epoch: Record<string, string> = o.epoch === undefined ? {} : { epoch: String(integer('epoch', o.epoch, 0)) };
    await saveSafetensors(file, this.parameters().tensors, { ...modelMetadata(this), ...epoch });
  }

  async exportOnnx(dir: string, options: { parts?: Array<'decoder' | 'encoder'> } = {}): Promise<string[]> {
    if (typeof dir !== 'string' || dir === '') fail('dir', 'a directory path', dir, 'type');
    const o = plainObject('exportOptions', options);
    knownKeys('exportOptions', o, ['parts']);
    const parts = o.parts ?? ['decoder', 'encoder'];
    if (!Array.isArray(parts) || parts.length === 0) fail('parts', "a non-empty array of 'decoder' | 'encoder'", parts, 'type');
    const { tensors } = this.parameters();
    const written: string[] = [];
    for (const part of parts) {
      oneOf('parts[]', part, ['decoder', 'encoder'] as const);
      const file = path.join(dir, `${part}.onnx`);
      const network = architectureOf(this.options);
      await writeFileAtomic(file, part === 'decoder' ? decoderOnnx(this.options, network, tensors) : encoderOnnx(this.options, network, tensors));
      written.push(file);
    }
    return written;
  }

  /**
   * Reads a checkpoint written by save(). Every header field and tensor is checked — options as strictly as the
   * constructor's, each tensor's name, shape and finite values against the parameter layout those options give —
   * before the model is allocated; anything wrong is a LATENTKIT_BAD_CHECKPOINT that says what. `threads`
   * (optional) replaces the thread count the checkpoint was saved with.
   */
  static async load(file: string, loadOptions: { threads?: number } = {}): Promise<Vae> {
    if (typeof file !== 'string' || file === '') fail('path', 'a file path', file, 'type');
    const lo = plainObject('loadOptions', loadOptions);
    knownKeys('loadOptions', lo, ['threads']);
    const threads = lo.threads === undefined ? undefined : threadsOption(lo.threads);
    const f = await loadSafetensors(file);
    const bad = (why: string): never => {
      throw new LatentkitError('LATENTKIT_BAD_CHECKPOINT', `${file} is not a latentkit VAE checkpoint: ${why}`);
    };
    if (f.metadata.format !== 'latentkit' || f.metadata.kind !== 'vae') bad('its metadata does not say format=latentkit, kind=vae');
    let options: ResolvedVaeOptions;
    let layout: { numParams: number; tensors: NativeTensorInfo[] };
    try {
      const stored = JSON.parse(f.metadata.options) as VaeOptions;
      options = resolveVaeOptions({ ...stored, threads: storedThreads(stored.threads) as number });
      if (threads !== undefined) options = { ...options, threads };
      layout = native().VaeNative.layout(nativeVaeConfig(options));
    } catch (e) {
      return bad(`its options are invalid (${(e as Error).message})`);
    }
    const flat = storedParameters(f, layout, bad);
    const vae = new Vae(options);
    vae.setParameters(flat);
    return vae;
  }

}

// --- what the Vae's modules share --------------------------------------------------------------------------------

interface VaeInternals {
  native: NativeVae;
  fitting: boolean; // between fit's start and its end (also between epochs)
}
const internals = new WeakMap<Vae, VaeInternals>();

export function stateOf(vae: Vae): VaeInternals {
  return internals.get(vae)!;
}
export function nativeOf(vae: Vae): NativeVae {
  return internals.get(vae)!.native;
}

/** The metadata of a VAE file: what Vae.load needs to rebuild the model. */
export function modelMetadata(vae: Vae): Record<string, string> {
  return { format: 'latentkit', kind: 'vae', version: VERSION, options: JSON.stringify(vae.options) };
}

/** Tensors beside the parameters in a training checkpoint (train/checkpoint.ts); Vae.load passes over them. */
export const TRAINING_TENSOR_PREFIX = 'trainer.';

/**
 * A file's parameters as one flat buffer in the layout's order, each tensor checked (present, its shape, finite
 * values) and nothing else there but training tensors; `bad` says why it is refused.
 */
export function storedParameters(f: SafetensorsFile, layout: { numParams: number; tensors: NativeTensorInfo[] }, bad: (why: string) => never): Float32Array {
  // Every check before the allocation: a small file may declare options of billions of parameters.
  for (const t of layout.tensors) {
    const stored = f.tensors.get(t.name);
    if (!stored) bad(`tensor ${t.name} is missing`);
    else if (stored.shape.join(',') !== t.shape.join(',')) bad(`tensor ${t.name} has shape [${stored.shape}] where the model needs [${t.shape}]`);
    else if (!stored.data.every(Number.isFinite)) bad(`tensor ${t.name} has non-finite values (NaN or ±Infinity)`);
  }
  const parameters = [...f.tensors.keys()].filter((n) => !n.startsWith(TRAINING_TENSOR_PREFIX)).length;
  if (parameters !== layout.tensors.length) bad(`it has ${parameters} parameter tensors where the model has ${layout.tensors.length}`);
  const flat = new Float32Array(layout.numParams);
  for (const t of layout.tensors) flat.set(f.tensors.get(t.name)!.data, t.offset);
  return flat;
}

export function singleLatent(vae: Vae, name: string, x: unknown, condition: Matrix | undefined): Float32Array {
  const m = inputOf(vae, name, x);
  if (m.rows !== 1) fail(name, 'one row', `${m.rows} rows`, 'range');
  return vae.encode(m, condition).mean.data;
}

/**
 * The condition for `rows` rows: for a conditional model required, (rows × conditionDim) or one row used for
 * every row; for any other model refused.
 */
export function conditionOf(vae: Vae, value: unknown, rows: number, name = 'condition'): Matrix | undefined {
  const Q = vae.options.conditionDim;
  if (Q === 0) {
    if (value !== undefined && value !== null) fail(name, 'no condition (the model has conditionDim 0)', value, 'type');
    return undefined;
  }
  if (value === undefined || value === null) fail(name, `a condition of ${Q} columns per row (the model has conditionDim ${Q})`, value, 'type');
  const c = toMatrix(name, value, { cols: Q, allowEmpty: true });
  if (c.rows === rows) return c;
  if (c.rows === 1) return repeatRows(c, rows);
  return failReceived(name, `${rows} rows (one per data row) or 1 row`, `${c.rows} rows`);
}

export function binarizeOption(vae: Vae, v: unknown): boolean {
  const binarize = boolean('binarize', v ?? false);
  if (binarize && vae.options.likelihood !== 'bernoulli') fail('binarize', "false (binarisation needs likelihood: 'bernoulli')", binarize);
  return binarize;
}

export function requireIdle(vae: Vae, what: string): void {
  if (stateOf(vae).fitting || nativeOf(vae).busy())
    throw new LatentkitError('LATENTKIT_BUSY', `cannot ${what} while this model is training or evaluating`);
}

/** x (any form, data/rows.ts) checked as the model's input: its width, and the likelihood's support. */
export function inputOf(vae: Vae, name: string, x: unknown, allowEmpty = false): Rows {
  return toRows(name, x, { cols: vae.inputDim, allowEmpty, check: (m) => checkLikelihoodSupport(name, m, vae.options.likelihood) });
}

export async function evaluateTerms(vae: Vae, m: Rows, condition: Matrix | undefined, samples: number, seed: number, binarize: boolean, want: { analyticKl: boolean; terms?: boolean; logLikelihood?: boolean }, precision: NativePrecision, rowOffset = 0): Promise<{ reconstruction: Float32Array; kl: Float32Array; logLikelihood: Float32Array }> {
  const r = await withCallerStack(() => nativeOf(vae).evaluate(m.native, m.rows, samples, seed, binarize, want.analyticKl,
    { reconstruction: Boolean(want.terms), kl: Boolean(want.terms), logLikelihood: Boolean(want.logLikelihood) }, condition?.data ?? null, precision, rowOffset));
  const empty = new Float32Array(0);
  return { reconstruction: r.reconstruction ?? empty, kl: r.kl ?? empty, logLikelihood: r.logLikelihood ?? empty };
}

/** n of `rows` row indices chosen without replacement by a seeded shuffle, in increasing order. */
export function subsetIndices(rows: number, n: number, seed: number): number[] {
  const perm = new BigInt64Array(rows);
  native().kernels.rng_permutation(perm, rows, seed, rngStream(RngPurpose.Sample, 5));
  return Array.from(perm.subarray(0, n), Number).sort((a, b) => a - b);
}

/** m's rows, each repeated until there are `rows` (m has one row, or rows divides evenly). */
export function repeatRows(m: Matrix, rows: number): Matrix {
  return takeRows(m, Array.from({ length: rows }, (_, i) => i % m.rows));
}

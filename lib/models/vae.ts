// models/vae.ts — the user-facing VAE. Structure (widths, activation, likelihood, σ) is fixed at construction and
// validated eagerly; training runs natively off the JS thread, one Promise per epoch. Shapes: x (rows, inputDim),
// z / mean / logVar (rows, latentDim). Parameters live natively in one flat buffer; parameters() copies it out.
import { LatentkitError, withCallerStack } from '../errors';
import * as path from 'path';
import { writeFileAtomic } from '../io/atomic';
import { loadSafetensors, NamedTensor, saveSafetensors } from '../io/safetensors';
import { decoderOnnx, encoderOnnx } from '../onnx/export';
import { Matrix, MatrixLike, matrix, toMatrix } from '../matrix';
import { native, NativeVae } from '../native';
import { priorSample, RngPurpose, rngStream } from '../rng';
import { boolean, fail, failReceived, finiteNumber, integer, knownKeys, oneOf, plainObject } from '../validate';
import { VERSION } from '../version';

export const ACTIVATIONS = ['identity', 'relu', 'tanh', 'leaky_relu', 'softplus'] as const;
export type Activation = (typeof ACTIVATIONS)[number];
export const LIKELIHOODS = ['bernoulli', 'gaussian'] as const;
export type Likelihood = (typeof LIKELIHOODS)[number];

export interface VaeOptions {
  inputDim: number;
  latentDim: number;
  /** Encoder hidden widths; the decoder mirrors them. Default [400]. */
  hidden?: number[];
  activation?: Activation;
  likelihood?: Likelihood;
  /** Gaussian only: a fixed σ (number, default 1) or 'shared' for one learned σ². */
  sigma?: number | 'shared';
  /** Seeds the initial weights (and is the default training seed). */
  seed?: number;
  /** Compute threads for this model's native work; 0 = all cores. */
  threads?: number;
}

/** Every option filled in; `sigma` is present only for a Gaussian likelihood. */
export type ResolvedVaeOptions = Omit<Required<VaeOptions>, 'sigma'> & { sigma?: number | 'shared' };

export interface EpochRecord {
  epoch: number;
  trainLoss: number; // mean negative ELBO per example during the epoch (nats)
  testLoss?: number; // on `validation`, after the epoch, single-sample z
  examplesPerSec: number;
  seconds: number;
}

export interface StepProgress {
  epoch: number;
  epochs: number;
  examples: number;
  totalExamples: number;
  loss: number; // running mean negative ELBO in this epoch
  examplesPerSec: number;
}

export interface FitOptions {
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  weightDecay?: number;
  threads?: number;
  validation?: MatrixLike;
  binarize?: boolean;
  seed?: number;
  signal?: AbortSignal;
  onEpoch?: (record: EpochRecord) => void | Promise<void>;
  progress?: (p: StepProgress) => void;
}

export interface History {
  epochs: EpochRecord[];
}

export interface ElboResult {
  elbo: Float32Array; // per example: −(reconstruction + kl)
  reconstruction: Float32Array; // −log p(x | z), averaged over the samples
  kl: Float32Array; // KL(q(z | x) || N(0, I)), closed form
}

const VAE_KEYS = ['inputDim', 'latentDim', 'hidden', 'activation', 'likelihood', 'sigma', 'seed', 'threads'] as const;
const FIT_KEYS = ['epochs', 'batchSize', 'learningRate', 'weightDecay', 'threads', 'validation', 'binarize', 'seed', 'signal', 'onEpoch', 'progress'] as const;
const EVAL_SEED = 0x5eed;

export function resolveVaeOptions(options: unknown): ResolvedVaeOptions {
  const o = plainObject('options', options);
  knownKeys('options', o, VAE_KEYS);
  const inputDim = integer('inputDim', o.inputDim, 1, 1 << 24);
  const latentDim = integer('latentDim', o.latentDim, 1, 1 << 20);
  const hiddenRaw = o.hidden ?? [400];
  if (!Array.isArray(hiddenRaw)) fail('hidden', 'an array of positive integers', hiddenRaw, 'type');
  const hidden = hiddenRaw.map((h, i) => integer(`hidden[${i}]`, h, 1, 1 << 20));
  const activation = oneOf('activation', o.activation ?? 'relu', ACTIVATIONS);
  const likelihood = oneOf('likelihood', o.likelihood ?? 'bernoulli', LIKELIHOODS);
  const seed = integer('seed', o.seed ?? 0, 0);
  const threads = integer('threads', o.threads ?? 0, 0, 1024);
  const resolved: ResolvedVaeOptions = { inputDim, latentDim, hidden, activation, likelihood, seed, threads };
  if (likelihood === 'gaussian')
    resolved.sigma = o.sigma === undefined || o.sigma === 'shared' ? (o.sigma ?? 1) : finiteNumber('sigma', o.sigma, { min: 0, exclusiveMin: true });
  else if (o.sigma !== undefined) fail('sigma', "no sigma (it applies to likelihood: 'gaussian')", o.sigma, 'type');
  return resolved;
}

export class Vae {
  readonly options: ResolvedVaeOptions;
  readonly #native: NativeVae;
  #fitting = false;

  constructor(options: VaeOptions) {
    this.options = resolveVaeOptions(options);
    const o = this.options;
    this.#native = new (native().VaeNative)({
      inputDim: o.inputDim,
      latentDim: o.latentDim,
      hidden: o.hidden,
      activation: ACTIVATIONS.indexOf(o.activation),
      likelihood: LIKELIHOODS.indexOf(o.likelihood),
      sigmaMode: o.sigma === 'shared' ? 1 : 0,
      sigma: typeof o.sigma === 'number' ? o.sigma : 1,
    });
    this.#native.initParams(o.seed);
    this.#native.setThreads(o.threads);
  }

  get inputDim(): number {
    return this.options.inputDim;
  }
  get latentDim(): number {
    return this.options.latentDim;
  }
  get numParams(): number {
    return this.#native.numParams();
  }
  /** The Gaussian decoder's σ (learned or fixed); undefined for Bernoulli. */
  get sigma(): number | undefined {
    return this.options.likelihood === 'gaussian' ? Math.exp(0.5 * this.#native.decoderLogVar()) : undefined;
  }

  /** A copy of all parameters: one flat buffer and a named view of each tensor (weights stored (in, out)). */
  parameters(): { flat: Float32Array; tensors: NamedTensor[] } {
    const flat = new Float32Array(this.#native.numParams());
    this.#native.getParams(flat);
    const tensors = this.#native.tensors().map((t) => ({
      name: t.name,
      shape: t.shape,
      data: flat.subarray(t.offset, t.offset + t.shape.reduce((a, b) => a * b, 1)),
    }));
    return { flat, tensors };
  }

  /** Replaces all parameters from a flat buffer laid out as parameters().flat. */
  setParameters(flat: Float32Array): void {
    this.#idle('set parameters');
    this.#native.setParams(flat);
  }

  async fit(x: MatrixLike, options: FitOptions = {}): Promise<History> {
    const o = plainObject('fitOptions', options);
    knownKeys('fitOptions', o, FIT_KEYS);
    const data = this.#input('x', x);
    const epochs = integer('epochs', o.epochs ?? 10, 1, 1_000_000);
    const batchSize = integer('batchSize', o.batchSize ?? 128, 1, 1 << 24);
    const learningRate = finiteNumber('learningRate', o.learningRate ?? 1e-3, { min: 0, exclusiveMin: true });
    const weightDecay = finiteNumber('weightDecay', o.weightDecay ?? 0, { min: 0 });
    const threads = integer('threads', o.threads ?? this.options.threads, 0, 1024);
    const binarize = boolean('binarize', o.binarize ?? false);
    const seed = integer('seed', o.seed ?? this.options.seed, 0);
    const validation = o.validation === undefined ? undefined : this.#input('validation', o.validation);
    const signal = o.signal as AbortSignal | undefined;
    if (signal !== undefined && (typeof signal !== 'object' || typeof signal.aborted !== 'boolean'))
      fail('signal', 'an AbortSignal', signal, 'type');
    const onEpoch = o.onEpoch as FitOptions['onEpoch'];
    const progress = o.progress as FitOptions['progress'];
    if (onEpoch !== undefined && typeof onEpoch !== 'function') fail('onEpoch', 'a function', onEpoch, 'type');
    if (progress !== undefined && typeof progress !== 'function') fail('progress', 'a function', progress, 'type');
    if (binarize && this.options.likelihood !== 'bernoulli')
      fail('binarize', "false (dynamic binarisation needs likelihood: 'bernoulli')", binarize);

    this.#idle('fit');
    if (signal?.aborted) throw cancelled();
    this.#fitting = true;
    const nat = this.#native;
    const onAbort = () => nat.cancel();
    signal?.addEventListener('abort', onAbort);
    try {
      nat.setThreads(threads);
      nat.beginTraining(data.data, data.rows, { batchSize, lr: learningRate, weightDecay, binarize, seed });
      const history: History = { epochs: [] };
      for (let epoch = 0; epoch < epochs; epoch++) {
        const t0 = performance.now();
        const report = progress
          ? (_steps: number, examples: number, lossSum: number) => {
              const secs = (performance.now() - t0) / 1000;
              progress({ epoch: epoch + 1, epochs, examples, totalExamples: data.rows, loss: lossSum / examples, examplesPerSec: examples / secs });
            }
          : undefined;
        const r = await withCallerStack(() => nat.trainEpoch(epoch, report));
        const seconds = (performance.now() - t0) / 1000;
        const record: EpochRecord = { epoch: epoch + 1, trainLoss: r.lossSum / r.examples, examplesPerSec: r.examples / seconds, seconds };
        if (validation) {
          const terms = await this.#evaluate(validation, 1, EVAL_SEED, binarize);
          record.testLoss = meanNegElbo(terms);
        }
        history.epochs.push(record);
        if (onEpoch) await onEpoch(record);
        if (signal?.aborted) throw cancelled();
      }
      return history;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.#fitting = false;
      if (!nat.busy()) nat.endTraining();
    }
  }

  /** Posterior parameters q(z | x) = N(mean, diag exp(logVar)). */
  encode(x: MatrixLike): { mean: Matrix; logVar: Matrix } {
    const m = this.#input('x', x, true);
    const mean = matrix(m.rows, this.latentDim);
    const logVar = matrix(m.rows, this.latentDim);
    this.#native.encode(m.data, m.rows, mean.data, logVar.data);
    return { mean, logVar };
  }

  /** The decoder's mean for each z: probabilities for Bernoulli, the Gaussian mean otherwise. */
  decode(z: MatrixLike): Matrix {
    const m = toMatrix('z', z, { cols: this.latentDim, allowEmpty: true });
    const out = matrix(m.rows, this.inputDim);
    this.#native.decode(m.data, m.rows, out.data);
    return out;
  }

  /** decode(encode(x).mean): the decoded mean at the posterior mean. */
  reconstruct(x: MatrixLike): Matrix {
    return this.decode(this.encode(x).mean);
  }

  /**
   * n draws from the model. z ~ N(0, I); mode 'mean' returns the decoder's mean (smooth images), 'ancestral'
   * also samples x ~ p(x | z) (binary pixels for Bernoulli, mean + σ·noise for Gaussian).
   */
  sample(n: number, options: { mode?: 'mean' | 'ancestral'; seed?: number } = {}): Matrix {
    integer('n', n, 0, 1 << 24);
    const o = plainObject('sampleOptions', options);
    knownKeys('sampleOptions', o, ['mode', 'seed']);
    const mode = oneOf('mode', o.mode ?? 'mean', ['mean', 'ancestral'] as const);
    const seed = integer('seed', o.seed ?? 0, 0);
    const k = native().kernels;
    const x = this.decode(priorSample(n, this.latentDim, seed));
    const noiseStream = rngStream(RngPurpose.Sample, 1);
    if (mode === 'ancestral') {
      const noise = new Float32Array(x.data.length);
      if (this.options.likelihood === 'bernoulli') {
        k.rng_uniform_fill(noise, noise.length, seed, noiseStream, 0);
        for (let i = 0; i < noise.length; i++) x.data[i] = noise[i] < x.data[i] ? 1 : 0;
      } else {
        k.rng_normal_fill(noise, noise.length, seed, noiseStream, 0);
        const s = this.sigma as number;
        for (let i = 0; i < noise.length; i++) x.data[i] += s * noise[i];
      }
    }
    return x;
  }

  /** Per-example ELBO terms, with `samples` draws of z for the reconstruction term (KL is exact). */
  async elbo(x: MatrixLike, options: { samples?: number; seed?: number; binarize?: boolean } = {}): Promise<ElboResult> {
    const o = plainObject('elboOptions', options);
    knownKeys('elboOptions', o, ['samples', 'seed', 'binarize']);
    const samples = integer('samples', o.samples ?? 1, 1, 1 << 20);
    const seed = integer('seed', o.seed ?? EVAL_SEED, 0);
    const binarize = boolean('binarize', o.binarize ?? false);
    const m = this.#input('x', x);
    const t = await this.#evaluate(m, samples, seed, binarize);
    const elbo = new Float32Array(m.rows);
    for (let i = 0; i < m.rows; i++) elbo[i] = -(t.reconstruction[i] + t.kl[i]);
    return { elbo, reconstruction: t.reconstruction, kl: t.kl };
  }

  /** Writes the model (options, version and every tensor) as safetensors, atomically. */
  async save(file: string): Promise<void> {
    if (typeof file !== 'string' || file === '') fail('path', 'a file path', file, 'type');
    const { tensors } = this.parameters();
    await saveSafetensors(file, tensors, { format: 'latentkit', kind: 'vae', version: VERSION, options: JSON.stringify(this.options) });
  }

  /**
   * Writes decoder.onnx and/or encoder.onnx into `dir` (IR 8, opset 17, dynamic batch; see onnx/export.ts).
   * Returns the paths written.
   */
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
      await writeFileAtomic(file, part === 'decoder' ? decoderOnnx(this.options, tensors) : encoderOnnx(this.options, tensors));
      written.push(file);
    }
    return written;
  }

  static async load(file: string): Promise<Vae> {
    if (typeof file !== 'string' || file === '') fail('path', 'a file path', file, 'type');
    const f = await loadSafetensors(file);
    const bad = (why: string): never => {
      throw new LatentkitError('LATENTKIT_BAD_CHECKPOINT', `${file} is not a latentkit VAE checkpoint: ${why}`);
    };
    if (f.metadata.format !== 'latentkit' || f.metadata.kind !== 'vae') bad('its metadata does not say format=latentkit, kind=vae');
    let options: VaeOptions;
    try {
      options = JSON.parse(f.metadata.options) as VaeOptions;
    } catch {
      return bad('its options metadata is not JSON');
    }
    let vae: Vae;
    try {
      vae = new Vae(options);
    } catch (e) {
      return bad(`its options are invalid (${(e as Error).message})`);
    }
    const { flat, tensors } = vae.parameters();
    for (const t of tensors) {
      const stored = f.tensors.get(t.name);
      if (!stored) bad(`tensor ${t.name} is missing`);
      else if (stored.shape.join(',') !== t.shape.join(','))
        bad(`tensor ${t.name} has shape [${stored.shape}] where the model needs [${t.shape}]`);
      else t.data.set(stored.data);
    }
    if (f.tensors.size !== tensors.length) bad(`it has ${f.tensors.size} tensors where the model has ${tensors.length}`);
    vae.setParameters(flat);
    return vae;
  }

  #idle(what: string): void {
    if (this.#fitting || this.#native.busy())
      throw new LatentkitError('LATENTKIT_BUSY', `cannot ${what} while this model is training or evaluating`);
  }

  #input(name: string, x: unknown, allowEmpty = false): Matrix {
    const m = toMatrix(name, x, { cols: this.inputDim, allowEmpty });
    if (this.options.likelihood === 'bernoulli') {
      const d = m.data;
      for (let i = 0; i < d.length; i++)
        if (d[i] < 0 || d[i] > 1) {
          const r = Math.floor(i / m.cols);
          failReceived(name, "values in [0, 1] (likelihood: 'bernoulli')", `${d[i]} at row ${r}, column ${i - r * m.cols}`);
        }
    }
    return m;
  }

  async #evaluate(m: Matrix, samples: number, seed: number, binarize: boolean): Promise<{ reconstruction: Float32Array; kl: Float32Array }> {
    const reconstruction = new Float32Array(m.rows);
    const kl = new Float32Array(m.rows);
    await withCallerStack(() => this.#native.evaluate(m.data, m.rows, samples, seed, binarize, reconstruction, kl));
    return { reconstruction, kl };
  }
}

function meanNegElbo(t: { reconstruction: Float32Array; kl: Float32Array }): number {
  let s = 0;
  for (let i = 0; i < t.kl.length; i++) s += t.reconstruction[i] + t.kl[i];
  return s / t.kl.length;
}

function cancelled(): LatentkitError {
  return new LatentkitError('LATENTKIT_CANCELLED', 'training was cancelled by its AbortSignal');
}

// models/vae.ts — the user-facing VAE. Structure (widths, activation, likelihood, σ, prior, conditionDim) is fixed at
// construction and validated eagerly; training runs natively off the JS thread, one Promise per epoch. Shapes: x
// (rows, inputDim), z / mean / logVar (rows, latentDim), condition (rows or 1, conditionDim). Parameters live
// natively in one flat buffer; parameters() copies it out.
import { LatentkitError, withCallerStack } from '../errors';
import * as path from 'path';
import { writeFileAtomic } from '../io/atomic';
import { loadSafetensors, NamedTensor, saveSafetensors } from '../io/safetensors';
import { decoderOnnx, encoderOnnx } from '../onnx/export';
import { Matrix, MatrixLike, matrix, takeRows, toMatrix } from '../matrix';
import { native, NativeTensorInfo, NativeVae, NativeVaeConfig } from '../native';
import { priorSample, RngPurpose, rngStream } from '../rng';
import { negativeBinomial, poisson, UniformStream } from '../sampling';
import { CovarianceType, GaussianMixture, GaussianMixtureOptions } from './mixture';
import { epochKlWeights, nativeStep, OBJECTIVE_KEYS, ObjectiveOptions, resolveObjective } from './objective';
import { boolean, fail, failReceived, finiteNumber, integer, knownKeys, oneOf, plainObject } from '../validate';
import { VERSION } from '../version';
import { Activation, ACTIVATIONS, convSpecs, LayerSpec, mlpSpecs, nativeLayers, Network, numel, resolveNetwork, shapeOption } from './architecture';

export { ACTIVATIONS } from './architecture';
export type { Activation, LayerSpec } from './architecture';
export const LIKELIHOODS = ['bernoulli', 'gaussian', 'laplace', 'poisson', 'nb', 'zinb'] as const;
const LOCATION_SCALE: readonly Likelihood[] = ['gaussian', 'laplace'];
const COUNT_LIKELIHOODS: readonly Likelihood[] = ['poisson', 'nb', 'zinb'];
export type Sigma = number | 'shared' | 'feature' | 'decoder';
export type Prior = 'normal' | { mixture: number };
export const SAMPLE_MODES = ['mean', 'ancestral', 'aggregate'] as const;
export type SampleMode = (typeof SAMPLE_MODES)[number];
export type Likelihood = (typeof LIKELIHOODS)[number];

export interface VaeOptions {
  /** Values per row (optional when inputShape is given: its product). */
  inputDim?: number;
  /** The shape of one row: [n], or an image [channels, height, width] (rows hold its C·H·W values, NCHW). */
  inputShape?: number[];
  latentDim: number;
  /** An MLP's encoder hidden widths; the decoder mirrors them. Default [400] (when no architecture is given). */
  hidden?: number[];
  /** The activation of `hidden` layers and of the 'conv' preset (default 'relu'). */
  activation?: Activation;
  /**
   * A preset network: 'mlp' (from `hidden`, the default) or 'conv' for images whose height and width divide by 4
   * (conv 32, 64 channels, kernel 4, stride 2 → dense 256; the decoder mirrors it with transposed convolutions).
   */
  architecture?: 'mlp' | 'conv';
  /**
   * The encoder's layers, as data: `{ dense: 256 }`, `{ conv: { channels, kernel, stride?, padding? } }`,
   * `{ activation: 'relu' }`, `{ reshape: [c, h, w] }`, `'flatten'` (the mean / log-variance heads follow it).
   * Give encoder and decoder together, instead of hidden / architecture.
   */
  encoder?: LayerSpec[];
  /**
   * The decoder's layers from z, e.g. `{ dense: 3136 }, { reshape: [64, 7, 7] }, { convTranspose: { channels, kernel,
   * stride?, padding?, outputPadding? } }`; its last layer is the output head when it gives inputShape with no
   * activation, else a dense output layer to inputDim is appended.
   */
  decoder?: LayerSpec[];
  /**
   * p(x | z): 'bernoulli' (x in [0, 1]), 'gaussian', 'laplace', or for counts 'poisson', 'nb' (negative binomial with
   * a learned inverse dispersion θ per feature) and 'zinb' (NB with a decoded zero-inflation probability, as scVI).
   */
  likelihood?: Likelihood;
  /**
   * Gaussian σ or Laplace scale b: a fixed number (default 1), 'shared' (one learned value), 'feature' (one learned
   * value per input feature) or 'decoder' (a second decoder head gives one per element, floored at minSigma).
   */
  sigma?: Sigma;
  /** With sigma: 'decoder', the smallest scale the decoder can output (default 1e-3), against the likelihood's singularity. */
  minSigma?: number;
  /**
   * Count likelihoods: 'observed' (default; scVI's observed library size) makes the mean l · exp(head) with l = Σ_d x_d
   * of the row; 'none' uses exp(head) as the mean.
   */
  library?: 'observed' | 'none';
  /**
   * p(z): 'normal' (default, N(0, I), closed-form KL) or { mixture: C } — a learned mixture of C diagonal Gaussians
   * (weights, means, variances trained with the decoder); its KL is estimated by Monte Carlo at the sampled z.
   */
  prior?: Prior;
  /**
   * A conditional VAE (Sohn et al. 2015): the width of a condition c (one-hot labels or real covariates) given with
   * every x and z — concatenated to the encoder's input [x | c] and the decoder's [z | c]. Default 0 (none).
   */
  conditionDim?: number;
  /** Seeds the initial weights (and is the default training seed). */
  seed?: number;
  /** Compute threads for this model's native work; 0 = all cores. */
  threads?: number;
}

/**
 * Every option filled in; an MLP keeps hidden and activation, any other network its encoder and decoder specs
 * (the 'conv' preset written out), with inputShape; sigma (and minSigma) only for Gaussian / Laplace, library only
 * for count likelihoods.
 */
export type ResolvedVaeOptions = Omit<Required<VaeOptions>, 'sigma' | 'minSigma' | 'library' | 'inputShape' | 'hidden' | 'activation' | 'architecture' | 'encoder' | 'decoder'>
  & Pick<VaeOptions, 'sigma' | 'minSigma' | 'library' | 'inputShape' | 'hidden' | 'activation' | 'encoder' | 'decoder'> & { inputDim: number };

export interface EpochRecord {
  epoch: number;
  trainLoss: number; // the objective as optimised, mean per example during the epoch (nats; −ELBO or −IWAE bound)
  reconstruction: number; // mean −log p(x | z) per example during the epoch
  kl: number; // mean closed-form KL(q(z | x) || N(0, I)) per example during the epoch
  klWeight: number; // β × warm-up factor, the mean over the epoch's steps
  aggressive?: boolean; // with fit({ aggressive: true }): whether this epoch ran the aggressive encoder updates
  encoderSteps?: number; // … how many encoder-only inner updates it made
  mutualInformation?: number; // … I_q on the validation rows (or 2,000 training rows) after the epoch
  testLoss?: number; // on `validation`, after the epoch: −ELBO, single-sample z
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

export interface FitOptions extends ObjectiveOptions {
  /** A conditional VAE's conditions: one row per row of x (conditionDim columns). */
  condition?: MatrixLike;
  /** … and one per row of `validation`. */
  validationCondition?: MatrixLike;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  /**
   * Aggressive inference-network training (He et al. 2019) against posterior collapse: each step first updates the
   * encoder alone on fresh batches until its loss stops falling (≤ 100 inner steps, checked every 10), then the
   * decoder alone; switched off for good after the first epoch whose I_q on held-out rows does not rise.
   */
  aggressive?: boolean;
  /** Adam's ε (default 1e-8; Burda et al. use 1e-4). */
  adamEps?: number;
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

const VAE_KEYS = ['inputDim', 'inputShape', 'latentDim', 'hidden', 'activation', 'architecture', 'encoder', 'decoder', 'likelihood', 'sigma', 'minSigma', 'library', 'prior', 'conditionDim', 'seed', 'threads'] as const;
const FIT_KEYS = ['condition', 'validationCondition', 'epochs', 'batchSize', 'learningRate', 'aggressive', 'adamEps', 'weightDecay', 'threads', 'validation', 'binarize', 'seed', 'signal', 'onEpoch', 'progress', ...OBJECTIVE_KEYS] as const;
const EVAL_SEED = 0x5eed;

export function resolveVaeOptions(options: unknown): ResolvedVaeOptions {
  const o = plainObject('options', options);
  knownKeys('options', o, VAE_KEYS);
  const inputShape = o.inputShape === undefined ? undefined : shapeOption('inputShape', o.inputShape);
  const inputDim = o.inputDim === undefined && inputShape ? numel(inputShape) : integer('inputDim', o.inputDim, 1, 1 << 24);
  if (inputShape && numel(inputShape) !== inputDim) fail('inputDim', `${numel(inputShape)} (the product of inputShape [${inputShape.join(', ')}]) or nothing`, inputDim);
  const latentDim = integer('latentDim', o.latentDim, 1, 1 << 20);
  const architecture = oneOf('architecture', o.architecture ?? (o.encoder !== undefined || o.decoder !== undefined ? 'custom' : 'mlp'), ['mlp', 'conv', 'custom'] as const);
  const net: Pick<ResolvedVaeOptions, 'inputShape' | 'hidden' | 'activation' | 'encoder' | 'decoder'> = {};
  if (architecture === 'mlp') {
    const hiddenRaw = o.hidden ?? [400];
    if (!Array.isArray(hiddenRaw)) fail('hidden', 'an array of positive integers', hiddenRaw, 'type');
    net.hidden = hiddenRaw.map((h, i) => integer(`hidden[${i}]`, h, 1, 1 << 20));
    net.activation = oneOf('activation', o.activation ?? 'relu', ACTIVATIONS);
  } else {
    for (const k of ['hidden', ...(architecture === 'custom' ? ['activation'] : [])] as const)
      if (o[k] !== undefined) fail(k, `nothing with ${architecture === 'conv' ? "architecture: 'conv'" : 'encoder / decoder specs'} (${k === 'hidden' ? 'hidden describes an MLP' : "put { activation } entries in the specs"})`, o[k], 'type');
    if (architecture === 'conv' && (o.encoder !== undefined || o.decoder !== undefined)) fail(o.encoder !== undefined ? 'encoder' : 'decoder', "nothing with architecture: 'conv' (the preset defines both networks)", o.encoder ?? o.decoder, 'type');
    if (architecture === 'custom' && (o.encoder === undefined || o.decoder === undefined)) fail(o.encoder === undefined ? 'encoder' : 'decoder', 'a layer spec array (encoder and decoder are given together)', undefined, 'type');
    const specs = architecture === 'conv'
      ? convSpecs(inputShape ?? fail('inputShape', "an image [channels, height, width] (architecture: 'conv')", undefined, 'type'), oneOf('activation', o.activation ?? 'relu', ACTIVATIONS))
      : { encoder: o.encoder as LayerSpec[], decoder: o.decoder as LayerSpec[] };
    net.encoder = specs.encoder;
    net.decoder = specs.decoder;
  }
  if (inputShape) net.inputShape = inputShape;
  const likelihood = oneOf('likelihood', o.likelihood ?? 'bernoulli', LIKELIHOODS);
  const seed = integer('seed', o.seed ?? 0, 0);
  const threads = integer('threads', o.threads ?? 0, 0, 1024);
  let prior: Prior = 'normal';
  if (o.prior !== undefined && o.prior !== 'normal') {
    const p = plainObject('prior', o.prior);
    knownKeys('prior', p, ['mixture']);
    prior = { mixture: integer('prior.mixture', p.mixture, 1, 4096) };
  }
  const conditionDim = integer('conditionDim', o.conditionDim ?? 0, 0, 1 << 20);
  const resolved: ResolvedVaeOptions = { inputDim, ...net, latentDim, likelihood, prior, conditionDim, seed, threads };
  architectureOf(resolved); // the shapes must chain: checked here, with errors naming the layer
  if (LOCATION_SCALE.includes(likelihood)) {
    const learned = ['shared', 'feature', 'decoder'];
    resolved.sigma = o.sigma === undefined || learned.includes(o.sigma as string) ? ((o.sigma as Sigma) ?? 1) : finiteNumber('sigma', o.sigma, { min: 0, exclusiveMin: true });
    if (resolved.sigma === 'decoder') resolved.minSigma = finiteNumber('minSigma', o.minSigma ?? 1e-3, { min: 0, exclusiveMin: true });
    else if (o.minSigma !== undefined) fail('minSigma', "no minSigma (it applies to sigma: 'decoder')", o.minSigma, 'type');
  } else {
    if (o.sigma !== undefined) fail('sigma', "no sigma (it applies to likelihood 'gaussian' or 'laplace')", o.sigma, 'type');
    if (o.minSigma !== undefined) fail('minSigma', "no minSigma (it applies to likelihood 'gaussian' or 'laplace' with sigma: 'decoder')", o.minSigma, 'type');
  }
  if (COUNT_LIKELIHOODS.includes(likelihood)) resolved.library = oneOf('library', o.library ?? 'observed', ['observed', 'none'] as const);
  else if (o.library !== undefined) fail('library', "no library (it applies to the count likelihoods 'poisson', 'nb', 'zinb')", o.library, 'type');
  return resolved;
}

/** The resolved network of resolved options: the layers the native model and the ONNX export are built from. */
export function architectureOf(o: ResolvedVaeOptions): Network {
  const inputShape = o.inputShape ?? [o.inputDim];
  const specs = o.hidden ? mlpSpecs(o.hidden, o.activation ?? 'relu') : { encoder: o.encoder ?? [], decoder: o.decoder ?? [] };
  return resolveNetwork({ inputShape, latentDim: o.latentDim, conditionDim: o.conditionDim, ...specs, mlp: Boolean(o.hidden) });
}

/** The native constructor's view of resolved options (enums as strings). */
export function nativeVaeConfig(o: ResolvedVaeOptions): NativeVaeConfig {
  const network = architectureOf(o);
  return {
    inputDim: o.inputDim,
    latentDim: o.latentDim,
    ...(o.inputShape ? { inputShape: o.inputShape } : {}),
    encoder: nativeLayers(network.encoder),
    decoder: nativeLayers(network.decoder),
    likelihood: o.likelihood,
    sigmaMode: typeof o.sigma === 'string' ? o.sigma : 'fixed',
    sigma: typeof o.sigma === 'number' ? o.sigma : 1,
    minSigma: o.minSigma ?? 1e-3,
    observedLibrary: o.library === 'observed',
    priorComponents: o.prior === 'normal' ? 0 : o.prior.mixture,
    conditionDim: o.conditionDim,
  };
}

/**
 * Data a likelihood can score: Bernoulli needs values in [0, 1] (raw 0–255 pixels are refused, not encoded to
 * nonsense), the count likelihoods values >= 0. A RangeError names the first value outside, with its row and column.
 */
export function checkLikelihoodSupport(name: string, m: Matrix, likelihood: Likelihood): void {
  const bernoulli = likelihood === 'bernoulli', counts = COUNT_LIKELIHOODS.includes(likelihood);
  if (!bernoulli && !counts) return;
  const d = m.data;
  for (let i = 0; i < d.length; i++)
    if (d[i] < 0 || (bernoulli && d[i] > 1)) {
      const r = Math.floor(i / m.cols);
      const want = bernoulli ? "values in [0, 1] (likelihood: 'bernoulli')" : `counts >= 0 (likelihood: '${likelihood}')`;
      failReceived(name, want, `${d[i]} at row ${r}, column ${i - r * m.cols}`);
    }
}

export class Vae {
  readonly options: ResolvedVaeOptions;
  readonly #native: NativeVae;
  #fitting = false;

  constructor(options: VaeOptions) {
    this.options = resolveVaeOptions(options);
    const o = this.options;
    this.#native = new (native().VaeNative)(nativeVaeConfig(o));
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
  /**
   * The decoder's scale — Gaussian σ or Laplace b, learned or fixed (for sigma: 'feature' the first feature's) —
   * or undefined (other likelihoods, and sigma: 'decoder', whose scale depends on z: see decodeScale).
   */
  get sigma(): number | undefined {
    return this.sigmas()?.[0];
  }

  /** The decoder's scale (σ or b) for each input feature (inputDim values); undefined as for `sigma`. */
  sigmas(): Float32Array | undefined {
    if (!LOCATION_SCALE.includes(this.options.likelihood) || this.options.sigma === 'decoder') return undefined;
    const ls = this.#native.decoderLogScale() as Float32Array;
    const half = this.options.likelihood === 'gaussian' ? 0.5 : 1; // log σ² or log b
    return Float32Array.from({ length: this.inputDim }, (_, d) => Math.exp(half * ls[ls.length === 1 ? 0 : d]));
  }

  /** The negative binomial's learned inverse dispersion θ per feature (Var x = μ + μ²/θ); undefined for other likelihoods. */
  dispersion(): Float32Array | undefined {
    if (this.options.likelihood !== 'nb' && this.options.likelihood !== 'zinb') return undefined;
    return (this.#native.decoderLogScale() as Float32Array).map(Math.exp);
  }

  /**
   * The decoder's per-element noise parameters at z: `scale` (σ or b, for Gaussian and Laplace) or `dropout`
   * (ZINB's zero-inflation probability π). Empty for the other likelihoods.
   */
  decodeScale(z: MatrixLike, condition?: MatrixLike): { scale?: Matrix; dropout?: Matrix } {
    const m = toMatrix('z', z, { cols: this.latentDim, allowEmpty: true });
    const { aux } = this.#decodeWithAux(m, this.#condition(condition, m.rows));
    if (LOCATION_SCALE.includes(this.options.likelihood)) {
      const half = this.options.likelihood === 'gaussian' ? 0.5 : 1;
      return { scale: { data: aux.data.map((v) => Math.exp(half * v)), rows: m.rows, cols: this.inputDim } };
    }
    if (this.options.likelihood === 'zinb') return { dropout: { data: aux.data.map((v) => 1 / (1 + Math.exp(-v))), rows: m.rows, cols: this.inputDim } };
    return {};
  }

  #decodeWithAux(z: Matrix, condition: Matrix | undefined): { mean: Matrix; aux: Matrix } {
    const mean = matrix(z.rows, this.inputDim), aux = matrix(z.rows, this.inputDim);
    this.#native.decode(z.data, z.rows, mean.data, aux.data, condition?.data ?? null);
    return { mean, aux };
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
    const adamEps = finiteNumber('adamEps', o.adamEps ?? 1e-8, { min: 0, exclusiveMin: true });
    const objective = resolveObjective(o);
    if (objective.freeBits > 0 && this.options.prior !== 'normal')
      fail('freeBits', "0 (free bits need prior: 'normal', whose KL splits per dimension in closed form)", objective.freeBits);
    const aggressiveOption = boolean('aggressive', o.aggressive ?? false);
    const weightDecay = finiteNumber('weightDecay', o.weightDecay ?? 0, { min: 0 });
    const threads = integer('threads', o.threads ?? this.options.threads, 0, 1024);
    const binarize = boolean('binarize', o.binarize ?? false);
    const seed = integer('seed', o.seed ?? this.options.seed, 0);
    const validation = o.validation === undefined ? undefined : this.#input('validation', o.validation);
    const condition = this.#condition(o.condition, data.rows);
    if (!validation && o.validationCondition !== undefined) fail('validationCondition', 'nothing without validation', o.validationCondition, 'type');
    const validationCondition = validation && this.#condition(o.validationCondition, validation.rows, 'validationCondition');
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
      nat.beginTraining(data.data, data.rows, { batchSize, lr: learningRate, eps: adamEps, weightDecay, binarize, seed, ...nativeStep(objective) }, condition?.data ?? null);
      const stepsPerEpoch = nat.stepsPerEpoch();
      const history: History = { epochs: [] };
      // Aggressive training watches I_q on held-out rows: the validation set, else a seeded 2,000-row training subset.
      const miPick = !validation && data.rows > 2000 ? subsetIndices(data.rows, 2000, seed) : undefined;
      const miRows = aggressiveOption ? (validation ?? (miPick ? takeRows(data, miPick) : data)) : undefined;
      const miCondition = validation ? validationCondition : condition && miPick ? takeRows(condition, miPick) : condition;
      let aggressive = aggressiveOption;
      let lastMi = -Infinity;
      for (let epoch = 0; epoch < epochs; epoch++) {
        const t0 = performance.now();
        const report = progress
          ? (_steps: number, examples: number, lossSum: number) => {
              const secs = (performance.now() - t0) / 1000;
              progress({ epoch: epoch + 1, epochs, examples, totalExamples: data.rows, loss: lossSum / examples, examplesPerSec: examples / secs });
            }
          : undefined;
        const weights = epochKlWeights(objective, epoch, stepsPerEpoch);
        const r = await withCallerStack(() => nat.trainEpoch(epoch, weights, aggressive, report)).catch((e: LatentkitError) => {
          throw e.code === 'LATENTKIT_CANCELLED' && signal?.aborted ? cancelled() : e; // one message for both cancel paths
        });
        const seconds = (performance.now() - t0) / 1000;
        const record: EpochRecord = {
          epoch: epoch + 1,
          trainLoss: r.lossSum / r.examples,
          reconstruction: r.reconstructionSum / r.examples,
          kl: r.klSum / r.examples,
          klWeight: weights ? weights.reduce((a, b) => a + b, 0) / weights.length : objective.beta,
          examplesPerSec: r.examples / seconds,
          seconds,
        };
        if (miRows) {
          const mi = this.mutualInformation(miRows, { seed: EVAL_SEED, condition: miCondition });
          Object.assign(record, { aggressive, encoderSteps: r.encoderSteps, mutualInformation: mi });
          if (aggressive && !(mi > lastMi)) aggressive = false; // I_q stopped rising: plain VAE training from here
          lastMi = mi;
        }
        if (validation) {
          const terms = await this.#evaluate(validation, validationCondition, 1, EVAL_SEED, binarize, { analyticKl: this.options.prior === 'normal', terms: true });
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

  /** Posterior parameters q(z | x[, c]) = N(mean, diag exp(logVar)). */
  encode(x: MatrixLike, condition?: MatrixLike): { mean: Matrix; logVar: Matrix } {
    const m = this.#input('x', x, true);
    const c = this.#condition(condition, m.rows);
    const mean = matrix(m.rows, this.latentDim);
    const logVar = matrix(m.rows, this.latentDim);
    this.#native.encode(m.data, m.rows, mean.data, logVar.data, c?.data ?? null);
    return { mean, logVar };
  }

  /**
   * The decoder's mean E[x | z] for each z: probabilities for Bernoulli, the mean for Gaussian and Laplace; for the
   * count likelihoods the mean at library size 1 ((1 − π) · exp(head) for ZINB), so with library: 'observed' the
   * mean for a row of library size l is l times it (reconstruct does this).
   */
  decode(z: MatrixLike, condition?: MatrixLike): Matrix {
    const m = toMatrix('z', z, { cols: this.latentDim, allowEmpty: true });
    const c = this.#condition(condition, m.rows);
    const out = matrix(m.rows, this.inputDim);
    this.#native.decode(m.data, m.rows, out.data, null, c?.data ?? null);
    return out;
  }

  /** decode(encode(x).mean): the decoded mean at the posterior mean (scaled by each row's library size for counts). */
  reconstruct(x: MatrixLike, condition?: MatrixLike): Matrix {
    const m = this.#input('x', x, true);
    const out = this.decode(this.encode(m, condition).mean, condition);
    if (this.options.library === 'observed') {
      const D = this.inputDim;
      for (let r = 0; r < m.rows; r++) {
        let l = 0;
        for (let d = 0; d < D; d++) l += m.data[r * D + d];
        for (let d = 0; d < D; d++) out.data[r * D + d] *= Math.max(1, l);
      }
    }
    return out;
  }

  /**
   * n draws from the model. mode 'mean' decodes z ~ N(0, I) to the decoder's mean (smooth images); 'ancestral' also
   * samples x ~ p(x | z) (binary pixels for Bernoulli, mean + scale·noise for Gaussian and Laplace, integer counts
   * for Poisson / NB / ZINB at library size `library`, default 1); 'aggregate' draws z from the
   * aggregated posterior instead of the prior — from q(z | x_n) of random rows of `data`, or from `latentMixture`
   * (a GaussianMixture fitted to the posterior means, see fitLatentMixture) — and decodes the mean.
   */
  sample(n: number, options: { mode?: SampleMode; seed?: number; data?: MatrixLike; dataCondition?: MatrixLike; latentMixture?: GaussianMixture; library?: number; condition?: MatrixLike } = {}): Matrix {
    integer('n', n, 0, 1 << 24);
    const o = plainObject('sampleOptions', options);
    knownKeys('sampleOptions', o, ['mode', 'seed', 'data', 'dataCondition', 'latentMixture', 'library', 'condition']);
    const mode = oneOf('mode', o.mode ?? 'mean', SAMPLE_MODES);
    const seed = integer('seed', o.seed ?? 0, 0);
    if (mode !== 'aggregate' && (o.data !== undefined || o.latentMixture !== undefined))
      fail(o.data !== undefined ? 'data' : 'latentMixture', "nothing unless mode is 'aggregate'", o.data ?? o.latentMixture, 'type');
    const counts = COUNT_LIKELIHOODS.includes(this.options.likelihood);
    if (o.library !== undefined && !counts) fail('library', 'no library (it applies to the count likelihoods)', o.library, 'type');
    const library = finiteNumber('library', o.library ?? 1, { min: 0, exclusiveMin: true });
    const condition = this.#condition(o.condition, n);
    if (mode === 'aggregate') return this.decode(this.#aggregateLatents(n, seed, o.data, o.dataCondition, o.latentMixture), condition);
    const z = this.priorSample(n, seed);
    if (mode === 'mean') return counts ? scaled(this.decode(z, condition), library) : this.decode(z, condition);
    return this.#ancestral(z, condition, seed, library);
  }

  /** x ~ p(x | z) for each row of z (count means scaled by `library`). */
  #ancestral(z: Matrix, condition: Matrix | undefined, seed: number, library: number): Matrix {
    const { mean: x, aux } = this.#decodeWithAux(z, condition);
    const noiseStream = rngStream(RngPurpose.Sample, 1);
    const k = native().kernels;
    const noise = new Float32Array(x.data.length);
    switch (this.options.likelihood) {
      case 'bernoulli':
        k.rng_uniform_fill(noise, noise.length, seed, noiseStream, 0);
        for (let i = 0; i < noise.length; i++) x.data[i] = noise[i] < x.data[i] ? 1 : 0;
        return x;
      case 'gaussian':
        k.rng_normal_fill(noise, noise.length, seed, noiseStream, 0);
        for (let i = 0; i < noise.length; i++) x.data[i] += Math.exp(0.5 * aux.data[i]) * noise[i];
        return x;
      case 'laplace': // inverse CDF: b · sign(u − ½) · log(1 / (1 − 2|u − ½|))
        k.rng_uniform_fill(noise, noise.length, seed, noiseStream, 0);
        for (let i = 0; i < noise.length; i++) {
          const u = noise[i] - 0.5;
          x.data[i] -= Math.exp(aux.data[i]) * Math.sign(u) * Math.log(Math.max(1e-12, 1 - 2 * Math.abs(u)));
        }
        return x;
      default: {
        const u = new UniformStream(seed, noiseStream);
        const theta = this.dispersion();
        const D = this.inputDim;
        for (let i = 0; i < x.data.length; i++) {
          if (this.options.likelihood === 'zinb') {
            const pi = 1 / (1 + Math.exp(-aux.data[i]));
            const mu = (library * x.data[i]) / (1 - pi); // decode's mean is (1 − π)·μ
            x.data[i] = u.next() < pi ? 0 : negativeBinomial(mu, theta![i % D], u);
          } else if (theta) x.data[i] = negativeBinomial(library * x.data[i], theta[i % D], u);
          else x.data[i] = poisson(library * x.data[i], u);
        }
        return x;
      }
    }
  }

  /** A GaussianMixture fitted to the posterior means of x: a model of the aggregated posterior for sample(). */
  async fitLatentMixture(x: MatrixLike, options: { nComponents?: number; covarianceType?: CovarianceType; seed?: number; condition?: MatrixLike } = {}): Promise<GaussianMixture> {
    const o = plainObject('mixtureOptions', options);
    knownKeys('mixtureOptions', o, ['nComponents', 'covarianceType', 'seed', 'condition']);
    const gmm = new GaussianMixture({ nComponents: o.nComponents ?? 10, covarianceType: o.covarianceType ?? 'full', seed: o.seed ?? 0 } as GaussianMixtureOptions);
    return gmm.fit(this.encode(this.#input('x', x), o.condition as MatrixLike | undefined).mean);
  }

  #aggregateLatents(n: number, seed: number, data: unknown, dataCondition: unknown, mixture: unknown): Matrix {
    if ((data === undefined) === (mixture === undefined))
      fail('sampleOptions', "exactly one of data or latentMixture with mode 'aggregate'", { data, latentMixture: mixture }, 'type');
    if (mixture !== undefined) {
      if (!(mixture instanceof GaussianMixture)) fail('latentMixture', 'a fitted GaussianMixture', mixture, 'type');
      const z = mixture.sample(Math.max(n, 1), { seed }).x;
      if (z.cols !== this.latentDim) fail('latentMixture', `a mixture over ${this.latentDim} latent dimensions`, `one over ${z.cols}`, 'range');
      return { data: z.data.subarray(0, n * z.cols), rows: n, cols: z.cols };
    }
    const m = this.#input('data', data);
    const k = native().kernels;
    const u = new Float32Array(n);
    k.rng_uniform_fill(u, n, seed, rngStream(RngPurpose.Sample, 2), 0);
    const picked = Array.from(u, (v) => Math.min(m.rows - 1, Math.floor(v * m.rows)));
    const dc = this.#condition(dataCondition, m.rows, 'dataCondition');
    const { mean, logVar } = this.encode(takeRows(m, picked), dc && takeRows(dc, picked));
    const eps = new Float32Array(mean.data.length);
    k.rng_normal_fill(eps, eps.length, seed, rngStream(RngPurpose.Sample, 3), 0);
    for (let i = 0; i < eps.length; i++) mean.data[i] += Math.exp(0.5 * logVar.data[i]) * eps[i];
    return mean;
  }

  /**
   * Per-example ELBO terms with `samples` draws of z. kl 'analytic' (default) uses the closed-form KL; 'mc' the
   * Monte-Carlo estimate log q(z | x) − log p(z) at the same draws (then the k = 1 logLikelihood equals the ELBO).
   */
  async elbo(x: MatrixLike, options: { samples?: number; seed?: number; binarize?: boolean; kl?: 'analytic' | 'mc'; condition?: MatrixLike } = {}): Promise<ElboResult> {
    const o = plainObject('elboOptions', options);
    knownKeys('elboOptions', o, ['samples', 'seed', 'binarize', 'kl', 'condition']);
    const samples = integer('samples', o.samples ?? 1, 1, 1 << 20);
    const seed = integer('seed', o.seed ?? EVAL_SEED, 0);
    const binarize = this.#binarizeOption(o.binarize);
    const normal = this.options.prior === 'normal';
    const analytic = oneOf('kl', o.kl ?? (normal ? 'analytic' : 'mc'), ['analytic', 'mc'] as const) === 'analytic';
    if (analytic && !normal) fail('kl', "'mc' (a mixture prior has no closed-form KL)", o.kl);
    const m = this.#input('x', x);
    const t = await this.#evaluate(m, this.#condition(o.condition, m.rows), samples, seed, binarize, { analyticKl: analytic, terms: true });
    const elbo = new Float32Array(m.rows);
    for (let i = 0; i < m.rows; i++) elbo[i] = -(t.reconstruction[i] + t.kl[i]);
    return { elbo, reconstruction: t.reconstruction, kl: t.kl };
  }

  /**
   * The importance-sampled log-likelihood per example, log (1/k) Σ_j p(x | z_j) p(z_j) / q(z_j | x) with
   * z_j ~ q(z | x) (Burda et al. 2016): a lower bound on log p(x) in expectation that tightens as k grows.
   * Runs natively in chunks of about 2048 decoder rows, so memory stays bounded for any k.
   */
  async logLikelihood(x: MatrixLike, options: { k?: number; seed?: number; binarize?: boolean; condition?: MatrixLike } = {}): Promise<Float32Array> {
    const o = plainObject('logLikelihoodOptions', options);
    knownKeys('logLikelihoodOptions', o, ['k', 'seed', 'binarize', 'condition']);
    const k = integer('k', o.k ?? 1000, 1, 1 << 30);
    const seed = integer('seed', o.seed ?? EVAL_SEED, 0);
    const binarize = this.#binarizeOption(o.binarize);
    const m = this.#input('x', x);
    return (await this.#evaluate(m, this.#condition(o.condition, m.rows), k, seed, binarize, { analyticKl: true, logLikelihood: true })).logLikelihood;
  }

  /** Per-row anomaly score: the negative ELBO (method 'elbo', `samples` draws) or negative IS log-likelihood ('iw', k). */
  async anomalyScore(x: MatrixLike, options: { method?: 'elbo' | 'iw'; k?: number; samples?: number; seed?: number; binarize?: boolean; condition?: MatrixLike } = {}): Promise<Float32Array> {
    const o = plainObject('anomalyOptions', options);
    knownKeys('anomalyOptions', o, ['method', 'k', 'samples', 'seed', 'binarize', 'condition']);
    const method = oneOf('method', o.method ?? 'elbo', ['elbo', 'iw'] as const);
    const common = { seed: o.seed as number, binarize: o.binarize as boolean, condition: o.condition as MatrixLike | undefined };
    const score = method === 'elbo'
      ? (await this.elbo(x, { samples: o.samples as number, ...common })).elbo
      : await this.logLikelihood(x, { k: o.k as number, ...common });
    return score.map((v) => -v);
  }

  /**
   * Active units (Burda et al. 2016, §5.2): dimension u is active when A_u = Var_x(E_q[z_u | x]) > threshold.
   * perDimension holds A_u.
   */
  activeUnits(x: MatrixLike, options: { threshold?: number; condition?: MatrixLike } = {}): { count: number; perDimension: Float64Array } {
    const o = plainObject('activeUnitsOptions', options);
    knownKeys('activeUnitsOptions', o, ['threshold', 'condition']);
    const threshold = finiteNumber('threshold', o.threshold ?? 0.01, { min: 0 });
    const { mean } = this.encode(this.#input('x', x), o.condition as MatrixLike | undefined);
    const L = this.latentDim, n = mean.rows;
    const mu = new Float64Array(L), variance = new Float64Array(L);
    for (let i = 0; i < n; i++) for (let d = 0; d < L; d++) mu[d] += mean.data[i * L + d] / n;
    for (let i = 0; i < n; i++) for (let d = 0; d < L; d++) variance[d] += (mean.data[i * L + d] - mu[d]) ** 2 / Math.max(1, n - 1);
    return { count: variance.filter((v) => v > threshold).length, perDimension: variance };
  }

  /**
   * The learned mixture prior (prior: { mixture: C }): weights (C), means and variances (C × latentDim, row-major);
   * undefined for the normal prior.
   */
  priorMixture(): { weights: Float64Array; means: Float32Array; variances: Float32Array } | undefined {
    if (this.options.prior === 'normal') return undefined;
    const t = new Map(this.parameters().tensors.map((x) => [x.name, x.data]));
    const logits = t.get('prior.logits')!;
    const top = Math.max(...logits);
    const e = Float64Array.from(logits, (v) => Math.exp(v - top));
    const total = e.reduce((a, v) => a + v, 0);
    return { weights: e.map((v) => v / total), means: Float32Array.from(t.get('prior.mean')!), variances: Float32Array.from(t.get('prior.log_var')!, Math.exp) };
  }

  /** n draws z ~ p(z) from `seed`: N(0, I), or the mixture prior (component by its weight, then its Gaussian). */
  priorSample(n: number, seed = 0): Matrix {
    const z = priorSample(n, this.latentDim, seed);
    const mix = this.priorMixture();
    if (!mix) return z;
    const L = this.latentDim;
    const u = new Float32Array(n);
    native().kernels.rng_uniform_fill(u, n, seed, rngStream(RngPurpose.Sample, 6), 0);
    for (let i = 0; i < n; i++) {
      let c = 0;
      for (let acc = mix.weights[0]; acc < u[i] && c < mix.weights.length - 1; acc += mix.weights[++c]);
      for (let d = 0; d < L; d++) z.data[i * L + d] = mix.means[c * L + d] + Math.sqrt(mix.variances[c * L + d]) * z.data[i * L + d];
    }
    return z;
  }

  /** The mean over x of KL(q(z_d | x) || N(0, 1)) for each latent dimension d (nats); normal prior only. */
  klPerDimension(x: MatrixLike, options: { condition?: MatrixLike } = {}): Float64Array {
    const o = plainObject('klOptions', options);
    knownKeys('klOptions', o, ['condition']);
    if (this.options.prior !== 'normal')
      throw new LatentkitError('LATENTKIT_INVALID_ARGUMENT', "klPerDimension needs prior: 'normal' (a mixture prior's KL does not split per dimension)");
    const { mean, logVar } = this.encode(this.#input('x', x), o.condition as MatrixLike | undefined);
    const L = this.latentDim, n = mean.rows;
    const kl = new Float64Array(L);
    for (let i = 0; i < n * L; i++) kl[i % L] += 0.5 * (Math.exp(logVar.data[i]) + mean.data[i] ** 2 - 1 - logVar.data[i]) / n;
    return kl;
  }

  /**
   * The mutual information I_q(x; z) under q(x, z) = p_data(x) q(z | x) (He et al. 2019, after Hoffman & Johnson
   * 2016): E_x E_q[log q(z | x)] − E_q[log q(z)], with q(z) the aggregated posterior over the rows of x (at most
   * maxRows, a seeded random subset), log q(z) = log (1/N) Σ_n q(z | x_n) evaluated natively as an N-component
   * diagonal Gaussian mixture. Bounded above by log N.
   */
  mutualInformation(x: MatrixLike, options: { seed?: number; maxRows?: number; condition?: MatrixLike } = {}): number {
    const o = plainObject('mutualInformationOptions', options);
    knownKeys('mutualInformationOptions', o, ['seed', 'maxRows', 'condition']);
    const seed = integer('seed', o.seed ?? EVAL_SEED, 0);
    const maxRows = integer('maxRows', o.maxRows ?? 5000, 2, 1 << 16);
    let m = this.#input('x', x);
    if (m.rows < 2) fail('x', 'at least 2 rows (the aggregated posterior needs several)', `${m.rows} row`);
    let c = this.#condition(o.condition, m.rows);
    if (m.rows > maxRows) {
      const picked = subsetIndices(m.rows, maxRows, seed);
      m = takeRows(m, picked);
      c = c && takeRows(c, picked);
    }
    const { mean, logVar } = this.encode(m, c);
    const N = m.rows, L = this.latentDim;
    const eps = new Float32Array(N * L);
    native().kernels.rng_normal_fill(eps, eps.length, seed, rngStream(RngPurpose.Sample, 4), 0);
    const z = matrix(N, L);
    const means = new Float64Array(N * L), precChol = new Float64Array(N * L);
    let negEntropy = 0; // Σ_n E_q[log q(z | x_n)] = Σ −½ Σ_d (log 2π + 1 + log σ²)
    for (let i = 0; i < N * L; i++) {
      z.data[i] = mean.data[i] + Math.exp(0.5 * logVar.data[i]) * eps[i];
      means[i] = mean.data[i];
      precChol[i] = Math.exp(-0.5 * logVar.data[i]);
      negEntropy -= 0.5 * (Math.log(2 * Math.PI) + 1 + logVar.data[i]);
    }
    const logQz = new Float64Array(N);
    native().classical.gmmLogProb(z.data, N, L, { nComponents: N, covarianceType: 'diag', weights: new Float64Array(N).fill(1 / N), means, precisionsCholesky: precChol }, null, logQz);
    return (negEntropy - logQz.reduce((a, b) => a + b, 0)) / N;
  }

  /**
   * `steps` decoded means along the path between the posterior means of xa and xb (one row each); a conditional
   * model encodes and decodes the whole path under one `condition` row.
   */
  interpolate(xa: MatrixLike, xb: MatrixLike, options: { steps?: number; path?: 'linear' | 'spherical'; condition?: MatrixLike } = {}): Matrix {
    const o = plainObject('interpolateOptions', options);
    knownKeys('interpolateOptions', o, ['steps', 'path', 'condition']);
    const c = this.#condition(o.condition, 1);
    const steps = integer('steps', o.steps ?? 8, 2, 1 << 16);
    const pathKind = oneOf('path', o.path ?? 'linear', ['linear', 'spherical'] as const);
    const za = this.#singleLatent('xa', xa, c), zb = this.#singleLatent('xb', xb, c);
    const L = this.latentDim;
    const norm = (v: Float32Array) => Math.sqrt(v.reduce((a, b) => a + b * b, 0));
    const cos = za.reduce((a, v, d) => a + v * zb[d], 0) / (norm(za) * norm(zb) || 1);
    const theta = Math.acos(Math.max(-1, Math.min(1, cos)));
    const z = matrix(steps, L);
    for (let s = 0; s < steps; s++) {
      const t = s / (steps - 1);
      // slerp (Shoemake 1985; White 2016 for VAE latents); linear when the angle is too small to divide by.
      const [wa, wb] = pathKind === 'spherical' && theta > 1e-4
        ? [Math.sin((1 - t) * theta) / Math.sin(theta), Math.sin(t * theta) / Math.sin(theta)]
        : [1 - t, t];
      for (let d = 0; d < L; d++) z.data[s * L + d] = wa * za[d] + wb * zb[d];
    }
    return this.decode(z, c && repeatRows(c, steps));
  }

  /**
   * Latent traversal: for each row of x, `steps` decodes of its posterior mean with dimension `dim` set to values
   * evenly spaced over `range` (default [−3, 3]). Returns (rows × steps, inputDim), row-major by input row.
   */
  traverse(x: MatrixLike, options: { dim: number; range?: [number, number]; steps?: number; condition?: MatrixLike }): Matrix {
    const o = plainObject('traverseOptions', options);
    knownKeys('traverseOptions', o, ['dim', 'range', 'steps', 'condition']);
    const dim = integer('dim', o.dim, 0, this.latentDim - 1);
    const steps = integer('steps', o.steps ?? 9, 2, 1 << 16);
    const range = o.range ?? [-3, 3];
    if (!Array.isArray(range) || range.length !== 2) fail('range', 'a pair [from, to]', range, 'type');
    const [lo, hi] = [finiteNumber('range[0]', range[0]), finiteNumber('range[1]', range[1])];
    const m = this.#input('x', x);
    const c = this.#condition(o.condition, m.rows);
    const { mean } = this.encode(m, c);
    const L = this.latentDim;
    const z = matrix(mean.rows * steps, L);
    for (let r = 0; r < mean.rows; r++)
      for (let s = 0; s < steps; s++) {
        const row = (r * steps + s) * L;
        z.data.set(mean.data.subarray(r * L, (r + 1) * L), row);
        z.data[row + dim] = lo + ((hi - lo) * s) / (steps - 1);
      }
    return this.decode(z, c && takeRows(c, Array.from({ length: m.rows * steps }, (_, i) => Math.floor(i / steps))));
  }

  /**
   * Fills the entries of x where `missing` is non-zero: starting from the column means of the observed entries,
   * `iterations` times x_missing ← decode(encode(x).mean)_missing (observed entries stay as given).
   */
  impute(x: MatrixLike, missing: MatrixLike, options: { iterations?: number; condition?: MatrixLike } = {}): Matrix {
    const o = plainObject('imputeOptions', options);
    knownKeys('imputeOptions', o, ['iterations', 'condition']);
    const iterations = integer('iterations', o.iterations ?? 10, 1, 1 << 20);
    const m = toMatrix('x', x, { cols: this.inputDim, finite: false });
    const mask = toMatrix('missing', missing, { cols: this.inputDim });
    if (mask.rows !== m.rows) fail('missing', `a mask with ${m.rows} rows (as x)`, `${mask.rows} rows`, 'range');
    const D = this.inputDim;
    const filled = matrix(m.rows, D);
    const colSum = new Float64Array(D), colCount = new Float64Array(D);
    for (let i = 0; i < m.data.length; i++)
      if (mask.data[i] === 0) {
        if (!Number.isFinite(m.data[i])) fail('x', 'finite values where missing is 0', `${m.data[i]} at row ${Math.floor(i / D)}, column ${i % D}`);
        colSum[i % D] += m.data[i];
        colCount[i % D] += 1;
      }
    for (let i = 0; i < m.data.length; i++) filled.data[i] = mask.data[i] === 0 ? m.data[i] : colCount[i % D] > 0 ? colSum[i % D] / colCount[i % D] : 0;
    this.#input('x', filled);
    for (let it = 0; it < iterations; it++) {
      const recon = this.reconstruct(filled, o.condition as MatrixLike | undefined);
      for (let i = 0; i < filled.data.length; i++) if (mask.data[i] !== 0) filled.data[i] = recon.data[i];
    }
    return filled;
  }

  #singleLatent(name: string, x: unknown, condition: Matrix | undefined): Float32Array {
    const m = this.#input(name, x);
    if (m.rows !== 1) fail(name, 'one row', `${m.rows} rows`, 'range');
    return this.encode(m, condition).mean.data;
  }

  /**
   * The condition for `rows` rows: for a conditional model required, (rows × conditionDim) or one row used for
   * every row; for any other model refused.
   */
  #condition(value: unknown, rows: number, name = 'condition'): Matrix | undefined {
    const Q = this.options.conditionDim;
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

  #binarizeOption(v: unknown): boolean {
    const binarize = boolean('binarize', v ?? false);
    if (binarize && this.options.likelihood !== 'bernoulli') fail('binarize', "false (binarisation needs likelihood: 'bernoulli')", binarize);
    return binarize;
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
    const { tensors } = this.parameters();
    await saveSafetensors(file, tensors, { format: 'latentkit', kind: 'vae', version: VERSION, options: JSON.stringify(this.options), ...epoch });
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
    const threads = lo.threads === undefined ? undefined : integer('threads', lo.threads, 0, 1024);
    const f = await loadSafetensors(file);
    const bad = (why: string): never => {
      throw new LatentkitError('LATENTKIT_BAD_CHECKPOINT', `${file} is not a latentkit VAE checkpoint: ${why}`);
    };
    if (f.metadata.format !== 'latentkit' || f.metadata.kind !== 'vae') bad('its metadata does not say format=latentkit, kind=vae');
    let options: ResolvedVaeOptions;
    let layout: { numParams: number; tensors: NativeTensorInfo[] };
    try {
      options = resolveVaeOptions(JSON.parse(f.metadata.options) as VaeOptions);
      if (threads !== undefined) options = { ...options, threads };
      layout = native().VaeNative.layout(nativeVaeConfig(options));
    } catch (e) {
      return bad(`its options are invalid (${(e as Error).message})`);
    }
    for (const t of layout.tensors) {
      const stored = f.tensors.get(t.name);
      if (!stored) bad(`tensor ${t.name} is missing`);
      else if (stored.shape.join(',') !== t.shape.join(',')) bad(`tensor ${t.name} has shape [${stored.shape}] where the model needs [${t.shape}]`);
      else if (!stored.data.every(Number.isFinite)) bad(`tensor ${t.name} has non-finite values (NaN or ±Infinity)`);
    }
    if (f.tensors.size !== layout.tensors.length) bad(`it has ${f.tensors.size} tensors where the model has ${layout.tensors.length}`);
    const vae = new Vae(options);
    const { flat, tensors } = vae.parameters();
    for (const t of tensors) t.data.set(f.tensors.get(t.name)!.data);
    vae.setParameters(flat);
    return vae;
  }

  #idle(what: string): void {
    if (this.#fitting || this.#native.busy())
      throw new LatentkitError('LATENTKIT_BUSY', `cannot ${what} while this model is training or evaluating`);
  }

  #input(name: string, x: unknown, allowEmpty = false): Matrix {
    const m = toMatrix(name, x, { cols: this.inputDim, allowEmpty });
    checkLikelihoodSupport(name, m, this.options.likelihood);
    return m;
  }

  async #evaluate(m: Matrix, condition: Matrix | undefined, samples: number, seed: number, binarize: boolean, want: { analyticKl: boolean; terms?: boolean; logLikelihood?: boolean }): Promise<{ reconstruction: Float32Array; kl: Float32Array; logLikelihood: Float32Array }> {
    const r = await withCallerStack(() => this.#native.evaluate(m.data, m.rows, samples, seed, binarize, want.analyticKl,
      { reconstruction: Boolean(want.terms), kl: Boolean(want.terms), logLikelihood: Boolean(want.logLikelihood) }, condition?.data ?? null));
    const empty = new Float32Array(0);
    return { reconstruction: r.reconstruction ?? empty, kl: r.kl ?? empty, logLikelihood: r.logLikelihood ?? empty };
  }
}

/** n of `rows` row indices chosen without replacement by a seeded shuffle, in increasing order. */
function subsetIndices(rows: number, n: number, seed: number): number[] {
  const perm = new BigInt64Array(rows);
  native().kernels.rng_permutation(perm, rows, seed, rngStream(RngPurpose.Sample, 5));
  return Array.from(perm.subarray(0, n), Number).sort((a, b) => a - b);
}

/** m's rows, each repeated until there are `rows` (m has one row, or rows divides evenly). */
function repeatRows(m: Matrix, rows: number): Matrix {
  return takeRows(m, Array.from({ length: rows }, (_, i) => i % m.rows));
}

function meanNegElbo(t: { reconstruction: Float32Array; kl: Float32Array }): number {
  let s = 0;
  for (let i = 0; i < t.kl.length; i++) s += t.reconstruction[i] + t.kl[i];
  return s / t.kl.length;
}

function scaled(m: Matrix, factor: number): Matrix {
  for (let i = 0; i < m.data.length; i++) m.data[i] *= factor;
  return m;
}

function cancelled(): LatentkitError {
  return new LatentkitError('LATENTKIT_CANCELLED', 'training was cancelled by its AbortSignal');
}

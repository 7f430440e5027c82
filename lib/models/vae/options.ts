// models/vae/options.ts — what a VAE is, as options: the types, their resolution (every default defined here once,
// each check naming the option), the resolved network (models/architecture.ts), the native constructor's view of
// the options, and the data support of each likelihood.
import { Matrix } from '../../matrix';
import { threadsOption } from '../../threads';
import { LIKELIHOOD, Likelihood, LIKELIHOODS } from './likelihoods';
import { NativeVaeConfig } from '../../native';
import { fail, failReceived, finiteNumber, integer, knownKeys, oneOf, plainObject } from '../../validate';
import { Activation, ACTIVATIONS, convSpecs, LayerSpec, mlpSpecs, nativeLayers, Network, numel, resolveNetwork, shapeOption } from '../architecture';

export { ACTIVATIONS } from '../architecture';
export { LIKELIHOODS } from './likelihoods';
export type { Likelihood } from './likelihoods';
export type { Activation, LayerSpec } from '../architecture';
export type Sigma = number | 'shared' | 'feature' | 'decoder';
export type Prior = 'normal' | { mixture: number };
export const SAMPLE_MODES = ['mean', 'ancestral', 'aggregate'] as const;
export type SampleMode = (typeof SAMPLE_MODES)[number];

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

/** A Gaussian σ / Laplace b when none is given, and where a learned one starts; σ(z)'s floor when none is given. */
const DEFAULT_SIGMA = 1;
const DEFAULT_MIN_SIGMA = 1e-3;

const VAE_KEYS = ['inputDim', 'inputShape', 'latentDim', 'hidden', 'activation', 'architecture', 'encoder', 'decoder', 'likelihood', 'sigma', 'minSigma', 'library', 'prior', 'conditionDim', 'seed', 'threads'] as const;

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
  const threads = threadsOption(o.threads);
  let prior: Prior = 'normal';
  if (o.prior !== undefined && o.prior !== 'normal') {
    const p = plainObject('prior', o.prior);
    knownKeys('prior', p, ['mixture']);
    prior = { mixture: integer('prior.mixture', p.mixture, 1, 4096) };
  }
  const conditionDim = integer('conditionDim', o.conditionDim ?? 0, 0, 1 << 20);
  const resolved: ResolvedVaeOptions = { inputDim, ...net, latentDim, likelihood, prior, conditionDim, seed, threads };
  architectureOf(resolved); // the shapes must chain: checked here, with errors naming the layer
  if (LIKELIHOOD[likelihood].family === 'location-scale') {
    const learned = ['shared', 'feature', 'decoder'];
    resolved.sigma = o.sigma === undefined || learned.includes(o.sigma as string) ? ((o.sigma as Sigma) ?? DEFAULT_SIGMA) : finiteNumber('sigma', o.sigma, { min: 0, exclusiveMin: true });
    if (resolved.sigma === 'decoder') resolved.minSigma = finiteNumber('minSigma', o.minSigma ?? DEFAULT_MIN_SIGMA, { min: 0, exclusiveMin: true });
    else if (o.minSigma !== undefined) fail('minSigma', "no minSigma (it applies to sigma: 'decoder')", o.minSigma, 'type');
  } else {
    if (o.sigma !== undefined) fail('sigma', "no sigma (it applies to likelihood 'gaussian' or 'laplace')", o.sigma, 'type');
    if (o.minSigma !== undefined) fail('minSigma', "no minSigma (it applies to likelihood 'gaussian' or 'laplace' with sigma: 'decoder')", o.minSigma, 'type');
  }
  if (LIKELIHOOD[likelihood].family === 'counts') resolved.library = oneOf('library', o.library ?? 'observed', ['observed', 'none'] as const);
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
    ...(o.sigma === undefined ? {} : { sigma: typeof o.sigma === 'number' ? o.sigma : DEFAULT_SIGMA }), // a learned σ starts at the default
    ...(o.minSigma === undefined ? {} : { minSigma: o.minSigma }),
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
  const support = LIKELIHOOD[likelihood].support;
  if (support === 'real') return;
  const bernoulli = support === 'unit';
  const d = m.data;
  for (let i = 0; i < d.length; i++)
    if (d[i] < 0 || (bernoulli && d[i] > 1)) {
      const r = Math.floor(i / m.cols);
      const want = bernoulli ? "values in [0, 1] (likelihood: 'bernoulli')" : `counts >= 0 (likelihood: '${likelihood}')`;
      failReceived(name, want, `${d[i]} at row ${r}, column ${i - r * m.cols}`);
    }
}

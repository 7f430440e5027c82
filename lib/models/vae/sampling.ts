// models/vae/sampling.ts — draws from a VAE: z from the prior (or its learned mixture), or from the aggregated
// posterior (q(z | x) of data rows, or a GaussianMixture fitted to the posterior means), decoded to the mean or
// sampled x ~ p(x | z) (ancestral) for each likelihood. sampleOp is an operation (inference.ts): Vae.sample runs it
// synchronously, Vae.sampleAsync as jobs.
import { DataInput, pickRows } from '../../data/rows';
import { Matrix, MatrixLike, takeRows } from '../../matrix';
import { native, NativePrecision } from '../../native';
import { Precision, resolvePrecision } from '../../precision';
import { priorSample, RngPurpose, rngStream } from '../../rng';
import { fail, finiteNumber, integer, knownKeys, oneOf, plainObject } from '../../validate';
import { CovarianceType, GaussianMixture, GaussianMixtureOptions } from '../mixture';
import { decodeCall, encodeCall, Operation } from './inference';
import { conditionOf, inputOf, Vae } from './model';
import { LIKELIHOOD } from './likelihoods';
import { SAMPLE_MODES, SampleMode } from './options';

/**
 * n draws from the model. mode 'mean' decodes z ~ N(0, I) to the decoder's mean (smooth images); 'ancestral' also
 * samples x ~ p(x | z) (binary pixels for Bernoulli, mean + scale·noise for Gaussian and Laplace, integer counts
 * for Poisson / NB / ZINB at library size `library`, default 1); 'aggregate' draws z from the
 * aggregated posterior instead of the prior — from q(z | x_n) of random rows of `data`, or from `latentMixture`
 * (a GaussianMixture fitted to the posterior means, see fitLatentMixture) — and decodes the mean.
 */
export type SampleOptions = { mode?: SampleMode; seed?: number; data?: DataInput; dataCondition?: MatrixLike; latentMixture?: GaussianMixture; library?: number; condition?: MatrixLike; precision?: Precision };

export function* sampleOp(vae: Vae, n: number, options: SampleOptions = {}): Operation<Matrix> {
  integer('n', n, 0, 1 << 24);
  const o = plainObject('sampleOptions', options);
  knownKeys('sampleOptions', o, ['mode', 'seed', 'data', 'dataCondition', 'latentMixture', 'library', 'condition', 'precision']);
  const precision = resolvePrecision(o.precision);
  const mode = oneOf('mode', o.mode ?? 'mean', SAMPLE_MODES);
  const seed = integer('seed', o.seed ?? 0, 0);
  if (mode !== 'aggregate' && (o.data !== undefined || o.latentMixture !== undefined))
    fail(o.data !== undefined ? 'data' : 'latentMixture', "nothing unless mode is 'aggregate'", o.data ?? o.latentMixture, 'type');
  const counts = LIKELIHOOD[vae.options.likelihood].family === 'counts';
  if (o.library !== undefined && !counts) fail('library', 'no library (it applies to the count likelihoods)', o.library, 'type');
  const library = finiteNumber('library', o.library ?? 1, { min: 0, exclusiveMin: true });
  const condition = conditionOf(vae, o.condition, n);
  if (mode === 'aggregate') {
    const z = yield* aggregateLatents(vae, n, seed, o.data, o.dataCondition, o.latentMixture, precision);
    return (yield* decodeCall(z, condition, precision)).mean;
  }
  const z = vae.priorSample(n, seed);
  if (mode === 'mean') {
    const mean = (yield* decodeCall(z, condition, precision)).mean;
    return counts ? scaled(mean, library) : mean;
  }
  // ancestral: x ~ p(x | z) for each row of z (count means scaled by `library`)
  const { mean: x, aux } = yield* decodeCall(z, condition, precision, true);
  LIKELIHOOD[vae.options.likelihood].ancestral(x.data, aux!.data, { seed, stream: rngStream(RngPurpose.Sample, 1), library, dispersion: vae.dispersion(), D: vae.inputDim });
  return x;
}

/** A GaussianMixture fitted to the posterior means of x: a model of the aggregated posterior for sample(). */
export async function fitLatentMixture(vae: Vae, x: DataInput, options: { nComponents?: number; covarianceType?: CovarianceType; seed?: number; condition?: MatrixLike } = {}): Promise<GaussianMixture> {
  const o = plainObject('mixtureOptions', options);
  knownKeys('mixtureOptions', o, ['nComponents', 'covarianceType', 'seed', 'condition']);
  const gmm = new GaussianMixture({ nComponents: o.nComponents ?? 10, covarianceType: o.covarianceType ?? 'full', seed: o.seed ?? 0 } as GaussianMixtureOptions);
  return gmm.fit(vae.encode(inputOf(vae, 'x', x), o.condition as MatrixLike | undefined).mean);
}

function* aggregateLatents(vae: Vae, n: number, seed: number, data: unknown, dataCondition: unknown, mixture: unknown, precision: NativePrecision): Operation<Matrix> {
  if ((data === undefined) === (mixture === undefined))
    fail('sampleOptions', "exactly one of data or latentMixture with mode 'aggregate'", { data, latentMixture: mixture }, 'type');
  if (mixture !== undefined) {
    if (!(mixture instanceof GaussianMixture)) fail('latentMixture', 'a fitted GaussianMixture', mixture, 'type');
    const z = mixture.sample(Math.max(n, 1), { seed }).x;
    if (z.cols !== vae.latentDim) fail('latentMixture', `a mixture over ${vae.latentDim} latent dimensions`, `one over ${z.cols}`, 'range');
    return { data: z.data.subarray(0, n * z.cols), rows: n, cols: z.cols };
  }
  const m = inputOf(vae, 'data', data);
  const k = native().kernels;
  const u = new Float32Array(n);
  k.rng_uniform_fill(u, n, seed, rngStream(RngPurpose.Sample, 2), 0);
  const picked = Array.from(u, (v) => Math.min(m.rows - 1, Math.floor(v * m.rows)));
  const dc = conditionOf(vae, dataCondition, m.rows, 'dataCondition');
  const { mean, logVar } = yield* encodeCall(pickRows(m, picked), dc && takeRows(dc, picked), precision);
  const eps = new Float32Array(mean.data.length);
  k.rng_normal_fill(eps, eps.length, seed, rngStream(RngPurpose.Sample, 3), 0);
  for (let i = 0; i < eps.length; i++) mean.data[i] += Math.exp(0.5 * logVar.data[i]) * eps[i];
  return mean;
}

/**
 * The learned mixture prior (prior: { mixture: C }): weights (C), means and variances (C × latentDim, row-major);
 * undefined for the normal prior.
 */
export function priorMixture(vae: Vae): { weights: Float64Array; means: Float32Array; variances: Float32Array } | undefined {
  if (vae.options.prior === 'normal') return undefined;
  const t = new Map(vae.parameters().tensors.map((x) => [x.name, x.data]));
  const logits = t.get('prior.logits')!;
  const top = Math.max(...logits);
  const e = Float64Array.from(logits, (v) => Math.exp(v - top));
  const total = e.reduce((a, v) => a + v, 0);
  return { weights: e.map((v) => v / total), means: Float32Array.from(t.get('prior.mean')!), variances: Float32Array.from(t.get('prior.log_var')!, Math.exp) };
}

/** n draws z ~ p(z) from `seed`: N(0, I), or the mixture prior (component by its weight, then its Gaussian). */
export function priorSampleOf(vae: Vae, n: number, seed = 0): Matrix {
  const z = priorSample(n, vae.latentDim, seed);
  const mix = vae.priorMixture();
  if (!mix) return z;
  const L = vae.latentDim;
  const u = new Float32Array(n);
  native().kernels.rng_uniform_fill(u, n, seed, rngStream(RngPurpose.Sample, 6), 0);
  for (let i = 0; i < n; i++) {
    let c = 0;
    for (let acc = mix.weights[0]; acc < u[i] && c < mix.weights.length - 1; acc += mix.weights[++c]);
    for (let d = 0; d < L; d++) z.data[i * L + d] = mix.means[c * L + d] + Math.sqrt(mix.variances[c * L + d]) * z.data[i * L + d];
  }
  return z;
}

function scaled(m: Matrix, factor: number): Matrix {
  for (let i = 0; i < m.data.length; i++) m.data[i] *= factor;
  return m;
}

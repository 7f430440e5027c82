// models/vae/likelihoods.ts — the TypeScript half of each likelihood p(x | z), in one place (the native half is
// native/models/likelihoods.h): the data it can score, the family it belongs to (which options apply), the outputs
// of its ONNX decoder graph, its ancestral sampler x ~ p(x | z), and the per-element noise parameters decodeScale
// reports. Shapes: mean, aux (rows, D) row-major; aux is the decoder's per-element log-scale (Gaussian log σ²,
// Laplace log b) or ZINB's dropout logits.
import { native } from '../../native';
import { UniformStream, negativeBinomial, poisson } from '../../sampling';

export const LIKELIHOODS = ['bernoulli', 'gaussian', 'laplace', 'poisson', 'nb', 'zinb'] as const;
export type Likelihood = (typeof LIKELIHOODS)[number];

/** What the ONNX decoder graph offers a likelihood (onnx/export.ts): its heads, nodes and outputs. */
export interface DecoderGraph {
  /** The output head's values, named `out` ([batch, D]). */
  head(out: string): void;
  /** The twin head's values (its tensors under `tensor`), named `out` ([batch, D]). */
  twin(tensor: string, out: string): void;
  node(op: string, inputs: string[], out: string): string;
  fresh(prefix: string): string;
  scalar(v: number): string;
  /** A learned tensor of the model as an output of its own shape. */
  learned(tensor: string, out: string): void;
  /** Declares a graph output of shape [batch, D]. */
  output(name: string): void;
}

/** What an ancestral draw needs beyond the decoded mean: the noise, and the model's learned dispersion. */
export interface Draw {
  seed: number;
  stream: number;
  library: number; // count models: the library size the mean is scaled to
  dispersion?: Float32Array; // NB / ZINB: θ per feature
  D: number;
}

export interface LikelihoodDescriptor {
  /** The values x may take: [0, 1], counts ≥ 0, or any real. */
  support: 'unit' | 'counts' | 'real';
  family: 'binary' | 'location-scale' | 'counts';
  /** The decoder graph's outputs for `options` (sigma and minSigma of location-scale models). */
  onnx(g: DecoderGraph, options: { sigma?: number | string; minSigma?: number }): void;
  /** x ~ p(x | z), drawn in place of the decoded mean `x`. */
  ancestral(x: Float32Array, aux: Float32Array, draw: Draw): void;
}

const uniforms = (n: number, d: Draw) => {
  const u = new Float32Array(n);
  native().kernels.rng_uniform_fill(u, n, d.seed, d.stream, 0);
  return u;
};

/** Gaussian (log σ², half = 0.5) or Laplace (log b, half = 1): the shared location-scale family. */
function locationScale(gaussian: boolean): LikelihoodDescriptor {
  const scaleName = gaussian ? 'logVar' : 'logScale';
  return {
    support: 'real',
    family: 'location-scale',
    onnx(g, o) {
      if (o.sigma === 'decoder') g.twin('decoder.scale', 'raw_scale');
      g.head('mean');
      g.output('mean');
      if (o.sigma === 'decoder') {
        // floored log-scale: log(exp(raw) + exp(floor)) = softplus(raw − floor) + floor (native/core/likelihood.h)
        const floor = (gaussian ? 2 : 1) * Math.log(o.minSigma as number);
        const shifted = g.node('Sub', ['raw_scale', g.scalar(floor)], g.fresh('shifted'));
        g.node('Add', [g.node('Softplus', [shifted], g.fresh('softplus')), g.scalar(floor)], scaleName);
        g.output(scaleName);
      } else if (typeof o.sigma !== 'number') g.learned(gaussian ? 'decoder.log_var' : 'decoder.log_scale', scaleName);
    },
    ancestral(x, aux, d) {
      if (gaussian) {
        const noise = new Float32Array(x.length);
        native().kernels.rng_normal_fill(noise, noise.length, d.seed, d.stream, 0);
        for (let i = 0; i < x.length; i++) x[i] += Math.exp(0.5 * aux[i]) * noise[i];
        return;
      }
      const u = uniforms(x.length, d); // inverse CDF: b · sign(u − ½) · log(1 / (1 − 2|u − ½|))
      for (let i = 0; i < x.length; i++) {
        const c = u[i] - 0.5;
        x[i] -= Math.exp(aux[i]) * Math.sign(c) * Math.log(Math.max(1e-12, 1 - 2 * Math.abs(c)));
      }
    },
  };
}

/** Poisson, NB (learned θ) and ZINB (a twin head of dropout logits); the decoded mean is at library size 1. */
function counts(kind: 'poisson' | 'nb' | 'zinb'): LikelihoodDescriptor {
  return {
    support: 'counts',
    family: 'counts',
    onnx(g) {
      if (kind === 'zinb') g.twin('decoder.dropout', 'dropoutLogits');
      g.head('logMean');
      const rate = g.node('Exp', ['logMean'], g.fresh('rate'));
      if (kind === 'zinb') {
        const keep = g.node('Sigmoid', [g.node('Neg', ['dropoutLogits'], g.fresh('neg'))], g.fresh('keep'));
        g.node('Mul', [rate, keep], 'mean');
      } else g.node('Identity', [rate], 'mean');
      g.output('mean');
      g.output('logMean');
      if (kind === 'zinb') g.output('dropoutLogits');
      if (kind !== 'poisson') g.learned('decoder.log_theta', 'logTheta');
    },
    ancestral(x, aux, d) {
      const u = new UniformStream(d.seed, d.stream);
      const theta = d.dispersion;
      for (let i = 0; i < x.length; i++) {
        if (kind === 'zinb') {
          const pi = 1 / (1 + Math.exp(-aux[i]));
          const mu = (d.library * x[i]) / (1 - pi); // the decoded mean is (1 − π)·μ
          x[i] = u.next() < pi ? 0 : negativeBinomial(mu, theta![i % d.D], u);
        } else if (kind === 'nb') x[i] = negativeBinomial(d.library * x[i], theta![i % d.D], u);
        else x[i] = poisson(d.library * x[i], u);
      }
    },
  };
}

export const LIKELIHOOD: Record<Likelihood, LikelihoodDescriptor> = {
  bernoulli: {
    support: 'unit',
    family: 'binary',
    onnx(g) {
      g.head('logits');
      g.node('Sigmoid', ['logits'], 'probs');
      g.output('probs');
      g.output('logits');
    },
    ancestral(x, _aux, d) {
      const u = uniforms(x.length, d);
      for (let i = 0; i < x.length; i++) x[i] = u[i] < x[i] ? 1 : 0;
    },
  },
  gaussian: locationScale(true),
  laplace: locationScale(false),
  poisson: counts('poisson'),
  nb: counts('nb'),
  zinb: counts('zinb'),
};

// sampling.ts — random variates for ancestral sampling of count likelihoods: Poisson, gamma and the negative
// binomial as their mixture, drawn from a seeded stream of native Philox uniforms (rng.ts). Scalar, one value per
// call: sampling n × inputDim counts is not a hot path. Algorithms: Knuth's product of uniforms for small means,
// Hörmann's transformed rejection with squeeze (PTRS, 1993) for λ ≥ 10; Marsaglia & Tsang (2000) for the gamma.
import { native } from './native';

/** Uniforms in (0, 1) from (seed, stream), refilled natively in blocks. */
export class UniformStream {
  readonly #block = new Float32Array(4096);
  #used = this.#block.length;
  #drawn = 0;
  constructor(readonly seed: number, readonly stream: number) {}

  next(): number {
    if (this.#used === this.#block.length) {
      native().kernels.rng_uniform_fill(this.#block, this.#block.length, this.seed, this.stream, this.#drawn);
      this.#drawn += this.#block.length;
      this.#used = 0;
    }
    return Math.min(Math.max(this.#block[this.#used++], 1e-12), 1 - 1e-7);
  }

  normal(): number {
    return Math.sqrt(-2 * Math.log(this.next())) * Math.cos(2 * Math.PI * this.next());
  }
}

/** log Γ(x) for x > 0 (Stirling's series after shifting x ≥ 8; as native/core/special.h). */
export function logGamma(x: number): number {
  let shift = 0;
  while (x < 8) shift -= Math.log(x++);
  const r = 1 / x, r2 = r * r;
  return (x - 0.5) * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI) + r * (1 / 12 - r2 * (1 / 360 - r2 * (1 / 1260 - r2 / 1680))) + shift;
}

export function poisson(lambda: number, u: UniformStream): number {
  if (!(lambda > 0)) return 0;
  if (lambda < 10) {
    const limit = Math.exp(-lambda);
    let k = 0;
    for (let p = u.next(); p > limit; p *= u.next()) k++;
    return k;
  }
  const slam = Math.sqrt(lambda), logLam = Math.log(lambda);
  const b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
  const invAlpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const U = u.next() - 0.5, V = u.next();
    const us = 0.5 - Math.abs(U);
    const k = Math.floor(((2 * a) / us + b) * U + lambda + 0.43);
    if (us >= 0.07 && V <= vr) return k;
    if (k < 0 || (us < 0.013 && V > us)) continue;
    if (Math.log(V) + Math.log(invAlpha) - Math.log(a / (us * us) + b) <= -lambda + k * logLam - logGamma(k + 1)) return k;
  }
}

/** Gamma(shape, scale = 1). */
export function gamma(shape: number, u: UniformStream): number {
  if (shape < 1) return gamma(shape + 1, u) * Math.pow(u.next(), 1 / shape);
  const d = shape - 1 / 3, c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = u.normal();
    const v = (1 + c * x) ** 3;
    if (v <= 0) continue;
    const w = u.next();
    if (Math.log(w) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

/** NB(mean μ, inverse dispersion θ) as Poisson(λ), λ ~ Gamma(θ, μ/θ). */
export function negativeBinomial(mean: number, theta: number, u: UniformStream): number {
  return poisson(gamma(theta, u) * (mean / theta), u);
}

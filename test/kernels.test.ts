// Every CPU kernel against a float64 TypeScript reference on random inputs; every backward against central finite
// differences of that (float64) reference, with upstream gradients drawn at random; backward kernels must
// accumulate (+=) into what their outputs already hold — except a layer's weight and bias gradients (dense_backward),
// which are written (core/dense.h says why).
import type { Activation } from '../lib/models/architecture';
import { native } from '../lib/native';
import { f32, f64, finiteDiff, maxRelErr, randn, uniform } from './helpers';

const k = native().kernels;
const B = 7;
const D = 13;
const LOG2PI = Math.log(2 * Math.PI);

const softplus = (v: number) => Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)));
const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
// log Γ by the Lanczos approximation (g = 7, 9 terms; Numerical Recipes' constants), an independent reference for
// the kernels' recurrence + Stirling series.
const LANCZOS = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
function lgammaRef(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lgammaRef(1 - x);
  const y = x - 1;
  let a = LANCZOS[0];
  const t = y + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i] / (y + i);
  return 0.5 * Math.log(2 * Math.PI) + (y + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Σ_b up[b] · rowFn(b) — the scalar whose gradient a backward kernel computes. */
function weighted(up: ArrayLike<number>, rows: (b: number) => number): number {
  let s = 0;
  for (let b = 0; b < up.length; b++) s += up[b] * rows(b);
  return s;
}

describe('gaussian kernels', () => {
  const mean = randn(B * D, 1);
  const logVar = randn(B * D, 2, 0.7);
  const eps = randn(B * D, 3);

  test('reparameterize forward matches mean + exp(lv/2)·eps', () => {
    const z = new Float32Array(B * D);
    k.gaussian_reparameterize_forward(z, mean, logVar, eps, B, D);
    const ref = Array.from(z, (_, i) => mean[i] + Math.exp(0.5 * logVar[i]) * eps[i]);
    expect(maxRelErr(z, ref)).toBeLessThan(2e-6);
  });

  test('reparameterize backward matches finite differences and accumulates', () => {
    const dz = randn(B * D, 4);
    const dMean = randn(B * D, 5);
    const dLogVar = randn(B * D, 6);
    const before = [f64(dMean), f64(dLogVar)];
    k.gaussian_reparameterize_backward(dMean, dLogVar, dz, logVar, eps, B, D);
    const obj = (m: Float64Array, lv: Float64Array) => weighted(dz, (i) => m[i] + Math.exp(0.5 * lv[i]) * eps[i]);
    const gm = finiteDiff((m) => obj(m, f64(logVar)), f64(mean));
    const glv = finiteDiff((lv) => obj(f64(mean), lv), f64(logVar));
    expect(maxRelErr(dMean.map((v, i) => v - before[0][i]), gm)).toBeLessThan(1e-5);
    expect(maxRelErr(dLogVar.map((v, i) => v - before[1][i]), glv)).toBeLessThan(1e-5);
  });

  const klRef = (m: ArrayLike<number>, lv: ArrayLike<number>, b: number) => {
    let s = 0;
    for (let d = 0; d < D; d++) s += Math.exp(lv[b * D + d]) + m[b * D + d] ** 2 - 1 - lv[b * D + d];
    return 0.5 * s;
  };

  test('KL forward matches the closed form in float64', () => {
    const kl = new Float32Array(B);
    k.gaussian_kl_std_normal_forward(kl, mean, logVar, B, D);
    expect(maxRelErr(kl, Array.from({ length: B }, (_, b) => klRef(mean, logVar, b)))).toBeLessThan(1e-5);
  });

  test('KL backward matches finite differences and accumulates', () => {
    const up = randn(B, 7);
    const dMean = randn(B * D, 8);
    const dLogVar = randn(B * D, 9);
    const before = [f64(dMean), f64(dLogVar)];
    k.gaussian_kl_std_normal_backward(dMean, dLogVar, up, mean, logVar, B, D);
    const gm = finiteDiff((m) => weighted(up, (b) => klRef(m, logVar, b)), f64(mean));
    const glv = finiteDiff((lv) => weighted(up, (b) => klRef(mean, lv, b)), f64(logVar));
    expect(maxRelErr(dMean.map((v, i) => v - before[0][i]), gm)).toBeLessThan(1e-5);
    expect(maxRelErr(dLogVar.map((v, i) => v - before[1][i]), glv)).toBeLessThan(1e-5);
  });

  test('closed-form KL agrees with a Monte-Carlo estimate E_q[log q(z) − log p(z)]', () => {
    const rows = 3;
    const L = 4;
    const m = randn(rows * L, 10, 0.8);
    const lv = randn(rows * L, 11, 0.5);
    const kl = new Float32Array(rows);
    k.gaussian_kl_std_normal_forward(kl, m, lv, rows, L);
    const S = 200000;
    for (let b = 0; b < rows; b++) {
      const e = new Float32Array(S * L);
      k.rng_normal_fill(e, e.length, 99, b, 0);
      let sum = 0;
      let sumSq = 0;
      for (let s = 0; s < S; s++) {
        let logRatio = 0;
        for (let d = 0; d < L; d++) {
          const sd = Math.exp(0.5 * lv[b * L + d]);
          const z = m[b * L + d] + sd * e[s * L + d];
          logRatio += -0.5 * e[s * L + d] ** 2 - Math.log(sd) + 0.5 * z * z; // log q(z) − log p(z)
        }
        sum += logRatio;
        sumSq += logRatio * logRatio;
      }
      const mc = sum / S;
      const stderr = Math.sqrt((sumSq / S - mc * mc) / S);
      expect(Math.abs(mc - kl[b])).toBeLessThan(4 * stderr + 1e-4);
    }
  });

  describe('K draws per row (S-sample ELBO, IWAE)', () => {
    const K = 3;
    const epsK = randn(B * K * D, 30);
    // z[b·K + s] as a float64 function of (mean, logVar)
    const zOf = (m: ArrayLike<number>, lv: ArrayLike<number>) =>
      Array.from({ length: B * K * D }, (_, i) => {
        const b = Math.floor(i / (K * D)), d = i % D;
        return m[b * D + d] + Math.exp(0.5 * lv[b * D + d]) * epsK[i];
      });

    test('reparameterize forward/backward broadcast each row over K draws', () => {
      const z = new Float32Array(B * K * D);
      k.gaussian_reparameterize_forward(z, mean, logVar, epsK, B, D, K);
      expect(maxRelErr(z, zOf(mean, logVar))).toBeLessThan(2e-6);
      const dz = randn(B * K * D, 31);
      const dMean = randn(B * D, 32), dLogVar = randn(B * D, 33);
      const before = [f64(dMean), f64(dLogVar)];
      k.gaussian_reparameterize_backward(dMean, dLogVar, dz, logVar, epsK, B, D, K);
      const obj = (m: ArrayLike<number>, lv: ArrayLike<number>) => weighted(dz, (i) => zOf(m, lv)[i]);
      expect(maxRelErr(dMean.map((v, i) => v - before[0][i]), finiteDiff((m) => obj(m, logVar), f64(mean)))).toBeLessThan(1e-5);
      expect(maxRelErr(dLogVar.map((v, i) => v - before[1][i]), finiteDiff((lv) => obj(mean, lv), f64(logVar)))).toBeLessThan(1e-5);
    });

    // log N(z; 0, I) − log N(z; mean_b, diag exp(lv_b)) with the full density formula (no eps shortcut), float64.
    const ratioRef = (m: ArrayLike<number>, lv: ArrayLike<number>, r: number) => {
      const z = zOf(m, lv);
      const b = Math.floor(r / K);
      let s = 0;
      for (let d = 0; d < D; d++) {
        const zi = z[r * D + d], i = b * D + d;
        s += -0.5 * zi * zi + 0.5 * (lv[i] + (zi - m[i]) ** 2 / Math.exp(lv[i]));
      }
      return s;
    };

    test('log prior/posterior ratio: forward equals the density formula; backward through z is the total derivative', () => {
      const z = new Float32Array(B * K * D);
      k.gaussian_reparameterize_forward(z, mean, logVar, epsK, B, D, K);
      const ratio = new Float32Array(B * K);
      k.std_normal_log_ratio_forward(ratio, z, epsK, logVar, B, D, K);
      expect(maxRelErr(ratio, Array.from({ length: B * K }, (_, r) => ratioRef(mean, logVar, r)))).toBeLessThan(1e-5);
      // Chain ratio → z → (mean, logVar) as the training step does, against differences of the full formula.
      const up = randn(B * K, 34);
      const dz = new Float32Array(B * K * D), dMean = new Float32Array(B * D), dLogVar = new Float32Array(B * D);
      k.std_normal_log_ratio_backward(dz, dLogVar, up, z, B, D, K);
      k.gaussian_reparameterize_backward(dMean, dLogVar, dz, logVar, epsK, B, D, K);
      const obj = (m: ArrayLike<number>, lv: ArrayLike<number>) => weighted(up, (r) => ratioRef(m, lv, r));
      expect(maxRelErr(dMean, finiteDiff((m) => obj(m, logVar), f64(mean)))).toBeLessThan(1e-5);
      expect(maxRelErr(dLogVar, finiteDiff((lv) => obj(mean, lv), f64(logVar)))).toBeLessThan(1e-5);
    });
  });

  describe('mixture-of-Gaussians prior', () => {
    const K = 2, C = 3;
    const epsK = randn(B * K * D, 60);
    const logits = randn(C, 61), means = randn(C * D, 62), logVars = randn(C * D, 63, 0.4);
    const zOf = (m: ArrayLike<number>, lv: ArrayLike<number>) =>
      Array.from({ length: B * K * D }, (_, i) => {
        const b = Math.floor(i / (K * D)), d = i % D;
        return m[b * D + d] + Math.exp(0.5 * lv[b * D + d]) * epsK[i];
      });
    // log Σ_c π_c N(z; μ_c, σ_c²) − log N(z; mean_b, diag exp(lv_b)) with the full density formulas, float64.
    const ratioRef = (m: ArrayLike<number>, lv: ArrayLike<number>, lg: ArrayLike<number>, mu: ArrayLike<number>, lvs: ArrayLike<number>, r: number) => {
      const z = zOf(m, lv), b = Math.floor(r / K);
      const lse = (v: number[]) => { const top = Math.max(...v); return top + Math.log(v.reduce((a, x) => a + Math.exp(x - top), 0)); };
      const logPi = Array.from(lg, (v) => v - lse(Array.from(lg)));
      const comp = logPi.map((lp, c) => {
        let s = lp;
        for (let d = 0; d < D; d++) s -= 0.5 * ((z[r * D + d] - mu[c * D + d]) ** 2 / Math.exp(lvs[c * D + d]) + lvs[c * D + d] + LOG2PI);
        return s;
      });
      let logQ = 0;
      for (let d = 0; d < D; d++) logQ -= 0.5 * ((z[r * D + d] - m[b * D + d]) ** 2 / Math.exp(lv[b * D + d]) + lv[b * D + d] + LOG2PI);
      return lse(comp) - logQ;
    };

    test('log ratio: forward equals the density formulas; backward is the total derivative and the prior gradient', () => {
      const z = new Float32Array(B * K * D);
      k.gaussian_reparameterize_forward(z, mean, logVar, epsK, B, D, K);
      const ratio = new Float32Array(B * K), resp = new Float32Array(B * K * C);
      k.mixture_log_ratio_forward(ratio, resp, z, epsK, logVar, logits, means, logVars, B, D, K, C);
      const ref = Array.from({ length: B * K }, (_, r) => ratioRef(mean, logVar, logits, means, logVars, r));
      expect(maxRelErr(ratio, ref)).toBeLessThan(1e-5);
      for (let r = 0; r < B * K; r++) expect(resp.subarray(r * C, (r + 1) * C).reduce((a, v) => a + v, 0)).toBeCloseTo(1, 5);
      const up = randn(B * K, 64);
      const dz = new Float32Array(B * K * D), dMean = new Float32Array(B * D), dLogVar = new Float32Array(B * D);
      const dLogits = randn(C, 65), dMeans = randn(C * D, 66), dLogVars = randn(C * D, 67);
      const before = [f64(dLogits), f64(dMeans), f64(dLogVars)];
      k.mixture_log_ratio_backward(dz, dLogVar, dLogits, dMeans, dLogVars, up, resp, z, logits, means, logVars, B, D, K, C);
      k.gaussian_reparameterize_backward(dMean, dLogVar, dz, logVar, epsK, B, D, K);
      const obj = (m: ArrayLike<number>, lv: ArrayLike<number>, lg: ArrayLike<number>, mu: ArrayLike<number>, lvs: ArrayLike<number>) =>
        weighted(up, (r) => ratioRef(m, lv, lg, mu, lvs, r));
      expect(maxRelErr(dMean, finiteDiff((m) => obj(m, logVar, logits, means, logVars), f64(mean)))).toBeLessThan(1e-5);
      expect(maxRelErr(dLogVar, finiteDiff((lv) => obj(mean, lv, logits, means, logVars), f64(logVar)))).toBeLessThan(1e-5);
      expect(maxRelErr(dLogits.map((v, i) => v - before[0][i]), finiteDiff((lg) => obj(mean, logVar, lg, means, logVars), f64(logits)))).toBeLessThan(1e-5);
      expect(maxRelErr(dMeans.map((v, i) => v - before[1][i]), finiteDiff((mu) => obj(mean, logVar, logits, mu, logVars), f64(means)))).toBeLessThan(1e-5);
      expect(maxRelErr(dLogVars.map((v, i) => v - before[2][i]), finiteDiff((lvs) => obj(mean, logVar, logits, means, lvs), f64(logVars)))).toBeLessThan(1e-5);
    });

    test('one standard-normal component gives the standard-normal ratio', () => {
      const z = new Float32Array(B * K * D);
      k.gaussian_reparameterize_forward(z, mean, logVar, epsK, B, D, K);
      const a = new Float32Array(B * K), b = new Float32Array(B * K);
      k.mixture_log_ratio_forward(a, new Float32Array(B * K), z, epsK, logVar, new Float32Array(1), new Float32Array(D), new Float32Array(D), B, D, K, 1);
      k.std_normal_log_ratio_forward(b, z, epsK, logVar, B, D, K);
      expect(maxRelErr(a, b)).toBeLessThan(1e-5);
    });
  });

  test('KL per dimension sums the rows; a dimension scale masks the backward (free bits)', () => {
    const dims = new Float32Array(D);
    k.gaussian_kl_std_normal_dims_forward(dims, mean, logVar, B, D);
    const ref = Array.from({ length: D }, (_, d) => {
      let s = 0;
      for (let b = 0; b < B; b++) s += 0.5 * (Math.exp(logVar[b * D + d]) + mean[b * D + d] ** 2 - 1 - logVar[b * D + d]);
      return s;
    });
    expect(maxRelErr(dims, ref)).toBeLessThan(1e-5);
    const scale = Float32Array.from({ length: D }, (_, d) => (d % 3 === 0 ? 0 : 1));
    const up = randn(B, 35);
    const dMean = randn(B * D, 36), dLogVar = randn(B * D, 37);
    const before = [f64(dMean), f64(dLogVar)];
    k.gaussian_kl_std_normal_backward(dMean, dLogVar, up, mean, logVar, B, D, scale);
    const masked = (m: ArrayLike<number>, lv: ArrayLike<number>) =>
      weighted(up, (b) => {
        let s = 0;
        for (let d = 0; d < D; d++) s += scale[d] * 0.5 * (Math.exp(lv[b * D + d]) + m[b * D + d] ** 2 - 1 - lv[b * D + d]);
        return s;
      });
    expect(maxRelErr(dMean.map((v, i) => v - before[0][i]), finiteDiff((m) => masked(m, logVar), f64(mean)))).toBeLessThan(1e-5);
    expect(maxRelErr(dLogVar.map((v, i) => v - before[1][i]), finiteDiff((lv) => masked(mean, lv), f64(logVar)))).toBeLessThan(1e-5);
  });

  const logDensityRef = (x: ArrayLike<number>, m: ArrayLike<number>, lv: ArrayLike<number>, b: number) => {
    let s = 0;
    for (let d = 0; d < D; d++) {
      const i = b * D + d;
      s += LOG2PI + lv[i] + (x[i] - m[i]) ** 2 / Math.exp(lv[i]);
    }
    return -0.5 * s;
  };

  test('diagonal log-density forward and backward', () => {
    const x = randn(B * D, 12);
    const lp = new Float32Array(B);
    k.gaussian_diag_log_density_forward(lp, x, mean, logVar, B, D);
    expect(maxRelErr(lp, Array.from({ length: B }, (_, b) => logDensityRef(x, mean, logVar, b)))).toBeLessThan(1e-5);
    const up = randn(B, 13);
    const dX = new Float32Array(B * D);
    const dM = new Float32Array(B * D);
    const dLv = new Float32Array(B * D);
    k.gaussian_diag_log_density_backward(dX, dM, dLv, up, x, mean, logVar, B, D);
    expect(maxRelErr(dX, finiteDiff((v) => weighted(up, (b) => logDensityRef(v, mean, logVar, b)), f64(x)))).toBeLessThan(1e-5);
    expect(maxRelErr(dM, finiteDiff((v) => weighted(up, (b) => logDensityRef(x, v, logVar, b)), f64(mean)))).toBeLessThan(1e-5);
    expect(maxRelErr(dLv, finiteDiff((v) => weighted(up, (b) => logDensityRef(x, mean, v, b)), f64(logVar)))).toBeLessThan(1e-5);
  });
});

describe('likelihood kernels', () => {
  const bernRef = (l: ArrayLike<number>, x: ArrayLike<number>, b: number) => {
    let s = 0;
    for (let d = 0; d < D; d++) s += softplus(l[b * D + d]) - x[b * D + d] * l[b * D + d];
    return s;
  };

  test('Bernoulli-logits NLL forward matches float64, saves sigmoid, and is stable for |logits| up to 1e4', () => {
    const logits = randn(B * D, 20, 4);
    logits[0] = 1e4;
    logits[1] = -1e4;
    logits[2] = 88.5;
    logits[3] = -90;
    const x = uniform(B * D, 21);
    const nll = new Float32Array(B);
    const probs = new Float32Array(B * D);
    k.bernoulli_logits_nll_forward(nll, probs, logits, x, B, D);
    for (const v of nll) expect(Number.isFinite(v)).toBe(true);
    expect(maxRelErr(nll, Array.from({ length: B }, (_, b) => bernRef(logits, x, b)))).toBeLessThan(2e-6);
    expect(maxRelErr(probs, Array.from(logits, sigmoid))).toBeLessThan(1e-6);
    const nullProbs = new Float32Array(B);
    k.bernoulli_logits_nll_forward(nullProbs, null, logits, x, B, D);
    expect(Array.from(nullProbs)).toEqual(Array.from(nll));
  });

  test('Bernoulli-logits NLL backward matches finite differences and accumulates', () => {
    const logits = randn(B * D, 22, 2);
    const x = uniform(B * D, 23);
    const probs = new Float32Array(B * D);
    k.bernoulli_logits_nll_forward(new Float32Array(B), probs, logits, x, B, D);
    const up = randn(B, 24);
    const dl = randn(B * D, 25);
    const before = f64(dl);
    k.bernoulli_logits_nll_backward(dl, up, probs, x, B, D);
    const g = finiteDiff((l) => weighted(up, (b) => bernRef(l, x, b)), f64(logits));
    expect(maxRelErr(dl.map((v, i) => v - before[i]), g)).toBeLessThan(1e-5);
  });

  const gaussRef = (m: ArrayLike<number>, lv: ArrayLike<number>, shape: string, x: ArrayLike<number>, b: number) => {
    let s = 0;
    for (let d = 0; d < D; d++) {
      const i = b * D + d;
      const v = shape === 'scalar' ? lv[0] : shape === 'feature' ? lv[d] : lv[i];
      s += (x[i] - m[i]) ** 2 / Math.exp(v) + v + LOG2PI;
    }
    return 0.5 * s;
  };

  test.each([
    ['scalar', 'scalar' as const, 1],
    ['per-feature', 'feature' as const, D],
    ['per-element', 'element' as const, B * D],
  ])('Gaussian NLL with a %s log-variance: forward and backward', (_name, shape, nlv) => {
    const mean = randn(B * D, 30);
    const x = randn(B * D, 31);
    const logVar = randn(nlv, 32, 0.5);
    const nll = new Float32Array(B);
    k.gaussian_nll_forward(nll, mean, logVar, shape, x, B, D);
    expect(maxRelErr(nll, Array.from({ length: B }, (_, b) => gaussRef(mean, logVar, shape, x, b)))).toBeLessThan(1e-5);
    const up = randn(B, 33);
    const dm = randn(B * D, 34);
    const dlv = randn(nlv, 35);
    const before = [f64(dm), f64(dlv)];
    k.gaussian_nll_backward(dm, dlv, up, mean, logVar, shape, x, B, D);
    const gm = finiteDiff((v) => weighted(up, (b) => gaussRef(v, logVar, shape, x, b)), f64(mean));
    const glv = finiteDiff((v) => weighted(up, (b) => gaussRef(mean, v, shape, x, b)), f64(logVar));
    expect(maxRelErr(dm.map((v, i) => v - before[0][i]), gm)).toBeLessThan(1e-5);
    expect(maxRelErr(dlv.map((v, i) => v - before[1][i]), glv)).toBeLessThan(1e-5);
  });
});

describe('Laplace, floored scale and count likelihoods', () => {
  const shapes = [
    ['scalar', 'scalar' as const, 1],
    ['per-feature', 'feature' as const, D],
    ['per-element', 'element' as const, B * D],
  ] as const;
  const laplaceRef = (m: ArrayLike<number>, s: ArrayLike<number>, shape: string, x: ArrayLike<number>, b: number) => {
    let t = 0;
    for (let d = 0; d < D; d++) {
      const i = b * D + d;
      const v = shape === 'scalar' ? s[0] : shape === 'feature' ? s[d] : s[i];
      t += Math.abs(x[i] - m[i]) / Math.exp(v) + v + Math.LN2;
    }
    return t;
  };

  test.each(shapes)('Laplace NLL with a %s log-scale: forward and backward', (_name, shape, ns) => {
    const mean = randn(B * D, 130);
    const x = randn(B * D, 131);
    const logScale = randn(ns, 132, 0.5);
    const nll = new Float32Array(B);
    k.laplace_nll_forward(nll, mean, logScale, shape, x, B, D);
    expect(maxRelErr(nll, Array.from({ length: B }, (_, b) => laplaceRef(mean, logScale, shape, x, b)))).toBeLessThan(1e-5);
    const up = randn(B, 133);
    const dm = randn(B * D, 134);
    const ds = randn(ns, 135);
    const before = [f64(dm), f64(ds)];
    k.laplace_nll_backward(dm, ds, up, mean, logScale, shape, x, B, D);
    const gm = finiteDiff((v) => weighted(up, (b) => laplaceRef(v, logScale, shape, x, b)), f64(mean));
    const gs = finiteDiff((v) => weighted(up, (b) => laplaceRef(mean, v, shape, x, b)), f64(logScale));
    expect(maxRelErr(dm.map((v, i) => v - before[0][i]), gm)).toBeLessThan(1e-5);
    expect(maxRelErr(ds.map((v, i) => v - before[1][i]), gs)).toBeLessThan(1e-5);
  });

  test('floored log-scale: log(exp(raw) + exp(floor)), never below the floor; backward', () => {
    const n = 40;
    const raw = randn(n, 140, 4);
    const floor = Math.log(0.01 ** 2);
    const out = new Float32Array(n);
    k.floored_log_forward(out, raw, floor, n);
    const ref = (r: ArrayLike<number>) => Array.from(r, (v) => Math.log(Math.exp(v) + Math.exp(floor)));
    expect(maxRelErr(out, ref(raw))).toBeLessThan(1e-6);
    for (const v of out) expect(v).toBeGreaterThanOrEqual(floor - 1e-6);
    const up = randn(n, 141);
    const dr = randn(n, 142);
    const before = f64(dr);
    k.floored_log_backward(dr, up, raw, floor, n);
    const g = finiteDiff((r) => ref(r).reduce((a, v, i) => a + up[i] * v, 0), f64(raw));
    expect(maxRelErr(dr.map((v, i) => v - before[i]), g)).toBeLessThan(1e-5);
  });

  // Counts: mostly small with many zeros, a few large; log-means and offsets of either sign.
  const counts = Float32Array.from(uniform(B * D, 150), (u, i) => (u < 0.35 ? 0 : Math.floor(-Math.log(1 - u) * (i % 3 === 0 ? 20 : 3))));
  const logMean = randn(B * D, 151, 0.8);
  const offset = randn(B, 152, 0.7);
  const logTheta = randn(D, 153, 0.8);
  const dropout = randn(B * D, 154, 1.2);

  const poissonRef = (lr: ArrayLike<number>, off: ArrayLike<number> | null, b: number) => {
    let t = 0;
    for (let d = 0; d < D; d++) {
      const i = b * D + d;
      const eta = lr[i] + (off ? off[b] : 0);
      t += Math.exp(eta) - counts[i] * eta + lgammaRef(counts[i] + 1);
    }
    return t;
  };

  test.each([['with', offset], ['without', null]] as const)('Poisson NLL %s a log-library offset: forward, backward', (_n, off) => {
    const nll = new Float32Array(B);
    k.poisson_nll_forward(nll, logMean, off, counts, B, D);
    expect(maxRelErr(nll, Array.from({ length: B }, (_, b) => poissonRef(logMean, off, b)))).toBeLessThan(1e-5);
    const up = randn(B, 155);
    const dl = randn(B * D, 156);
    const before = f64(dl);
    k.poisson_nll_backward(dl, up, logMean, off, counts, B, D);
    const g = finiteDiff((v) => weighted(up, (b) => poissonRef(v, off, b)), f64(logMean));
    expect(maxRelErr(dl.map((v, i) => v - before[i]), g)).toBeLessThan(1e-5);
  });

  const nbRef = (lm: ArrayLike<number>, lt: ArrayLike<number>, h: ArrayLike<number> | null, b: number) => {
    let t = 0;
    for (let d = 0; d < D; d++) {
      const i = b * D + d;
      const x = counts[i];
      const mu = Math.exp(lm[i] + offset[b]), theta = Math.exp(lt[d]);
      const logNb = lgammaRef(x + theta) - lgammaRef(theta) - lgammaRef(x + 1) + theta * Math.log(theta / (theta + mu)) + x * Math.log(mu / (theta + mu));
      if (!h) t -= logNb;
      else {
        const pi = sigmoid(h[i]);
        t -= x > 0 ? Math.log(1 - pi) + logNb : Math.log(pi + (1 - pi) * Math.exp(logNb));
      }
    }
    return t;
  };

  test.each([['NB', null], ['ZINB', dropout]] as const)('%s NLL: forward against the pmf, backward for log-mean, log θ and dropout', (_n, h) => {
    const nll = new Float32Array(B);
    k.nb_nll_forward(nll, logMean, logTheta, h, offset, counts, B, D);
    expect(maxRelErr(nll, Array.from({ length: B }, (_, b) => nbRef(logMean, logTheta, h, b)))).toBeLessThan(1e-5);
    const up = randn(B, 157);
    const dm = randn(B * D, 158), dt = randn(D, 159), dh = randn(B * D, 160);
    const before = [f64(dm), f64(dt), f64(dh)];
    k.nb_nll_backward(dm, dt, h ? dh : null, up, logMean, logTheta, h, offset, counts, B, D);
    const gm = finiteDiff((v) => weighted(up, (b) => nbRef(v, logTheta, h, b)), f64(logMean));
    const gt = finiteDiff((v) => weighted(up, (b) => nbRef(logMean, v, h, b)), f64(logTheta));
    expect(maxRelErr(dm.map((v, i) => v - before[0][i]), gm)).toBeLessThan(1e-5);
    expect(maxRelErr(dt.map((v, i) => v - before[1][i]), gt)).toBeLessThan(1e-5);
    if (h) {
      const gh = finiteDiff((v) => weighted(up, (b) => nbRef(logMean, logTheta, v, b)), f64(h));
      expect(maxRelErr(dh.map((v, i) => v - before[2][i]), gh)).toBeLessThan(1e-5);
    } else expect(Array.from(dh)).toEqual(Array.from(before[2]));
  });

  test('NB with a large θ approaches the Poisson NLL', () => {
    const nbNll = new Float32Array(B), poisNll = new Float32Array(B);
    k.nb_nll_forward(nbNll, logMean, new Float32Array(D).fill(Math.log(1e7)), null, offset, counts, B, D);
    k.poisson_nll_forward(poisNll, logMean, offset, counts, B, D);
    expect(maxRelErr(nbNll, poisNll)).toBeLessThan(1e-4);
  });
});

describe('dense layer', () => {
  const I = 11;
  const O = 9;
  const acts: Array<[string, Activation, (a: number) => number]> = [
    ['identity', 'identity', (a) => a],
    ['relu', 'relu', (a) => Math.max(a, 0)],
    ['tanh', 'tanh', Math.tanh],
    ['leaky_relu', 'leaky_relu', (a) => (a > 0 ? a : 0.01 * a)],
    ['softplus', 'softplus', softplus],
  ];
  const x = randn(B * I, 40);
  const W = randn(I * O, 41, 0.4);
  const bias = randn(O, 42, 0.3);
  const forwardRef = (xv: ArrayLike<number>, Wv: ArrayLike<number>, bv: ArrayLike<number>, act: (a: number) => number) => {
    const y = new Float64Array(B * O);
    for (let r = 0; r < B; r++)
      for (let o = 0; o < O; o++) {
        let s = bv[o];
        for (let i = 0; i < I; i++) s += xv[r * I + i] * Wv[i * O + o];
        y[r * O + o] = act(s);
      }
    return y;
  };

  test.each(acts)('%s: forward matches float64 and backward matches finite differences', (_n, code, act) => {
    const y = new Float32Array(B * O);
    k.dense_forward(y, x, W, bias, B, I, O, code);
    expect(maxRelErr(y, forwardRef(x, W, bias, act))).toBeLessThan(5e-6);
    const up = randn(B * O, 43);
    const obj = (xv: ArrayLike<number>, Wv: ArrayLike<number>, bv: ArrayLike<number>) =>
      forwardRef(xv, Wv, bv, act).reduce((s, v, i) => s + v * up[i], 0);
    const dX = randn(B * I, 44);
    const dW = randn(I * O, 45);
    const dB = randn(O, 46);
    const before = [f64(dX), f64(dW), f64(dB)];
    const dY = f32(up);
    k.dense_backward(dX, dW, dB, dY, x, W, y, B, I, O, code, true);
    const h = 1e-6; // ReLU kinks: inputs are continuous random, so no pre-activation lies within h of 0
    expect(maxRelErr(dX.map((v, i) => v - before[0][i]), finiteDiff((v) => obj(v, W, bias), f64(x), h))).toBeLessThan(1e-4);
    // d_W and d_b are written, not accumulated (what they held before is gone); d_x accumulates when asked
    expect(before[1].some((v) => v !== 0)).toBe(true);
    expect(maxRelErr(dW, finiteDiff((v) => obj(x, v, bias), f64(W), h))).toBeLessThan(1e-4);
    expect(maxRelErr(dB, finiteDiff((v) => obj(x, W, v), f64(bias), h))).toBeLessThan(1e-4);
    // accumulateDx = false overwrites d_x instead of adding
    const dX2 = randn(B * I, 47);
    k.dense_backward(dX2, new Float32Array(I * O), new Float32Array(O), f32(up), x, W, y, B, I, O, code, false);
    expect(maxRelErr(dX2, dX.map((v, i) => v - before[0][i]))).toBeLessThan(1e-6);
  });
});

describe('gemm', () => {
  test.each([
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ])('transA=%s transB=%s matches float64 (alpha, beta honoured)', (ta, tb) => {
    const M = 17, N = 23, K = 31;
    const A = randn(M * K, 50);
    const Bm = randn(K * N, 51);
    const C = randn(M * N, 52);
    const ref = new Float64Array(M * N);
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let p = 0; p < K; p++) s += (ta ? A[p * M + i] : A[i * K + p]) * (tb ? Bm[j * K + p] : Bm[p * N + j]);
        ref[i * N + j] = 0.5 * s + 2 * C[i * N + j];
      }
    k.gemm(ta, tb, M, N, K, 0.5, A, Bm, 2, C);
    expect(maxRelErr(C, ref)).toBeLessThan(1e-5);
  });
});

describe('Adam', () => {
  test.each([0, 0.1])('weight decay %s: three steps match the PyTorch formulation in float64, grad cleared', (wd) => {
    const n = 100;
    const p = randn(n, 60);
    const m = new Float32Array(n);
    const v = new Float32Array(n);
    const ref = { p: f64(p), m: new Float64Array(n), v: new Float64Array(n) };
    const hyper = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: wd };
    for (let t = 1; t <= 3; t++) {
      const g = randn(n, 60 + t);
      for (let i = 0; i < n; i++) {
        ref.p[i] *= 1 - hyper.lr * wd; // AdamW: decoupled decay
        ref.m[i] = 0.9 * ref.m[i] + 0.1 * g[i];
        ref.v[i] = 0.999 * ref.v[i] + 0.001 * g[i] * g[i];
        const mhat = ref.m[i] / (1 - 0.9 ** t);
        const vhat = ref.v[i] / (1 - 0.999 ** t);
        ref.p[i] -= (hyper.lr * mhat) / (Math.sqrt(vhat) + hyper.eps);
      }
      k.adam_step(p, m, v, g, n, hyper, t, true);
      expect(g.every((x) => x === 0)).toBe(true);
    }
    expect(maxRelErr(p, ref.p)).toBeLessThan(1e-5);
  });
});

describe('Philox RNG', () => {
  test('normal draws have mean 0, variance 1 and no lag-1 correlation', () => {
    const n = 1 << 20;
    const z = new Float32Array(n);
    k.rng_normal_fill(z, n, 7, 3, 0);
    let s = 0, s2 = 0, lag = 0;
    for (let i = 0; i < n; i++) {
      s += z[i];
      s2 += z[i] * z[i];
      if (i > 0) lag += z[i] * z[i - 1];
    }
    expect(Math.abs(s / n)).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(s2 / n - 1)).toBeLessThan(0.01);
    expect(Math.abs(lag / n)).toBeLessThan(5 / Math.sqrt(n));
  });

  test('a draw depends only on (seed, stream, index): offsets, thread counts and sizes agree', () => {
    const n = 3_000_000; // large enough for the parallel path
    k.set_threads(1);
    const one = new Float32Array(n);
    k.rng_normal_fill(one, n, 11, 5, 0);
    k.set_threads(2);
    const two = new Float32Array(n);
    k.rng_normal_fill(two, n, 11, 5, 0);
    k.set_threads(0);
    expect(Buffer.from(one.buffer).equals(Buffer.from(two.buffer))).toBe(true);
    const part = new Float32Array(10);
    k.rng_normal_fill(part, 10, 11, 5, 12345);
    expect(Array.from(part)).toEqual(Array.from(one.subarray(12345, 12355)));
    const other = new Float32Array(10);
    k.rng_normal_fill(other, 10, 12, 5, 12345);
    expect(Array.from(other)).not.toEqual(Array.from(part));
  });

  test('uniform draws lie in [0, 1) with mean 1/2; permutations are permutations', () => {
    const u = new Float32Array(100000);
    k.rng_uniform_fill(u, u.length, 1, 1, 0);
    expect(u.every((v) => v >= 0 && v < 1)).toBe(true);
    expect(Math.abs(u.reduce((a, b) => a + b, 0) / u.length - 0.5)).toBeLessThan(0.005);
    const perm = new BigInt64Array(1000);
    k.rng_permutation(perm, 1000, 3, 0);
    expect(new Set(Array.from(perm, Number)).size).toBe(1000);
    expect(Array.from(perm, Number).every((v) => v >= 0 && v < 1000)).toBe(true);
    expect(Array.from(perm.subarray(0, 10), Number)).not.toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});

describe('log-sum-exp over rows', () => {
  test('forward is stable (rows at ±1000) and backward is the softmax', () => {
    const x = randn(B * D, 70, 3);
    x[0] = 1000;
    x[D] = -1000;
    const out = new Float32Array(B);
    k.logsumexp_rows_forward(out, x, B, D);
    const ref = (v: ArrayLike<number>, b: number) => {
      let mx = -Infinity;
      for (let d = 0; d < D; d++) mx = Math.max(mx, v[b * D + d]);
      let s = 0;
      for (let d = 0; d < D; d++) s += Math.exp(v[b * D + d] - mx);
      return mx + Math.log(s);
    };
    expect(maxRelErr(out, Array.from({ length: B }, (_, b) => ref(x, b)))).toBeLessThan(1e-6);
    const up = randn(B, 71);
    const dx = new Float32Array(B * D);
    k.logsumexp_rows_backward(dx, up, x, out, B, D);
    const xs = f64(x);
    xs[0] = 2; // finite differences need moderate values; the gradient is the same softmax formula
    xs[D] = -2;
    const x2 = f32(xs);
    const out2 = new Float32Array(B);
    k.logsumexp_rows_forward(out2, x2, B, D);
    const dx2 = new Float32Array(B * D);
    k.logsumexp_rows_backward(dx2, up, x2, out2, B, D);
    expect(maxRelErr(dx2, finiteDiff((v) => weighted(up, (b) => ref(v, b)), xs))).toBeLessThan(1e-5);
  });
});

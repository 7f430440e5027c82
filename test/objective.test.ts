// objective.test.ts — the training objective alone (native/models/objective.h): a pure function from per-row
// terms (NLL per draw, log ratio per draw, closed-form KL per row, KL per dimension) to the loss and the gradient of
// its batch mean. Its value against a float64 evaluation of the formulas, its gradient against central finite
// differences of its own value, for ELBO (closed-form and Monte-Carlo KL, several draws, β), IWAE and free bits.
import { native } from '../lib/native';
import { randn } from './helpers';

interface Case { objective: 'elbo' | 'iwae'; K: number; klWeight: number; freeBits?: number; mc?: boolean }
const B = 5, L = 4;

/** loss sum in float64, straight from the definitions. */
function reference(c: Case, nll: Float32Array, ratio: Float32Array, kl: Float32Array, klDims: Float32Array): number {
  let loss = 0;
  for (let b = 0; b < B; b++) {
    if (c.objective === 'iwae') {
      const lw = Array.from({ length: c.K }, (_, k) => -nll[b * c.K + k] + c.klWeight * ratio[b * c.K + k]);
      const m = Math.max(...lw);
      loss -= m + Math.log(lw.reduce((s, v) => s + Math.exp(v - m), 0) / c.K);
    } else {
      for (let k = 0; k < c.K; k++) loss += nll[b * c.K + k] / c.K;
      if (!c.freeBits) loss += c.klWeight * (c.mc ? -Array.from({ length: c.K }, (_, k) => ratio[b * c.K + k]).reduce((s, v) => s + v, 0) / c.K : kl[b]);
    }
  }
  if (c.freeBits) for (let d = 0; d < L; d++) loss += c.klWeight * B * Math.max(klDims[d] / B, c.freeBits);
  return loss;
}

const cases: Array<[string, Case]> = [
  ['ELBO, one draw, closed-form KL', { objective: 'elbo', K: 1, klWeight: 1 }],
  ['ELBO, 3 draws, β = 0.4', { objective: 'elbo', K: 3, klWeight: 0.4 }],
  ['ELBO, 2 draws, Monte-Carlo KL (mixture prior)', { objective: 'elbo', K: 2, klWeight: 0.7, mc: true }],
  ['IWAE k = 4', { objective: 'iwae', K: 4, klWeight: 1 }],
  ['IWAE k = 3, KL weight 0.3', { objective: 'iwae', K: 3, klWeight: 0.3 }],
  ['free bits λ = 0.5, some dimensions under the floor', { objective: 'elbo', K: 2, klWeight: 1, freeBits: 0.5 }],
];

test.each(cases)('%s: value and gradient', (_name, c) => {
  const R = B * c.K;
  const nll = Float32Array.from(randn(R, 1), (v) => 50 + 10 * v);
  const ratio = Float32Array.from(randn(R, 2), (v) => -3 + v);
  const kl = Float32Array.from(randn(B, 3), (v) => 3 + v);
  const klDims = Float32Array.of(0.5 * B * 0.2, 0.5 * B * 3, 0.5 * B * 0.9, 0.5 * B * 1.6); // batch sums: means 0.1, 1.5, 0.45, 0.8
  const needRatio = c.objective === 'iwae' || c.mc;
  const run = (n: Float32Array, r: Float32Array, k: Float32Array, kd: Float32Array) => {
    const dNll = new Float32Array(R), dRatio = needRatio ? new Float32Array(R) : null, dimScale = c.freeBits ? new Float32Array(L) : null;
    const out = native().VaeNative.objective(dNll, dRatio, dimScale, n, needRatio ? r : null, c.mc ? null : k, c.freeBits ? kd : null, B, L,
      { objective: c.objective, samples: c.K, klWeight: c.klWeight, freeBits: c.freeBits ?? 0 });
    return { ...out, dNll, dRatio, dimScale };
  };
  const r0 = run(nll, ratio, kl, klDims);
  expect(r0.loss).toBeCloseTo(reference(c, nll, ratio, kl, klDims), 3);
  if (c.freeBits) expect(Array.from(r0.dimScale!)).toEqual([0, 1, 0, 1]);
  // Central differences of the batch-mean loss, term by term.
  const h = 1e-2;
  const fd = (arr: Float32Array, i: number, args: () => Parameters<typeof run>) => {
    const keep = arr[i];
    arr[i] = keep + h;
    const up = run(...args()).loss;
    arr[i] = keep - h;
    const down = run(...args()).loss;
    arr[i] = keep;
    return (up - down) / (2 * h) / B;
  };
  const all = () => [nll, ratio, kl, klDims] as Parameters<typeof run>;
  for (let i = 0; i < R; i++) {
    expect(r0.dNll[i]).toBeCloseTo(fd(nll, i, all), 4);
    if (needRatio) expect(r0.dRatio![i]).toBeCloseTo(fd(ratio, i, all), 4);
  }
  if (!c.mc && c.objective === 'elbo' && !c.freeBits) for (let b = 0; b < B; b++) expect(r0.dKl).toBeCloseTo(fd(kl, b, all), 4);
  if (c.freeBits) for (let d = 0; d < L; d++) expect(r0.dKl * r0.dimScale![d]).toBeCloseTo(fd(klDims, d, all), 4);
});

test('bad terms are refused by name; a non-finite loss has its code', () => {
  const V = native().VaeNative;
  const f = (n: number) => new Float32Array(n);
  const step = (K: number) => ({ objective: 'elbo' as const, samples: K, klWeight: 1, freeBits: 0 });
  expect(() => V.objective(f(4), null, null, f(3), null, f(2), null, 2, 1, step(2))).toThrow(/for nll/);
  expect(() => V.objective(f(4), f(4), null, f(4), null, f(2), null, 2, 1, step(2))).toThrow(/for dRatio/);
  expect(() => V.objective(f(4), null, null, f(4), null, null, null, 2, 1, step(2))).toThrow(/needs log ratios/);
  expect(() => V.objective(f(2), null, null, Float32Array.of(NaN, 1), null, f(2), null, 2, 1, step(1))).toThrow(expect.objectContaining({ code: 'LATENTKIT_NON_FINITE_LOSS' }));
});

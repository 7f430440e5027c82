// classical-control.test.ts — the classical fits run as the one async job shape: an AbortSignal cancels a running
// GaussianMixture / PPCA / FactorAnalysis fit (LATENTKIT_CANCELLED, the model left as it was), progress reports
// each EM iteration's mean log-likelihood on the event loop, and a throwing progress callback stops the fit with
// its error.
import { FactorAnalysis, PPCA } from '../lib/models/linear';
import { GaussianMixture } from '../lib/models/mixture';
import { randn } from './helpers';

const data = (rows: number, cols: number, seed: number) => ({ data: randn(rows * cols, seed), rows, cols });

describe('GaussianMixture.fit', () => {
  test('progress reports iterations in order, with the lower bounds the fit records', async () => {
    const reports: Array<{ init: number; iteration: number; logLikelihood: number }> = [];
    const g = await new GaussianMixture({ nComponents: 3, covarianceType: 'diag', maxIter: 40, tol: 0, seed: 1 }).fit(data(3000, 4, 1), { progress: (p) => reports.push(p) });
    expect(reports.length).toBeGreaterThan(0);
    expect(reports[0]).toMatchObject({ init: 0, iteration: 1 });
    for (let i = 1; i < reports.length; i++) expect(reports[i].iteration).toBeGreaterThan(reports[i - 1].iteration);
    for (const r of reports) expect(r.logLikelihood).toBeCloseTo(g.lowerBounds[r.iteration - 1], 10);
  });

  test('an AbortSignal stops a long fit within a moment; the model stays unfitted', async () => {
    const g = new GaussianMixture({ nComponents: 16, covarianceType: 'full', maxIter: 100000, tol: 0, seed: 2, threads: 1 });
    const ac = new AbortController();
    let iterations = 0;
    const t0 = performance.now();
    const fit = g.fit(data(20000, 16, 2), { signal: ac.signal, progress: (p) => { iterations = p.iteration; if (iterations >= 2) ac.abort(); } });
    await expect(fit).rejects.toMatchObject({ code: 'LATENTKIT_CANCELLED', message: expect.stringMatching(/GaussianMixture\.fit was cancelled by its AbortSignal/) });
    expect(performance.now() - t0).toBeLessThan(20000);
    expect(iterations).toBeGreaterThanOrEqual(2);
    expect(() => g.predict(data(2, 16, 3))).toThrow(expect.objectContaining({ code: 'LATENTKIT_NOT_FITTED' }));
  });

  test('a signal already aborted refuses to start; bad options name the option', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(new GaussianMixture({ nComponents: 2 }).fit(data(50, 2, 4), { signal: ac.signal })).rejects.toMatchObject({ code: 'LATENTKIT_CANCELLED' });
    await expect(new GaussianMixture({ nComponents: 2 }).fit(data(50, 2, 4), { signal: 'stop' as never })).rejects.toThrow(/for signal/);
    await expect(new GaussianMixture({ nComponents: 2 }).fit(data(50, 2, 4), { progress: 3 as never })).rejects.toThrow(/for progress/);
    await expect(new GaussianMixture({ nComponents: 2 }).fit(data(50, 2, 4), { onEpoch: 3 } as never)).rejects.toThrow(/fitOptions\.onEpoch/);
  });

  test('a throwing progress callback stops the fit and rejects with its error', async () => {
    const fit = new GaussianMixture({ nComponents: 2, maxIter: 1000, tol: 0 }).fit(data(2000, 3, 5), { progress: () => { throw new Error('stop here'); } });
    await expect(fit).rejects.toThrow('stop here');
  });
});

describe('PPCA and FactorAnalysis fits', () => {
  test.each([
    ['PPCA (EM)', () => new PPCA({ nComponents: 2, method: 'em', tol: 0, maxIter: 100000, threads: 1 })],
    ['FactorAnalysis (SVD)', () => new FactorAnalysis({ nComponents: 2, tol: 0, maxIter: 100000, threads: 1 })],
    ['FactorAnalysis (EM)', () => new FactorAnalysis({ nComponents: 2, method: 'em', tol: 0, maxIter: 100000, threads: 1 })],
  ])('%s: progress, then cancellation by the signal', async (_name, make) => {
    const m = make();
    const ac = new AbortController();
    const seen: number[] = [];
    // 160 columns of unstructured noise: slow to converge, and each iteration takes milliseconds.
    const fit = m.fit(data(4000, 160, 6), { signal: ac.signal, progress: (p) => { seen.push(p.iteration); expect(Number.isFinite(p.logLikelihood)).toBe(true); ac.abort(); } });
    await expect(fit).rejects.toMatchObject({ code: 'LATENTKIT_CANCELLED' });
    expect(seen[0]).toBe(1);
    expect(() => m.transform(data(2, 160, 7))).toThrow(expect.objectContaining({ code: 'LATENTKIT_NOT_FITTED' }));
  });
});

// inference-async.test.ts — encodeAsync / decodeAsync / reconstructAsync / sampleAsync (models/vae/inference.ts):
// the same bits as the synchronous calls for every sampling mode, conditional and count models; the event loop runs
// on while a large one computes (the synchronous call holds it for the whole call); many at once on one model and
// beside synchronous calls; refused during the model's training epoch and refusing what would change the model
// under them; inputs copied (a transferred buffer cannot be freed under the job); bad input rejects naming it.
import { Matrix } from '../lib/matrix';
import { GaussianMixture } from '../lib/models/mixture';
import { Vae } from '../lib/models/vae';
import { JOB_INPUT_BYTES } from '../lib/models/vae/inference';
import { native } from '../lib/native';
import { randn, uniform } from './helpers';

const D = 64, L = 6;
const x = (rows: number, seed: number): Matrix => ({ data: uniform(rows * D, seed), rows, cols: D });
const z = (rows: number, seed: number): Matrix => ({ data: randn(rows * L, seed), rows, cols: L });
// The two results' bytes are equal (Buffer comparison: jest's toEqual on arrays of millions of numbers takes seconds).
const bytes = (m: Matrix) => Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
function expectSameBits(a: Matrix, b: Matrix): void {
  expect([a.rows, a.cols]).toEqual([b.rows, b.cols]);
  expect(bytes(a).equals(bytes(b))).toBe(true);
}

describe('async inference gives the synchronous results bit for bit', () => {
  const vae = new Vae({ inputDim: D, latentDim: L, hidden: [32], seed: 3 });
  const precisions = native().info().bf16Native ? (['fp32', 'bf16'] as const) : (['fp32'] as const);

  test.each(precisions)('encode, decode, reconstruct (%s)', async (precision) => {
    const xs = x(300, 1), zs = z(300, 2);
    const e = vae.encode(xs, null, { precision }), ea = await vae.encodeAsync(xs, null, { precision });
    expectSameBits(ea.mean, e.mean);
    expectSameBits(ea.logVar, e.logVar);
    expect([ea.mean.rows, ea.mean.cols]).toEqual([300, L]);
    const d = await vae.decodeAsync(zs, null, { precision });
    expect([d.rows, d.cols]).toEqual([300, D]);
    expectSameBits(d, vae.decode(zs, null, { precision }));
    expectSameBits(await vae.reconstructAsync(xs, null, { precision }), vae.reconstruct(xs, null, { precision }));
  });

  test('an input larger than one job takes (JOB_INPUT_BYTES) is split, and gives the same bits', async () => {
    const rows = Math.floor((1.5 * JOB_INPUT_BYTES) / (4 * D)); // 1.5 jobs' worth, not a multiple of the native pass
    const xs = x(rows, 11);
    const c = new Vae({ inputDim: D, latentDim: L, hidden: [32], conditionDim: 2, seed: 4 });
    const cond = { data: uniform(rows * 2, 12), rows, cols: 2 };
    const [e, ea] = [c.encode(xs, cond), await c.encodeAsync(xs, cond)];
    expectSameBits(ea.mean, e.mean);
    expectSameBits(ea.logVar, e.logVar);
    expectSameBits(await c.reconstructAsync(xs, cond), c.reconstruct(xs, cond));
  }, 60000);

  test('sample in every mode', async () => {
    const data = x(50, 4);
    const mixture = await new GaussianMixture({ nComponents: 2, seed: 0 }).fit(vae.encode(data).mean);
    for (const options of [{ mode: 'mean' as const, seed: 1 }, { mode: 'ancestral' as const, seed: 2 }, { mode: 'aggregate' as const, data, seed: 3 },
      { mode: 'aggregate' as const, latentMixture: mixture, seed: 4 }])
      expectSameBits(await vae.sampleAsync(20, options), vae.sample(20, options));
    expect((await vae.sampleAsync(0)).rows).toBe(0);
  });

  test('conditional and count models (library-scaled reconstruction, ancestral counts)', async () => {
    const cvae = new Vae({ inputDim: D, latentDim: L, hidden: [16], conditionDim: 3, seed: 5 });
    const c = { data: uniform(40 * 3, 6), rows: 40, cols: 3 };
    expectSameBits(await cvae.reconstructAsync(x(40, 7), c), cvae.reconstruct(x(40, 7), c));
    expectSameBits(await cvae.sampleAsync(40, { condition: [[0, 1, 0]], mode: 'ancestral' }), cvae.sample(40, { condition: [[0, 1, 0]], mode: 'ancestral' }));
    const counts = new Vae({ inputDim: D, latentDim: L, hidden: [16], likelihood: 'zinb', library: 'observed', seed: 6 });
    const xc: Matrix = { data: Float32Array.from(uniform(30 * D, 8), (v) => Math.floor(5 * v)), rows: 30, cols: D };
    expectSameBits(await counts.reconstructAsync(xc), counts.reconstruct(xc));
    expectSameBits(await counts.sampleAsync(30, { mode: 'ancestral', library: 100 }), counts.sample(30, { mode: 'ancestral', library: 100 }));
  });
});

test('the event loop runs on during a large async decode; the synchronous one holds it throughout', async () => {
  const big = new Vae({ inputDim: 784, latentDim: 20, hidden: [400], seed: 0 });
  const zs = { data: randn(40000 * 20, 9), rows: 40000, cols: 20 };
  // The largest gap between the ticks of a 2 ms interval timer while the call runs (and until the next tick).
  const timed = async (call: () => unknown) => {
    let last = performance.now(), maxGap = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
    }, 2);
    await new Promise((r) => setTimeout(r, 10));
    const t0 = performance.now();
    await call();
    const ms = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 10));
    clearInterval(ticker);
    return { ms, maxDelayMs: maxGap };
  };
  const sync = await timed(() => big.decode(zs));
  const async_ = await timed(() => big.decodeAsync(zs));
  console.log(`40,000-row decode of 784-400-20: synchronous ${sync.ms.toFixed(0)} ms with the loop held ${sync.maxDelayMs.toFixed(0)} ms; ` +
    `async ${async_.ms.toFixed(0)} ms with the loop's largest delay ${async_.maxDelayMs.toFixed(0)} ms`);
  expect(sync.maxDelayMs).toBeGreaterThan(0.8 * sync.ms); // the synchronous call held the loop for all of it
  expect(async_.maxDelayMs).toBeLessThan(Math.max(50, 0.25 * async_.ms)); // the async one only for copies in and out
}, 60000);

describe('async inference beside other calls', () => {
  test('many at once on one model, and synchronous calls beside them', async () => {
    const vae = new Vae({ inputDim: D, latentDim: L, hidden: [32], seed: 7 });
    const zs = [0, 1, 2, 3].map((s) => z(2000, 10 + s));
    const running = zs.map((m) => vae.decodeAsync(m));
    const inline = vae.encode(x(5, 1)); // reads beside the jobs
    expect(() => vae.setParameters(vae.parameters().flat)).toThrow(expect.objectContaining({ code: 'LATENTKIT_BUSY' }));
    await expect(vae.fit(x(64, 2), { epochs: 1 })).rejects.toMatchObject({ code: 'LATENTKIT_BUSY' });
    const out = await Promise.all(running);
    out.forEach((m, i) => expectSameBits(m, vae.decode(zs[i])));
    expectSameBits(inline.mean, vae.encode(x(5, 1)).mean);
    await vae.fit(x(64, 2), { epochs: 1 }); // idle again
  });

  test("refused while the model's epoch runs (as encode is)", async () => {
    const vae = new Vae({ inputDim: D, latentDim: L, hidden: [32], seed: 8 });
    const fit = vae.fit(x(20000, 3), { epochs: 1, batchSize: 16 });
    await new Promise((r) => setTimeout(r, 30));
    await expect(vae.encodeAsync(x(2, 1))).rejects.toMatchObject({ code: 'LATENTKIT_BUSY' });
    await expect(vae.sampleAsync(2)).rejects.toMatchObject({ code: 'LATENTKIT_BUSY' });
    await fit;
  });

  test('an input transferred away after the call does not change the result', async () => {
    const vae = new Vae({ inputDim: D, latentDim: L, hidden: [32], seed: 9 });
    const xs = x(3000, 5);
    const expected = vae.encode(xs).mean;
    const job = vae.encodeAsync(xs);
    structuredClone(xs.data.buffer, { transfer: [xs.data.buffer] }); // detaches and frees x's memory
    expect(xs.data.length).toBe(0);
    expectSameBits((await job).mean, expected);
  });

  test('bad input rejects, naming the argument', async () => {
    const vae = new Vae({ inputDim: D, latentDim: L, hidden: [32] });
    await expect(vae.encodeAsync({ data: new Float32Array(10), rows: 2, cols: 5 })).rejects.toThrow(/for x/);
    await expect(vae.decodeAsync([[1, 2]])).rejects.toThrow(/for z/);
    await expect(vae.sampleAsync(-1)).rejects.toThrow(/for n/);
    await expect(vae.decodeAsync(z(1, 1), null, { precision: 'fp64' as never })).rejects.toThrow(/precision/);
    await expect(vae.reconstructAsync(x(1, 1), [[1]])).rejects.toThrow(/condition/);
  });
});

// process-safety.test.ts — ending a process or a worker while a native job runs, and async jobs whose input
// ArrayBuffers are transferred (detached and freed) while they run. Each of these crashed the process before
// the per-environment job registry (native/binding/async_job.h) and the copies that async jobs own.
import { spawnSync } from 'child_process';
import * as path from 'path';
import { GaussianMixture, PPCA, Vae, native } from '../lib';
import { ensureDist } from './scripts/dist';
import { randn } from './helpers';

const SCRIPT = path.join(__dirname, 'scripts', 'exit-during-job.js');

function run(job: string, delay: number, how: string) {
  const r = spawnSync(process.execPath, [SCRIPT, job, String(delay), how], { encoding: 'utf8', timeout: 60000 });
  return { status: r.status, signal: r.signal, out: r.stdout + r.stderr };
}

beforeAll(() => ensureDist(), 120000);

describe('ending the process or a worker during a native job', () => {
  test.each([
    ['fit', 'exit', [40, 150, 300, 600]],
    ['elbo', 'exit', [100, 400]],
    ['gmm', 'exit', [100, 400]],
    ['fit', 'worker', [150, 500]],
    ['elbo', 'worker', [300]],
    ['gmm', 'worker', [300]],
    ['fit', 'worker-exit', [200, 500]],
  ])('%s job, %s', (job, how, delays) => {
    for (const delay of delays as number[]) {
      const r = run(job as string, delay, how as string);
      expect({ delay, status: r.status, signal: r.signal }).toEqual({ delay, status: 0, signal: null });
      if (how !== 'exit') expect(r.out).toContain('alive');
    }
  });
});

describe('async jobs own what they read', () => {
  const detach = (a: Float32Array) => structuredClone(a.buffer, { transfer: [a.buffer] });
  // Fill the heap where the freed buffers were, so a job still reading them would see other numbers.
  const churn = (n: number) => {
    for (let i = 0; i < 20; i++) new Float32Array(n).fill(1e30);
  };

  test('vae.elbo with its data transferred while it runs equals the plain result', async () => {
    const rows = 3000, d = 64;
    const vae = new Vae({ inputDim: d, latentDim: 4, hidden: [32], likelihood: 'gaussian' });
    const x = randn(rows * d, 1);
    const want = await vae.elbo({ data: x.slice(), rows, cols: d }, { samples: 8 });
    const p = vae.elbo({ data: x, rows, cols: d }, { samples: 8 });
    detach(x);
    churn(rows * d);
    expect(x.length).toBe(0);
    expect(Array.from((await p).elbo)).toEqual(Array.from(want.elbo));
  });

  test('GaussianMixture.fit and PPCA.fit with their data transferred equal the plain fits', async () => {
    const rows = 20000, d = 8;
    const x = randn(rows * d, 2);
    const want = await new GaussianMixture({ nComponents: 3, seed: 1, threads: 1 }).fit({ data: x.slice(), rows, cols: d });
    const p = new GaussianMixture({ nComponents: 3, seed: 1, threads: 1 }).fit({ data: x, rows, cols: d });
    const y = randn(rows * d, 3);
    const wantPpca = await new PPCA({ nComponents: 2, method: 'em' }).fit({ data: y.slice(), rows, cols: d });
    const q = new PPCA({ nComponents: 2, method: 'em' }).fit({ data: y, rows, cols: d });
    detach(x);
    detach(y);
    churn(rows * d);
    expect((await p).lowerBound).toBe(want.lowerBound);
    expect((await q).noiseVariance).toBe(wantPpca.noiseVariance);
  });

  test("a training epoch's KL weights transferred while it runs", async () => {
    const rows = 2048, d = 32;
    const nat = new (native().VaeNative)({ inputDim: d, latentDim: 2, encoder: [{ name: 'encoder.0', kind: 'dense', units: 16, activation: 'relu' }], decoder: [{ name: 'decoder.0', kind: 'dense', units: 16, activation: 'relu' }, { name: 'decoder.out', kind: 'dense', units: d }], likelihood: 'gaussian', sigmaMode: 'fixed', sigma: 1, observedLibrary: false, priorComponents: 0, conditionDim: 0 });
    const train = async (transfer: boolean) => {
      nat.initParams(3);
      nat.beginTraining(randn(rows * d, 4), rows, { batchSize: 16, lr: 1e-3, eps: 1e-8, weightDecay: 0, binarize: false, seed: 5, objective: 'elbo', samples: 1, klWeight: 1, freeBits: 0, precision: 'fp32' });
      const weights = new Float32Array(nat.stepsPerEpoch()).fill(0.25);
      const p = nat.trainEpoch(0, weights, null, false);
      if (transfer) {
        detach(weights);
        churn(weights.length * 1000);
      }
      const r = await p;
      nat.endTraining();
      return r.lossSum;
    };
    expect(await train(true)).toBe(await train(false));
  });
});

describe('calls during a running epoch', () => {
  test('parameters(), save() and exportOnnx() are refused like encode (Adam is updating the parameters); allowed between epochs', async () => {
    const rows = 30000, d = 64; // an epoch of several progress reports (one per 100 ms)
    const vae = new Vae({ inputDim: d, latentDim: 2, hidden: [64], likelihood: 'gaussian' });
    const seen: string[] = [];
    const attempt = (what: string, f: () => unknown) => {
      try {
        const r = f();
        if (r instanceof Promise) r.catch((e) => seen.push(`${what}: ${(e as { code?: string }).code}`));
        else seen.push(`${what}: ok`);
      } catch (e) {
        seen.push(`${what}: ${(e as { code?: string }).code}`);
      }
    };
    let betweenEpochs = 0;
    await vae.fit({ data: randn(rows * d, 7), rows, cols: d }, {
      epochs: 1, batchSize: 8,
      progress: () => {
        if (seen.length > 0) return;
        attempt('parameters', () => vae.parameters());
        attempt('save', () => vae.save('/nonexistent/never-written.safetensors'));
        attempt('exportOnnx', () => vae.exportOnnx('/nonexistent'));
      },
      onEpoch: () => void (betweenEpochs += vae.parameters().flat.length),
    });
    await new Promise((r) => setTimeout(r, 10));
    expect(seen.sort()).toEqual(['exportOnnx: LATENTKIT_BUSY', 'parameters: LATENTKIT_BUSY', 'save: LATENTKIT_BUSY']);
    expect(betweenEpochs).toBe(vae.numParams);
  });
});

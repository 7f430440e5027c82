// test/scripts/exit-during-job.js — node exit-during-job.js <job> <delayMs> <how>: starts a native job (a VAE fit,
// an evaluation or a GaussianMixture fit) and ends the process or worker while it runs. how: 'exit' calls
// process.exit(0) in the main thread; 'worker' runs the job in a worker thread and terminates it, then prints
// 'alive' from the main thread; 'worker-exit' has the worker call process.exit() itself.
const { Worker, isMainThread, workerData, parentPort } = require('worker_threads');
const path = require('path');

function startJob(job) {
  const lk = require(path.join(__dirname, '..', '..', 'dist'));
  const rows = 3000, d = 784;
  const x = new Float32Array(rows * d);
  for (let i = 0; i < x.length; i++) x[i] = (i * 2654435761 % 1000) / 1000;
  const m = { data: x, rows, cols: d };
  const ignore = () => {};
  if (job === 'fit') new lk.Vae({ inputDim: d, latentDim: 20, hidden: [400] }).fit(m, { epochs: 100 }).catch(ignore);
  else if (job === 'elbo') new lk.Vae({ inputDim: d, latentDim: 20, hidden: [400] }).logLikelihood(m, { k: 5000 }).catch(ignore);
  else if (job === 'gmm') new lk.GaussianMixture({ nComponents: 20, covarianceType: 'full', maxIter: 1000, tol: 0 }).fit({ data: x.subarray(0, rows * 50), rows, cols: 50 }).catch(ignore);
  else throw new Error(`unknown job ${job}`);
}

if (isMainThread) {
  const [job, delayArg, how] = process.argv.slice(2);
  const delay = Number(delayArg);
  if (how === 'exit') {
    startJob(job);
    setTimeout(() => process.exit(0), delay);
  } else {
    const w = new Worker(__filename, { workerData: { job, delay, how } });
    w.on('error', (e) => { console.log('worker error', e.message); process.exitCode = 3; });
    w.on('message', () => {
      if (how === 'worker') setTimeout(() => w.terminate(), delay);
    });
    w.on('exit', () => setTimeout(() => console.log('alive'), 100));
  }
} else {
  startJob(workerData.job);
  parentPort.postMessage('started');
  if (workerData.how === 'worker-exit') setTimeout(() => process.exit(0), workerData.delay);
}

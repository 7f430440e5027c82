// test/scripts/distributed-train.js — node distributed-train.js <config.json> <out.json>: trains a VAE on the first
// `rows` MNIST training images with `model` options and `fit` options, with fit({ distributed: true }) when started
// by mpirun; rank 0 (or the one process) writes { size, params (hex of the float32 bytes), losses } to out.json.
// config.kill = { rank, afterEpochs }: that rank ends itself abruptly (SIGKILL) after so many epochs (the fault test);
// config.perRank = { <rank>: { model?, rows? } }: what that rank is given instead (the mismatch test).
// Used by test/distributed.test.ts.
const fs = require('fs');
const path = require('path');
const lk = require(path.join(__dirname, '..', '..', 'dist'));

(async () => {
  const [configFile, outFile] = process.argv.slice(2);
  const config = JSON.parse(fs.readFileSync(configFile, 'utf8'));
  const mine = (config.perRank ?? {})[process.env.OMPI_COMM_WORLD_RANK ?? '0'] ?? {};
  config.model = { ...config.model, ...mine.model };
  config.rows = mine.rows ?? config.rows;
  const all = (await lk.datasets.mnist({ split: 'train' })).x;
  // config.dataFile: a float32 .npy, memory-mapped (its values checked natively as each rank reads them)
  const x = config.dataFile ? (await lk.loadData(config.dataFile, { mmap: true })).x : { data: all.data.subarray(0, config.rows * 784), rows: config.rows, cols: 784 };
  const group = config.distributed ? lk.processGroup() : null;
  const rank = group ? group.rank : 0;
  const vae = new lk.Vae(config.model);
  let epochs = 0;
  const history = await vae.fit(x, { ...config.fit, distributed: Boolean(config.distributed), onEpoch: () => {
    epochs += 1;
    if (config.kill && rank === config.kill.rank && epochs === config.kill.afterEpochs) process.kill(process.pid, 'SIGKILL');
  } });
  if (rank === 0)
    fs.writeFileSync(outFile, JSON.stringify({ size: group ? group.size : 1, params: Buffer.from(vae.parameters().flat.buffer).toString('hex'),
      losses: history.epochs.map((e) => e.trainLoss), testLosses: history.epochs.map((e) => e.testLoss ?? null) }));
})().catch((e) => {
  console.error(`rank error: ${e.code ?? ''} ${e.message}`);
  process.exit(1);
});

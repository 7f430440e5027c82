// test/scripts/distributed-train.js — node distributed-train.js <config.json> <out.json>: trains a VAE on the first
// `rows` MNIST training images with `model` options and `fit` options, with fit({ distributed: true }) when started
// by mpirun; rank 0 (or the one process) writes { size, params (hex of the float32 bytes), losses } to out.json.
// config.kill = { rank, afterEpochs }: that rank ends itself abruptly (SIGKILL) after so many epochs (the fault test);
// config.perRank = { <rank>: { model?, rows? } }: what that rank is given instead (the mismatch test);
// config.validationRows: the next so many images are the validation set; config.sharded: each rank is given only its
// shard of the rows and of the validation rows (fit({ distributed: 'sharded' })), rank 0's being the first
// config.firstShard rows (default half) and as many of the validation rows in proportion.
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
  const images = (from, to) => ({ data: all.data.subarray(from * 784, to * 784), rows: to - from, cols: 784 });
  let x = config.dataFile ? (await lk.loadData(config.dataFile, { mmap: true })).x : images(0, config.rows);
  let validation = config.validationRows ? images(config.rows, config.rows + config.validationRows) : undefined;
  const group = config.distributed ? lk.processGroup() : null;
  const rank = group ? group.rank : 0;
  const sharded = Boolean(group && config.sharded);
  if (sharded) {
    if (group.size !== 2) throw new Error('the sharded test runs 2 ranks');
    const first = config.firstShard ?? Math.floor(config.rows / 2);
    const firstValidation = validation ? Math.floor((first * validation.rows) / config.rows) : 0;
    x = rank === 0 ? images(0, first) : images(first, config.rows);
    if (validation) validation = rank === 0 ? images(config.rows, config.rows + firstValidation) : images(config.rows + firstValidation, config.rows + config.validationRows);
  }
  const vae = new lk.Vae(config.model);
  let epochs = 0;
  const history = await vae.fit(x, { ...config.fit, validation, distributed: sharded ? 'sharded' : Boolean(config.distributed), onEpoch: () => {
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

#!/usr/bin/env bash
# test/install-as-dependency.sh — installs the packed latentkit into a new app the way the README tells users to
# (the app's package.json denies onnxruntime-node's postinstall, which would fetch CUDA files from the internet and
# make npm roll the install back), then trains a tiny model and decodes it through onnxruntime in that app, and
# reads a Parquet table (hyparquet, an ES module, loaded by Node's own require: jest transpiles it instead).
# .ci/run runs it after the test suite; about a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tgz=$(npm pack --silent --pack-destination "$work" | tail -n 1)
mkdir "$work/app"
cd "$work/app"
cat > package.json <<'JSON'
{ "name": "app", "version": "1.0.0", "private": true, "allowScripts": { "onnxruntime-node": false } }
JSON
npm install --silent --no-audit --no-fund "$work/$tgz"
cp "$repo/test/fixtures/table_gzip.parquet" table.parquet
node -e "
const lk = require('latentkit');
(async () => {
  const x = { data: Float32Array.from({ length: 64 * 8 }, (_, i) => (i % 7) / 7), rows: 64, cols: 8 };
  const vae = new lk.Vae({ inputDim: 8, latentDim: 2, hidden: [4] });
  await vae.fit(x, { epochs: 1 });
  const [decoder] = await vae.exportOnnx('deploy', { parts: ['decoder'] });
  const d = await lk.OnnxDecoder.load(decoder);
  const y = await d.sample(2, { seed: 1 });
  if (y.rows !== 2 || y.cols !== 8) throw new Error('unexpected decoder output');
  const t = await lk.loadData('table.parquet', { columns: ['f32', 'f64'], labelKey: 'cell_type' });
  if (t.x.rows !== 300 || t.x.cols !== 2 || t.labelNames.join() !== 'B,NK,T') throw new Error('unexpected Parquet table');
  console.log('installed as a dependency: trained, exported and decoded through onnxruntime (isa ' + lk.native().info().isa + '); read a Parquet table');
})().catch((e) => { console.error(e); process.exit(1); });
"

// `latentkit serve` and the export/sample commands: a server on an ephemeral localhost port answers every route
// (checked against the native model), refuses bad requests with a 4xx and a message and keeps answering, and handles
// concurrent requests; the compiled CLI starts and stops it as a child process.
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseNpy } from '../lib/data/npy';
import { Matrix, toArrays } from '../lib/matrix';
import { Vae } from '../lib/models/vae';
import { serve } from '../lib/serve/server';
import { randn, uniform, runCli } from './helpers';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'latentkit-serve-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const INPUT = 36; // 6×6 images, so format=png works
const LATENT = 3;
let vae: Vae;
let modelDir: string;
let server: Awaited<ReturnType<typeof serve>>;

function maxAbsDiff(a: number[][], b: Matrix): number {
  let d = 0;
  a.forEach((row, i) => row.forEach((v, j) => (d = Math.max(d, Math.abs(v - b.data[i * b.cols + j])))));
  return d;
}

async function post(route: string, body: string, contentType = 'application/json'): Promise<{ status: number; json: any }> {
  const r = await fetch(server.url + route, { method: 'POST', headers: { 'content-type': contentType }, body });
  return { status: r.status, json: await r.json() };
}

async function get(route: string): Promise<{ status: number; json: any }> {
  const r = await fetch(server.url + route);
  return { status: r.status, json: await r.json() };
}

beforeAll(async () => {
  vae = new Vae({ inputDim: INPUT, latentDim: LATENT, hidden: [24], seed: 3, threads: 1 });
  await vae.fit({ data: uniform(400 * INPUT, 5), rows: 400, cols: INPUT }, { epochs: 2, batchSize: 50 });
  const checkpoint = path.join(tmp, 'model.safetensors');
  await vae.save(checkpoint);
  modelDir = path.join(tmp, 'exported');
  const r = await runCli(['export', '--model', checkpoint, '--out', modelDir]);
  expect(r.code).toBe(0);
  expect(fs.readdirSync(modelDir).sort()).toEqual(['decoder.onnx', 'encoder.onnx']);
  server = await serve(modelDir, { port: 0, threads: 1, maxRows: 64, bodyLimit: 64 * 1024, maxConcurrent: 64 });
});
afterAll(async () => server?.close());

test('listens on localhost only, on the ephemeral port it reports', () => {
  expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  expect(Number(server.url.split(':').pop())).toBeGreaterThan(0);
});

test('GET /healthz describes the loaded model', async () => {
  const r = await get('/healthz');
  expect(r.status).toBe(200);
  expect(r.json).toMatchObject({ status: 'ok', latentDim: LATENT, inputDim: INPUT, parts: ['decoder', 'encoder'], maxRows: 64 });
  expect(r.json.options).toMatchObject({ hidden: [24], likelihood: 'bernoulli' });
});

test('POST /decode and /encode match the native model', async () => {
  const z = { data: randn(5 * LATENT, 1), rows: 5, cols: LATENT };
  const d = await post('/decode', JSON.stringify({ z: toArrays(z) }));
  expect(d.status).toBe(200);
  expect(d.json.x).toHaveLength(5);
  expect(maxAbsDiff(d.json.x, vae.decode(z))).toBeLessThan(1e-5);
  const x = { data: uniform(4 * INPUT, 2), rows: 4, cols: INPUT };
  const e = await post('/encode', JSON.stringify({ x: toArrays(x) }));
  expect(e.status).toBe(200);
  const native = vae.encode(x);
  expect(maxAbsDiff(e.json.mean, native.mean)).toBeLessThan(1e-5);
  expect(maxAbsDiff(e.json.logVar, native.logVar)).toBeLessThan(1e-5);
});

test('GET /sample gives the native sample for the same seed, as JSON or a PNG grid', async () => {
  const r = await get('/sample?n=7&seed=11');
  expect(r.status).toBe(200);
  expect(r.json.x).toHaveLength(7);
  expect(maxAbsDiff(r.json.x, vae.sample(7, { seed: 11 }))).toBeLessThan(1e-5);
  const dflt = await get('/sample');
  expect(dflt.json.x).toHaveLength(16);
  const png = await fetch(server.url + '/sample?n=3&seed=1&format=png');
  expect(png.status).toBe(200);
  expect(png.headers.get('content-type')).toBe('image/png');
  expect(Buffer.from(await png.arrayBuffer()).subarray(1, 4).toString()).toBe('PNG');
  const npy = await fetch(server.url + '/sample?n=7&seed=11&format=npy');
  expect(npy.headers.get('content-type')).toBe('application/octet-stream');
  const values = parseNpy(Buffer.from(await npy.arrayBuffer()));
  expect([values.rows, values.cols]).toEqual([7, INPUT]);
  expect(maxAbsDiff(toArrays(values), vae.sample(7, { seed: 11 }))).toBeLessThan(1e-5);
});

test('POST /decode?format=npy answers with the float32 values', async () => {
  const z = { data: randn(6 * LATENT, 9), rows: 6, cols: LATENT };
  const r = await fetch(server.url + '/decode?format=npy', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ z: toArrays(z) }) });
  expect(r.status).toBe(200);
  const x = parseNpy(Buffer.from(await r.arrayBuffer()));
  expect(maxAbsDiff(toArrays(x), vae.decode(z))).toBeLessThan(1e-5);
});

test('bad requests get a 4xx with a message, and the server keeps answering', async () => {
  const cases: Array<[Promise<{ status: number; json: any }>, number, RegExp]> = [
    [post('/decode', '{"z": [[1, 2'), 400, /not valid JSON/],
    [post('/decode', '[1, 2]'), 400, /JSON object/],
    [post('/decode', '{"x": [[1, 2, 3]]}'), 400, /no "z" field/],
    [post('/decode', '{"z": [[1, 2]]}'), 400, /rows of length 3 for z but received rows of length 2/],
    [post('/decode', '{"z": [[1, "a", 3]]}'), 400, /z/],
    [post('/decode', '{"z": []}'), 400, /z/],
    [post('/encode', JSON.stringify({ x: [[0.5, 0.5]] })), 400, /rows of length 36 for x/],
    [post('/decode', JSON.stringify({ z: Array.from({ length: 65 }, () => [0, 0, 0]) })), 413, /at most 64/],
    [post('/decode', JSON.stringify({ z: Array.from({ length: 60 }, () => Array(400).fill(0.123456789)) })), 413, /too large/i],
    [post('/decode', 'z=1', 'text/plain'), 415, /Unsupported Media Type/i],
    [get('/sample?n=65'), 400, /n must be an integer in \[1, 64\]/],
    [get('/sample?n=0'), 400, /n must be/],
    [get('/sample?n=abc'), 400, /"abc"/],
    [get('/sample?seed=-1'), 400, /seed/],
    [get('/sample?format=gif'), 400, /format/],
    [get('/sample?count=3'), 400, /unknown query parameter count/],
    [post('/decode?n=3', '{"z": [[1, 2, 3]]}'), 400, /unknown query parameter n/],
    [post('/decode?format=png', '{"z": [[1, 2, 3]]}'), 400, /format/],
    [get('/nope'), 404, /no route GET \/nope/],
    [post('/healthz', '{}'), 404, /no route POST \/healthz/],
  ];
  for (const [request, status, message] of cases) {
    const r = await request;
    expect({ status: r.status, message: r.json.message }).toEqual({ status, message: expect.stringMatching(message) });
    expect(typeof r.json.error).toBe('string');
  }
  expect((await get('/healthz')).status).toBe(200);
});

test('concurrent requests each get their own answer', async () => {
  const zs = Array.from({ length: 24 }, (_, i) => ({ data: randn((1 + (i % 5)) * LATENT, 100 + i), rows: 1 + (i % 5), cols: LATENT }));
  const answers = await Promise.all([
    ...zs.map((z) => post('/decode', JSON.stringify({ z: toArrays(z) }))),
    ...[1, 2, 3].map((seed) => get(`/sample?n=4&seed=${seed}`)),
  ]);
  zs.forEach((z, i) => {
    expect(answers[i].status).toBe(200);
    expect(maxAbsDiff(answers[i].json.x, vae.decode(z))).toBeLessThan(1e-5);
  });
  [1, 2, 3].forEach((seed, j) => expect(maxAbsDiff(answers[zs.length + j].json.x, vae.sample(4, { seed }))).toBeLessThan(1e-5));
});

test('a folder without decoder.onnx is refused with the export command to run', async () => {
  const dir = path.join(tmp, 'unexported');
  fs.mkdirSync(dir);
  await vae.save(path.join(dir, 'model.safetensors'));
  await expect(serve(dir, { port: 0 })).rejects.toThrow(/has no decoder.onnx \(write it with: latentkit export/);
  await expect(serve(modelDir, { port: 70000 })).rejects.toThrow(/Expected an integer in \[0, 65535\] for port/);
});

test('latentkit sample: ONNX decoder and checkpoint give the same values; png grid; clear errors', async () => {
  const onnxOut = path.join(tmp, 'onnx.npy');
  const nativeOut = path.join(tmp, 'native.npy');
  expect((await runCli(['sample', '--model', path.join(modelDir, 'decoder.onnx'), '--n', '9', '--seed', '4', '--out', onnxOut])).code).toBe(0);
  expect((await runCli(['sample', '--model', path.join(tmp, 'model.safetensors'), '--n', '9', '--seed', '4', '--out', nativeOut])).code).toBe(0);
  const a = parseNpy(fs.readFileSync(onnxOut));
  const b = parseNpy(fs.readFileSync(nativeOut));
  expect([a.rows, a.cols]).toEqual([9, INPUT]);
  expect(maxAbsDiff(toArrays(a), b)).toBeLessThan(1e-5);
  expect(maxAbsDiff(toArrays(b), vae.sample(9, { seed: 4 }))).toBe(0);
  const png = path.join(tmp, 'grid.png');
  expect((await runCli(['sample', '--model', modelDir, '--out', png])).code).toBe(0);
  expect(fs.readFileSync(png).subarray(1, 4).toString()).toBe('PNG');
  const ancestral = await runCli(['sample', '--model', modelDir, '--mode', 'ancestral', '--out', png]);
  expect(ancestral.code).toBe(2); // a usage error
  expect(ancestral.err).toMatch(/--mode ancestral needs a model.safetensors/);
  const missing = await runCli(['sample', '--model', path.join(tmp, 'nothing.onnx'), '--out', png]);
  expect(missing.code).toBe(1);
  expect(missing.err).toMatch(/cannot read ONNX model .*nothing.onnx/);
  expect((await runCli(['sample', '--model', modelDir, '--n', '0', '--out', png])).err).toMatch(/--n expects an integer in \[1/);
  expect((await runCli(['export', '--model', path.join(tmp, 'model.safetensors')])).err).toMatch(/export needs --out/);
});

test('the compiled CLI serves until SIGTERM', async () => {
  const child = spawn(process.execPath, [path.join(__dirname, '..', 'bin', 'latentkit.js'), 'serve', '--model', modelDir, '--port', '0', '--threads', '1'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (c) => {
        out += String(c);
        const m = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (m) resolve(m[1]);
      });
      child.on('exit', (code) => reject(new Error(`serve exited with ${code} before listening`)));
    });
    const r = await fetch(url + '/sample?n=2&seed=5');
    expect(r.status).toBe(200);
    expect(maxAbsDiff(((await r.json()) as { x: number[][] }).x, vae.sample(2, { seed: 5 }))).toBeLessThan(1e-5);
  } finally {
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }
});

// A newcomer's POST /encode with raw 0–255 pixels on a Bernoulli model got 200 and means near −1124 (Vae.encode
// refuses such input with a RangeError); now 400 like the library, naming the value.
test('POST /encode refuses values the likelihood cannot score', async () => {
  const raw = Array.from({ length: 2 }, () => Array.from({ length: INPUT }, (_, j) => (j * 7) % 256));
  const r = await post('/encode', JSON.stringify({ x: raw }));
  expect(r.status).toBe(400);
  expect(r.json).toMatchObject({ error: 'BAD_VALUES', message: expect.stringMatching(/values in \[0, 1\].*row 0, column 1/) });
  expect((await post('/encode', JSON.stringify({ x: raw.map((row) => row.map((v) => v / 255)) }))).status).toBe(200);
});

test('a conv decoder is served: /decode and /encode match the native conv model, /sample draws PNGs', async () => {
  const conv = new Vae({ inputShape: [1, 8, 8], latentDim: 2, architecture: 'conv', seed: 4, threads: 1 });
  await conv.fit({ data: uniform(200 * 64, 6), rows: 200, cols: 64 }, { epochs: 1, batchSize: 50 });
  const dir = path.join(tmp, 'conv-exported');
  await conv.exportOnnx(dir);
  const s = await serve(dir, { port: 0, threads: 1, maxRows: 64 });
  try {
    const z = [[0.5, -1], [2, 0.25]];
    const r = await fetch(s.url + '/decode', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ z }) });
    expect(r.status).toBe(200);
    const body = await r.json() as { x: number[][] };
    expect(maxAbsDiff(body.x, conv.decode(z))).toBeLessThan(1e-5);
    const x = toArrays(conv.decode(z));
    const e = await fetch(s.url + '/encode', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ x }) });
    expect(e.status).toBe(200);
    expect(maxAbsDiff(((await e.json()) as { mean: number[][] }).mean, conv.encode(x).mean)).toBeLessThan(1e-5);
    const png = await fetch(s.url + '/sample?n=4&seed=1&format=png');
    expect(png.status).toBe(200);
    expect(Buffer.from(await png.arrayBuffer()).subarray(1, 4).toString()).toBe('PNG');
  } finally {
    await s.close();
  }
});

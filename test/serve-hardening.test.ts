// serve-hardening.test.ts — the server fit to expose: bearer tokens (401, constant-time), a bound on requests in
// progress (503 + Retry-After; /healthz always answers), request and idle timeouts (slow bodies held connections
// open forever: fastify's defaults are 0), graceful drain on close, TLS, and the CLI flags that set them.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as https from 'https';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { Vae } from '../lib/models/vae';
import { serve } from '../lib/serve/server';
import { runCli, uniform } from './helpers';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'latentkit-harden-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
let modelDir: string;

beforeAll(async () => {
  const vae = new Vae({ inputDim: 16, latentDim: 2, hidden: [8], seed: 1, threads: 1 });
  await vae.fit({ data: uniform(200 * 16, 2), rows: 200, cols: 16 }, { epochs: 1 });
  modelDir = path.join(tmp, 'model');
  await vae.exportOnnx(modelDir);
});

/** Opens a raw connection and sends the head of a POST /decode whose body never completes; resolves when written. */
function slowBody(url: string, headers = ''): Promise<net.Socket> {
  const { port } = new URL(url);
  return new Promise((resolve) => {
    const s = net.connect(Number(port), '127.0.0.1', () => {
      s.write(`POST /decode HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n${headers}\r\n{"z": [[0.1, `);
      setTimeout(() => resolve(s), 50);
    });
    s.on('error', () => undefined);
  });
}
const closed = (s: net.Socket) => new Promise<string>((resolve) => {
  let got = '';
  s.on('data', (c) => (got += String(c)));
  s.on('close', () => resolve(got));
});

test('a bearer token guards every route but /healthz', async () => {
  const token = 'correct horse battery staple';
  const server = await serve(modelDir, { port: 0, token });
  try {
    const sample = (auth?: string) => fetch(`${server.url}/sample?n=2`, { headers: auth ? { authorization: auth } : {} });
    expect((await sample()).status).toBe(401);
    expect((await sample(`Bearer ${token}x`)).status).toBe(401);
    expect((await sample(`Basic ${token}`)).status).toBe(401);
    const ok = await sample(`Bearer ${token}`);
    expect(ok.status).toBe(200);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  } finally {
    await server.close();
  }
  await expect(serve(modelDir, { port: 0, token: 'short' })).rejects.toThrow(/at least 16 characters for token/);
});

test('beyond maxConcurrent requests in progress: 503 with Retry-After, /healthz still answers; slow bodies time out (408)', async () => {
  const server = await serve(modelDir, { port: 0, maxConcurrent: 2, requestTimeout: 1500 });
  try {
    const slow = [await slowBody(server.url), await slowBody(server.url)];
    const endings = slow.map(closed);
    const busy = await fetch(`${server.url}/sample?n=2`);
    expect(busy.status).toBe(503);
    expect(busy.headers.get('retry-after')).toBe('1');
    const t0 = performance.now();
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    expect((await health.json()).inFlight).toBe(2);
    expect(performance.now() - t0).toBeLessThan(500);
    for (const answer of await Promise.all(endings)) expect(answer).toMatch(/^HTTP\/1\.1 408/); // cut off at requestTimeout
    expect((await fetch(`${server.url}/sample?n=2`)).status).toBe(200); // the slots are free again
  } finally {
    await server.close();
  }
}, 20000);

test('an idle connection is closed after idleTimeout', async () => {
  const server = await serve(modelDir, { port: 0, idleTimeout: 300 });
  try {
    const s = net.connect(Number(new URL(server.url).port), '127.0.0.1');
    const t0 = performance.now();
    await closed(s);
    expect(performance.now() - t0).toBeLessThan(3000);
  } finally {
    await server.close();
  }
});

test('close() lets an in-flight request finish and refuses new connections', async () => {
  const server = await serve(modelDir, { port: 0 });
  const s = await slowBody(server.url);
  const answer = closed(s);
  const closing = server.close();
  await new Promise((r) => setTimeout(r, 100));
  s.end('0.2]]}' + ' '.repeat(1000 - '{"z": [[0.1, '.length - '0.2]]}'.length));
  expect(await answer).toMatch(/^HTTP\/1\.1 200/);
  await closing;
  await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
});

test('TLS with a PEM certificate and key; the CLI refuses half a TLS pair', async () => {
  const key = path.join(tmp, 'key.pem'), cert = path.join(tmp, 'cert.pem');
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  } catch {
    console.log('TLS test skipped: the openssl command is not installed (apt-get install -y openssl)');
    return;
  }
  const server = await serve(modelDir, { port: 0, tls: { cert: fs.readFileSync(cert), key: fs.readFileSync(key) } });
  try {
    expect(server.url).toMatch(/^https:/);
    const status = await new Promise<number>((resolve, reject) => {
      https.get(`${server.url}/healthz`, { ca: fs.readFileSync(cert), servername: 'localhost', checkServerIdentity: () => undefined }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });
    expect(status).toBe(200);
  } finally {
    await server.close();
  }
  const half = await runCli(['serve', '--model', modelDir, '--tls-cert', cert]);
  expect(half.code).toBe(2);
  expect(half.err).toMatch(/--tls-cert and --tls-key go together/);
});

// bf16 mixed precision (lib/precision.ts, native nn/layer.h and core/gemm.h): the bf16 step's gradient against the
// fp32 step's on the same batch and draws, deterministic bf16 training, bf16 evaluation against fp32 on the same
// model, fp32 checkpoints of a bf16-trained model, and the precision option's errors — including a CPU without
// native bf16, simulated in a child process with ONEDNN_MAX_CPU_ISA=AVX512_CORE.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { headRows, datasets } from '../lib/data';
import { Matrix } from '../lib/matrix';
import { nativeVaeConfig, resolveVaeOptions, Vae, VaeOptions } from '../lib/models/vae';
import { nativeStep, resolveObjective } from '../lib/models/objective';
import { native, NativeStepOptions } from '../lib/native';
import { OnnxDecoder } from '../lib/onnx/runtime';
import { randn } from './helpers';
import { ensureDist, ROOT } from './scripts/dist';

const info = native().info();
if (!info.bf16Native) console.log(`bf16 tests skipped: this CPU has no native bf16 (oneDNN's ISA is ${info.isa}); the refusal tests still run`);
const bf16Test = info.bf16Native ? test : test.skip;

let slice: Matrix;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'latentkit-precision-'));
beforeAll(async () => {
  slice = headRows((await datasets.mnist({ split: 'train' })).x, 2000);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const mean = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / a.length;
/** ‖a − b‖ / ‖b‖ over a slice. */
function relL2(a: Float32Array, b: Float32Array): number {
  let d = 0, n = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i] - b[i]) ** 2;
    n += b[i] ** 2;
  }
  return Math.sqrt(d / n);
}

describe('the bf16 kernels', () => {
  const k = native().kernels;
  /** x rounded to bf16 in float64 arithmetic: nearest of the two neighbours with 8 significant bits, ties to even. */
  function refBf16(x: number): number {
    if (!Number.isFinite(x) || x === 0) return x;
    const f = new Float32Array([x]), u = new Uint32Array(f.buffer);
    const lo = u[0] & 0xffff0000, hi = (lo + 0x10000) >>> 0;
    const fl = new Float32Array(new Uint32Array([lo]).buffer)[0], fh = new Float32Array(new Uint32Array([hi]).buffer)[0];
    // Past the largest finite value the upper neighbour is ±2^128 (which rounds to ±Inf).
    const dl = Math.abs(f[0] - fl), dh = Math.abs((Number.isFinite(fh) ? fh : Math.sign(fh) * 2 ** 128) - f[0]);
    return dl < dh ? fl : dh < dl ? fh : ((lo >>> 16) & 1) === 0 ? fl : fh;
  }

  test('rounding to bf16 is round-to-nearest-even; NaN stays NaN, ±Inf stays, overflow goes to ±Inf', () => {
    const specials = [0, -0, 1, -1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -9, 3.14159, 1e-30, -6.5e38, 3.3e38, 3.4e38, Infinity, -Infinity, NaN];
    const x = Float32Array.from([...specials, ...randn(5000, 7, 10)]);
    const out = new Float32Array(x.length);
    k.round_bf16(out, x, x.length);
    for (let i = 0; i < x.length; i++) {
      if (Number.isNaN(x[i])) expect(Number.isNaN(out[i])).toBe(true);
      else expect([x[i], out[i]]).toEqual([x[i], refBf16(x[i])]);
    }
    expect(out[specials.indexOf(3.4e38)]).toBe(Infinity); // beyond bf16's largest finite value, 3.3895e38
  });

  // 37 × 53: one matmul; 300 × 53 and 37 × 300: split into row or column blocks over the team (2+ threads).
  const cases: Array<[boolean, boolean, number, number, number]> = [];
  for (const ta of [false, true]) for (const tb of [false, true]) for (const [M, N, K] of [[37, 53, 300], [300, 53, 64], [37, 300, 64]]) cases.push([ta, tb, M, N, K]);
  test.each(cases)('bf16 GEMM (transA %s, transB %s, %i × %i × %i) equals the float64 product of the bf16-rounded operands', (ta, tb, M, N, K) => {
    const A = randn(M * K, 1), B = randn(K * N, 2), C = randn(M * N, 3);
    const Ar = new Float32Array(A.length), Br = new Float32Array(B.length);
    k.round_bf16(Ar, A, A.length);
    k.round_bf16(Br, B, B.length);
    for (const beta of [0, 1]) {
      const out = Float32Array.from(C);
      k.gemm_bf16(ta, tb, M, N, K, A, B, beta, out);
      let worst = 0;
      for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
        let s = 0, scale = 0;
        for (let p = 0; p < K; p++) {
          const a = ta ? Ar[p * M + i] : Ar[i * K + p], b = tb ? Br[j * K + p] : Br[p * N + j];
          s += a * b;
          scale += Math.abs(a * b);
        }
        worst = Math.max(worst, Math.abs(out[i * N + j] - (s + beta * C[i * N + j])) / (scale + Math.abs(C[i * N + j])));
      }
      expect(worst).toBeLessThan(1e-6); // fp32 accumulation: a few float32 roundings of the running sum
    }
    expect(() => k.gemm_bf16(ta, tb, M, N, K, A, B, 0.5, new Float32Array(M * N))).toThrow(/beta must be 0 or 1/);
  });
});

describe('the bf16 step against the fp32 step', () => {
  // bf16 keeps 8 significant bits (unit roundoff 2⁻⁹ ≈ 0.2 %) of every GEMM input; accumulation is fp32. A weight
  // gradient sums its rows' terms, which cancel at initialisation, so its relative error is a multiple of that: PyTorch
  // 1.13's autocast on a 784-128-8 MLP VAE of the same kind, same batch size, gave 0.25–3.1 % per tensor (‖g16 − g32‖
  // / ‖g32‖; bench/pytorch_bf16_gradient.py). The tolerance per tensor is therefore 5 % for the one-hidden-layer MLP,
  // and for the deeper networks (two hidden layers; four convolutions), where the rounding of each layer compounds,
  // 12 %; the whole gradient's cosine with fp32's must stay above 0.999 (0.995 deeper).
  const conv: VaeOptions = {
    inputShape: [1, 12, 12], latentDim: 4,
    encoder: [{ conv: { channels: 16, kernel: 3, stride: 2, padding: 1 } }, { activation: 'relu' }, { conv: { channels: 16, kernel: 3, stride: 1, padding: 1 } }, { activation: 'relu' }, 'flatten', { dense: 32 }, { activation: 'relu' }],
    decoder: [{ dense: 16 * 36 }, { activation: 'relu' }, { reshape: [16, 6, 6] }, { convTranspose: { channels: 16, kernel: 3, stride: 1, padding: 1 } }, { activation: 'relu' }, { convTranspose: { channels: 1, kernel: 4, stride: 2, padding: 1 } }],
  };
  const cases: Array<[string, VaeOptions, NativeStepOptions, number, number]> = [
    ['MLP Bernoulli, ELBO', { inputDim: 784, latentDim: 8, hidden: [128] }, { objective: 'elbo' }, 0.05, 0.999],
    ['MLP Gaussian σ(z), tanh', { inputDim: 784, latentDim: 8, hidden: [96], activation: 'tanh', likelihood: 'gaussian', sigma: 'decoder' }, { objective: 'elbo' }, 0.05, 0.999],
    ['MLP Bernoulli, two hidden layers, IWAE k = 5', { inputDim: 784, latentDim: 8, hidden: [128, 64] }, { objective: 'iwae', samples: 5 }, 0.12, 0.995],
    ['conv (blocked 16-channel neighbours), IWAE k = 2', conv, { objective: 'iwae', samples: 2 }, 0.12, 0.995],
  ];
  bf16Test.each(cases)('%s: each tensor and the loss within bf16 tolerances', (_name, options, s, rtol, minCosine) => {
    const vae = new Vae({ ...options, seed: 3 });
    const handle = new (native().VaeNative)(nativeVaeConfig(resolveVaeOptions({ ...options, seed: 3 })));
    handle.setParams(Float32Array.from(vae.parameters().tensors.flatMap((t) => Array.from(t.data))));
    const D = vae.inputDim, rows = 64;
    const x = D === 784 ? slice.data.slice(0, rows * D) : Float32Array.from({ length: rows * D }, (_, i) => (Math.sin(i * 0.37) + 1) / 2);
    const step = nativeStep(resolveObjective({ objective: s.objective, ...(s.samples ? { k: s.samples } : {}) }));
    const g32 = new Float32Array(handle.numParams()), g16 = new Float32Array(handle.numParams());
    const l32 = handle.lossAndGradient(x, rows, 11, g32, step, null, 'fp32');
    const l16 = handle.lossAndGradient(x, rows, 11, g16, step, null, 'bf16');
    expect(Math.abs(l16 - l32) / Math.abs(l32)).toBeLessThan(1e-3);
    const errors = handle.tensors().map((t) => {
      const n = t.shape.reduce((a, b) => a * b, 1);
      return { tensor: t.name, error: relL2(g16.subarray(t.offset, t.offset + n), g32.subarray(t.offset, t.offset + n)) };
    });
    expect(errors.filter((e) => !(e.error < rtol))).toEqual([]);
    let dot = 0, n16 = 0, n32 = 0;
    for (let i = 0; i < g16.length; i++) (dot += g16[i] * g32[i]), (n16 += g16[i] ** 2), (n32 += g32[i] ** 2);
    expect(dot / Math.sqrt(n16 * n32)).toBeGreaterThan(minCosine);
    expect(Math.max(...errors.map((e) => e.error))).toBeGreaterThan(1e-4); // bf16 really ran: the products differ from fp32's
  });
});

describe('bf16 training and evaluation', () => {
  bf16Test('bf16 training is deterministic with a seed, tracks fp32, and evaluates like it', async () => {
    const opts = { inputDim: 784, latentDim: 10, hidden: [200], seed: 5, threads: 2 };
    const fit = async (precision: 'fp32' | 'bf16') => {
      const v = new Vae(opts);
      const h = await v.fit(slice, { epochs: 3, precision });
      expect(h.precision).toBe(precision);
      return { v, h };
    };
    const a = await fit('bf16'), b = await fit('bf16'), f = await fit('fp32');
    const pa = a.v.parameters().tensors, pb = b.v.parameters().tensors;
    for (let i = 0; i < pa.length; i++) expect(Buffer.compare(Buffer.from(pa[i].data.buffer), Buffer.from(pb[i].data.buffer))).toBe(0);
    expect(a.h.epochs.map((e) => e.trainLoss)).toEqual(b.h.epochs.map((e) => e.trainLoss));
    // The same seed's fp32 run: the training losses agree within 1 % at every epoch.
    a.h.epochs.forEach((e, i) => expect(Math.abs(e.trainLoss - f.h.epochs[i].trainLoss) / f.h.epochs[i].trainLoss).toBeLessThan(0.01));
    // bf16 evaluation of one model against its fp32 evaluation: per-example −ELBO and IS log-likelihood within 0.1 nats
    // on average, encode / decode within bf16's relative error.
    const x = headRows(slice, 200);
    const e32 = await a.v.elbo(x), e16 = await a.v.elbo(x, { precision: 'bf16' });
    expect(Math.abs(mean(e16.elbo) - mean(e32.elbo))).toBeLessThan(0.1);
    const ll32 = await a.v.logLikelihood(x, { k: 50 }), ll16 = await a.v.logLikelihood(x, { k: 50, precision: 'bf16' });
    expect(Math.abs(mean(ll16) - mean(ll32))).toBeLessThan(0.1);
    expect(relL2(a.v.encode(x, null, { precision: 'bf16' }).mean.data, a.v.encode(x).mean.data)).toBeLessThan(1.6e-2);
    const z = a.v.priorSample(50, 1);
    expect(relL2(a.v.decode(z, null, { precision: 'auto' }).data, a.v.decode(z).data)).toBeLessThan(1.6e-2);
    expect(relL2(a.v.sample(50, { seed: 2, precision: 'bf16' }).data, a.v.sample(50, { seed: 2 }).data)).toBeLessThan(1.6e-2);
    // Checkpoints stay fp32: the loaded model is the trained one, bit for bit.
    const file = path.join(tmp, 'bf16.safetensors');
    await a.v.save(file);
    const loaded = await Vae.load(file);
    expect(Buffer.compare(Buffer.from(loaded.encode(x).mean.data.buffer), Buffer.from(a.v.encode(x).mean.data.buffer))).toBe(0);
    // … and exports to ONNX like an fp32 model: onnxruntime decodes what the native fp32 decoder does.
    const dir = path.join(tmp, 'onnx');
    await a.v.exportOnnx(dir);
    const onnx = await OnnxDecoder.load(path.join(dir, 'decoder.onnx'));
    const fromOnnx = await onnx.decode(z);
    const native32 = a.v.decode(z).data;
    expect(Math.max(...fromOnnx.data.map((v, i) => Math.abs(v - native32[i])))).toBeLessThan(1e-5);
  }, 120000);

  bf16Test('a bf16 conv VAE trains as its fp32 twin does', async () => {
    const opts: VaeOptions = { inputShape: [1, 28, 28], latentDim: 8, architecture: 'conv', seed: 2, threads: 2 };
    const x = headRows(slice, 600);
    const h16 = await new Vae(opts).fit(x, { epochs: 2, precision: 'bf16' });
    const h32 = await new Vae(opts).fit(x, { epochs: 2, precision: 'fp32' });
    h16.epochs.forEach((e, i) => expect(Math.abs(e.trainLoss - h32.epochs[i].trainLoss) / h32.epochs[i].trainLoss).toBeLessThan(0.01));
  }, 120000);
});

describe('the precision option', () => {
  test('an unknown precision is refused, naming it, everywhere it is taken', async () => {
    const vae = new Vae({ inputDim: 784, latentDim: 2, hidden: [8] });
    const x = headRows(slice, 10);
    const named = /Expected one of "fp32", "bf16", "auto" for precision but received "fp16"/;
    await expect(vae.fit(x, { epochs: 1, precision: 'fp16' as never })).rejects.toThrow(named);
    await expect(vae.elbo(x, { precision: 'fp16' as never })).rejects.toThrow(named);
    await expect(vae.logLikelihood(x, { k: 2, precision: 'fp16' as never })).rejects.toThrow(named);
    expect(() => vae.encode(x, null, { precision: 'fp16' as never })).toThrow(named);
    expect(() => vae.decode([[0, 0]], null, { precision: 'fp16' as never })).toThrow(named);
    expect(() => vae.sample(2, { precision: 'fp16' as never })).toThrow(named);
    expect(() => vae.encode(x, null, { precison: 'bf16' } as never)).toThrow(/precison/);
    expect(info.autoPrecision).toBe(info.bf16Native ? 'bf16' : 'fp32');
  });

  test('on a CPU without native bf16 (ONEDNN_MAX_CPU_ISA=AVX512_CORE), bf16 is refused with the ISA and auto runs fp32', () => {
    ensureDist();
    const script = `
      const lk = require(${JSON.stringify(path.join(ROOT, 'dist'))});
      (async () => {
        const info = lk.native().info();
        const vae = new lk.Vae({ inputDim: 4, latentDim: 2, hidden: [4] });
        const x = { data: new Float32Array(40).fill(0.5), rows: 10, cols: 4 };
        let refused = '';
        try { await vae.fit(x, { epochs: 1, precision: 'bf16' }); } catch (e) { refused = e.message; }
        let encodeRefused = '';
        try { vae.encode(x, null, { precision: 'bf16' }); } catch (e) { encodeRefused = e.message; }
        const h = await vae.fit(x, { epochs: 1, precision: 'auto' });
        console.log(JSON.stringify({ isa: info.isa, bf16Native: info.bf16Native, autoPrecision: info.autoPrecision, refused, encodeRefused, ran: h.precision }));
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, ONEDNN_MAX_CPU_ISA: 'AVX512_CORE' }, timeout: 60000 });
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out.bf16Native).toBe(false);
    expect(out.autoPrecision).toBe('fp32');
    expect(out.ran).toBe('fp32');
    for (const m of [out.refused, out.encodeRefused])
      expect(m).toMatch(new RegExp(`Expected 'fp32' or 'auto' \\(this CPU has no native bf16: oneDNN's ISA is ${out.isa}; bf16 needs AVX512-BF16 or AMX\\) for precision but received "bf16"`));
  }, 60000);

  test("the binding refuses 'bf16' itself where bf16 is not native", () => {
    ensureDist();
    const script = `
      const { native } = require(${JSON.stringify(path.join(ROOT, 'dist'))});
      const v = new (native().VaeNative)({ inputDim: 4, latentDim: 2, encoder: [{ name: 'encoder.0', kind: 'dense', units: 3 }], decoder: [{ name: 'decoder.out', kind: 'dense', units: 4 }], likelihood: 'bernoulli', sigmaMode: 'fixed', observedLibrary: false, priorComponents: 0, conditionDim: 0 });
      try { v.encode(new Float32Array(4), 1, new Float32Array(2), new Float32Array(2), null, 'bf16'); console.log('accepted'); } catch (e) { console.log(e.message); }`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, ONEDNN_MAX_CPU_ISA: 'AVX512_CORE' }, timeout: 60000 });
    expect(r.stdout).toMatch(/encode: Expected 'fp32' \(this CPU has no native bf16: oneDNN's ISA is avx512_core; bf16 needs AVX512-BF16 or AMX\) for precision/);
  }, 60000);
});

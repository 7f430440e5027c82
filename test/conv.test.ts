// conv.test.ts — the oneDNN convolution and transposed convolution (native/core/conv.h) against a float64 direct
// reference, and their backward (input, weights, bias) against central finite differences of the native forward.
// Shapes: odd sizes, several kernel / stride / padding / output-padding combinations, and channel counts that make
// oneDNN choose blocked layouts (16 → 32), so the cached reorders are exercised.
import { native } from '../lib/native';
import { finiteDiff } from './helpers';

interface Geometry { inC: number; inH: number; inW: number; outC: number; kernel: number; stride: number; padding: number; outputPadding?: number; transposed?: boolean }

function outSize(g: Geometry, n: number): number {
  return g.transposed ? (n - 1) * g.stride - 2 * g.padding + g.kernel + (g.outputPadding ?? 0) : Math.floor((n + 2 * g.padding - g.kernel) / g.stride) + 1;
}

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

/** y in float64: conv y[n,o,i,j] = b[o] + Σ x[n,c,i·s−p+u, j·s−p+v] w[o,c,u,v]; transposed: each x[n,c,a,b] adds w[c,o,u,v] at (a·s−p+u, b·s−p+v). */
function reference(g: Geometry, x: Float32Array, w: Float32Array, b: Float32Array, rows: number): Float64Array {
  const oh = outSize(g, g.inH), ow = outSize(g, g.inW), k = g.kernel;
  const y = new Float64Array(rows * g.outC * oh * ow);
  for (let n = 0; n < rows; n++)
    for (let o = 0; o < g.outC; o++) for (let i = 0; i < oh * ow; i++) y[(n * g.outC + o) * oh * ow + i] = b[o];
  for (let n = 0; n < rows; n++)
    for (let c = 0; c < g.inC; c++)
      for (let o = 0; o < g.outC; o++)
        for (let u = 0; u < k; u++)
          for (let v = 0; v < k; v++) {
            const wv = g.transposed ? w[((c * g.outC + o) * k + u) * k + v] : w[((o * g.inC + c) * k + u) * k + v];
            if (g.transposed) {
              for (let a = 0; a < g.inH; a++)
                for (let bb = 0; bb < g.inW; bb++) {
                  const i = a * g.stride - g.padding + u, j = bb * g.stride - g.padding + v;
                  if (i < 0 || j < 0 || i >= oh || j >= ow) continue;
                  y[((n * g.outC + o) * oh + i) * ow + j] += x[((n * g.inC + c) * g.inH + a) * g.inW + bb] * wv;
                }
            } else {
              for (let i = 0; i < oh; i++)
                for (let j = 0; j < ow; j++) {
                  const a = i * g.stride - g.padding + u, bb = j * g.stride - g.padding + v;
                  if (a < 0 || bb < 0 || a >= g.inH || bb >= g.inW) continue;
                  y[((n * g.outC + o) * oh + i) * ow + j] += x[((n * g.inC + c) * g.inH + a) * g.inW + bb] * wv;
                }
            }
          }
  return y;
}

const cases: Array<[string, Geometry]> = [
  ['conv 3×3, stride 1, padding 1, 5×7', { inC: 2, inH: 5, inW: 7, outC: 3, kernel: 3, stride: 1, padding: 1 }],
  ['conv 4×4, stride 2, padding 1, odd 9×8', { inC: 3, inH: 9, inW: 8, outC: 4, kernel: 4, stride: 2, padding: 1 }],
  ['conv 3×3, stride 2, no padding, 7×7', { inC: 1, inH: 7, inW: 7, outC: 2, kernel: 3, stride: 2, padding: 0 }],
  ['conv 1×1', { inC: 3, inH: 3, inW: 5, outC: 2, kernel: 1, stride: 1, padding: 0 }],
  ['conv 16 → 32 channels (blocked layouts), 4×4 stride 2', { inC: 16, inH: 8, inW: 8, outC: 32, kernel: 4, stride: 2, padding: 1 }],
  ['transposed 4×4, stride 2, padding 1, 4×3', { inC: 3, inH: 4, inW: 3, outC: 2, kernel: 4, stride: 2, padding: 1, transposed: true }],
  ['transposed 3×3, stride 2, padding 1, output padding 1, 5×5', { inC: 2, inH: 5, inW: 5, outC: 3, kernel: 3, stride: 2, padding: 1, outputPadding: 1, transposed: true }],
  ['transposed 3×3, stride 1, no padding, 3×4', { inC: 2, inH: 3, inW: 4, outC: 1, kernel: 3, stride: 1, padding: 0, transposed: true }],
  ['transposed 5×5, stride 3, padding 2, output padding 2, 3×3', { inC: 1, inH: 3, inW: 3, outC: 2, kernel: 5, stride: 3, padding: 2, outputPadding: 2, transposed: true }],
  ['transposed 32 → 16 channels (blocked layouts), 4×4 stride 2', { inC: 32, inH: 4, inW: 4, outC: 16, kernel: 4, stride: 2, padding: 1, transposed: true }],
];

describe.each(cases)('%s', (_name, g) => {
  const k = native().kernels;
  const rows = 3;
  const nx = rows * g.inC * g.inH * g.inW, nw = g.inC * g.outC * g.kernel * g.kernel;
  const ny = rows * g.outC * outSize(g, g.inH) * outSize(g, g.inW);
  const x = rand(nx, 1), w = rand(nw, 2), b = rand(g.outC, 3), dY = rand(ny, 4);
  const forward = (xv: Float32Array, wv: Float32Array, bv: Float32Array) => {
    const y = new Float32Array(ny);
    k.conv2d_forward(y, xv, wv, bv, g, rows);
    return y;
  };

  test('forward matches the float64 direct convolution', () => {
    const y = forward(x, w, b), ref = reference(g, x, w, b, rows);
    let maxErr = 0, maxRef = 0;
    for (let i = 0; i < ny; i++) {
      maxErr = Math.max(maxErr, Math.abs(y[i] - ref[i]));
      maxRef = Math.max(maxRef, Math.abs(ref[i]));
    }
    expect(maxErr).toBeLessThan(1e-5 * Math.max(1, maxRef) * Math.sqrt(g.inC * g.kernel * g.kernel));
  });

  test('backward (x, w, b) matches central finite differences', () => {
    const dX = new Float32Array(nx), dW = new Float32Array(nw).fill(0.25), dB = new Float32Array(g.outC).fill(-0.5);
    k.conv2d_backward(dX, dW, dB, dY, x, w, g, rows, false);
    // L = Σ dY ⊙ y is linear in each argument, so a large step is exact up to rounding.
    const loss = (xv: Float32Array, wv: Float32Array, bv: Float32Array) => forward(xv, wv, bv).reduce((s, v, i) => s + v * dY[i], 0);
    const h = 0.5;
    const check = (arr: Float32Array, grad: Float32Array, offset: number, which: (a: Float32Array) => number) => {
      const picks = Array.from({ length: Math.min(arr.length, 24) }, (_, t) => Math.floor((t * arr.length) / Math.min(arr.length, 24)));
      const fd = finiteDiff((v) => which(Float32Array.from(v)), Float64Array.from(arr), h, picks);
      for (const i of picks) expect(Math.abs(grad[i] - offset - fd[i])).toBeLessThan(2e-4 * Math.max(1, Math.abs(fd[i])));
    };
    check(x, dX, 0, (xv) => loss(xv, w, b));
    check(w, dW, 0, (wv) => loss(x, wv, b)); // dW and dB are written: what they held (0.25, −0.5) is gone
    check(b, dB, 0, (bv) => loss(x, w, bv));
  });

  test('backward accumulates into dX when asked', () => {
    const once = new Float32Array(nx), twice = new Float32Array(nx).fill(1);
    k.conv2d_backward(once, new Float32Array(nw), new Float32Array(g.outC), dY, x, w, g, rows, false);
    k.conv2d_backward(twice, new Float32Array(nw), new Float32Array(g.outC), dY, x, w, g, rows, true);
    for (let i = 0; i < nx; i += 7) expect(twice[i]).toBeCloseTo(once[i] + 1, 5);
  });
});

describe('bad geometry', () => {
  const k = native().kernels;
  const base: Geometry = { inC: 1, inH: 4, inW: 4, outC: 1, kernel: 3, stride: 1, padding: 0 };
  test.each<[string, Partial<Geometry>, RegExp]>([
    ['a kernel larger than its input', { kernel: 5 }, /larger than the padded input/],
    ['stride 0', { stride: 0 }, /for stride/],
    ['negative padding', { padding: -1 }, /for padding/],
    ['padding as large as the kernel', { padding: 3 }, /padding must be in/],
    ['output padding on a convolution', { outputPadding: 1 }, /outputPadding/],
  ])('%s', (_n, change, message) => {
    const g = { ...base, ...change };
    expect(() => k.conv2d_forward(new Float32Array(64), new Float32Array(16), new Float32Array(81), new Float32Array(1), g, 1)).toThrow(message);
  });
});

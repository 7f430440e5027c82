// CUDA kernels against their CPU twins on fresh random inputs. Without a CUDA device (no driver, no GPU, or a
// build without nvcc) the comparisons are skipped with the reason printed.
import { native } from '../lib/native';
import { maxRelErr, randn } from './helpers';

const info = native().info().cuda;
const haveDevice = info.compiled && info.devices > 0;
if (!haveDevice) console.log(`CUDA tests skipped: ${info.compiled ? 'built with CUDA, but ' : ''}${info.reason}`);
const cudaTest = haveDevice ? test : test.skip;

test('info() reports the CUDA build and device count without failing', () => {
  expect(typeof info.compiled).toBe('boolean');
  expect(info.devices).toBeGreaterThanOrEqual(0);
  if (!haveDevice) expect(info.reason.length).toBeGreaterThan(0);
});

test('without a device the CUDA entry points raise a clear error, never crash', () => {
  if (haveDevice) return;
  const a = new Float32Array(4);
  expect(() => native().cudaKernels.gaussian_kl_std_normal_forward(new Float32Array(2), a, a, 2, 2)).toThrow(/CUDA/);
});

describe('CUDA vs CPU', () => {
  const B = 1000, D = 37;
  const mean = randn(B * D, 1), logVar = randn(B * D, 2, 0.5), eps = randn(B * D, 3);
  cudaTest('gaussian_reparameterize_forward', () => {
    const cpu = new Float32Array(B * D), gpu = new Float32Array(B * D);
    native().kernels.gaussian_reparameterize_forward(cpu, mean, logVar, eps, B, D);
    native().cudaKernels.gaussian_reparameterize_forward(gpu, mean, logVar, eps, B, D);
    expect(maxRelErr(gpu, cpu)).toBeLessThan(1e-5);
  });
  cudaTest('gaussian_kl_std_normal_forward / backward', () => {
    const cpu = new Float32Array(B), gpu = new Float32Array(B);
    native().kernels.gaussian_kl_std_normal_forward(cpu, mean, logVar, B, D);
    native().cudaKernels.gaussian_kl_std_normal_forward(gpu, mean, logVar, B, D);
    expect(maxRelErr(gpu, cpu)).toBeLessThan(1e-5);
    const up = randn(B, 4);
    const [cm, cl, gm, gl] = [randn(B * D, 5), randn(B * D, 6), randn(B * D, 5), randn(B * D, 6)];
    native().kernels.gaussian_kl_std_normal_backward(cm, cl, up, mean, logVar, B, D);
    native().cudaKernels.gaussian_kl_std_normal_backward(gm, gl, up, mean, logVar, B, D);
    expect(maxRelErr(gm, cm)).toBeLessThan(1e-5);
    expect(maxRelErr(gl, cl)).toBeLessThan(1e-5);
  });
});

// models/vae/latent.ts — uses of the latent space: interpolation between two inputs' posterior means (linear or
// spherical), latent traversals of one dimension, and imputation of missing entries by iterated reconstruction.
import { Matrix, MatrixLike, matrix, takeRows, toMatrix } from '../../matrix';
import { fail, finiteNumber, integer, knownKeys, oneOf, plainObject } from '../../validate';
import { conditionOf, inputOf, repeatRows, singleLatent, Vae } from './model';

/**
 * `steps` decoded means along the path between the posterior means of xa and xb (one row each); a conditional
 * model encodes and decodes the whole path under one `condition` row.
 */
export function interpolate(vae: Vae, xa: MatrixLike, xb: MatrixLike, options: { steps?: number; path?: 'linear' | 'spherical'; condition?: MatrixLike } = {}): Matrix {
  const o = plainObject('interpolateOptions', options);
  knownKeys('interpolateOptions', o, ['steps', 'path', 'condition']);
  const c = conditionOf(vae, o.condition, 1);
  const steps = integer('steps', o.steps ?? 8, 2, 1 << 16);
  const pathKind = oneOf('path', o.path ?? 'linear', ['linear', 'spherical'] as const);
  const za = singleLatent(vae, 'xa', xa, c), zb = singleLatent(vae, 'xb', xb, c);
  const L = vae.latentDim;
  const norm = (v: Float32Array) => Math.sqrt(v.reduce((a, b) => a + b * b, 0));
  const cos = za.reduce((a, v, d) => a + v * zb[d], 0) / (norm(za) * norm(zb) || 1);
  const theta = Math.acos(Math.max(-1, Math.min(1, cos)));
  const z = matrix(steps, L);
  for (let s = 0; s < steps; s++) {
    const t = s / (steps - 1);
    // slerp (Shoemake 1985; White 2016 for VAE latents); linear when the angle is too small to divide by.
    const [wa, wb] = pathKind === 'spherical' && theta > 1e-4
      ? [Math.sin((1 - t) * theta) / Math.sin(theta), Math.sin(t * theta) / Math.sin(theta)]
      : [1 - t, t];
    for (let d = 0; d < L; d++) z.data[s * L + d] = wa * za[d] + wb * zb[d];
  }
  return vae.decode(z, c && repeatRows(c, steps));
}

/**
 * Latent traversal: for each row of x, `steps` decodes of its posterior mean with dimension `dim` set to values
 * evenly spaced over `range` (default [−3, 3]). Returns (rows × steps, inputDim), row-major by input row.
 */
export function traverse(vae: Vae, x: MatrixLike, options: { dim: number; range?: [number, number]; steps?: number; condition?: MatrixLike }): Matrix {
  const o = plainObject('traverseOptions', options);
  knownKeys('traverseOptions', o, ['dim', 'range', 'steps', 'condition']);
  const dim = integer('dim', o.dim, 0, vae.latentDim - 1);
  const steps = integer('steps', o.steps ?? 9, 2, 1 << 16);
  const range = o.range ?? [-3, 3];
  if (!Array.isArray(range) || range.length !== 2) fail('range', 'a pair [from, to]', range, 'type');
  const [lo, hi] = [finiteNumber('range[0]', range[0]), finiteNumber('range[1]', range[1])];
  const m = inputOf(vae, 'x', x);
  const c = conditionOf(vae, o.condition, m.rows);
  const { mean } = vae.encode(m, c);
  const L = vae.latentDim;
  const z = matrix(mean.rows * steps, L);
  for (let r = 0; r < mean.rows; r++)
    for (let s = 0; s < steps; s++) {
      const row = (r * steps + s) * L;
      z.data.set(mean.data.subarray(r * L, (r + 1) * L), row);
      z.data[row + dim] = lo + ((hi - lo) * s) / (steps - 1);
    }
  return vae.decode(z, c && takeRows(c, Array.from({ length: m.rows * steps }, (_, i) => Math.floor(i / steps))));
}

/**
 * Fills the entries of x where `missing` is non-zero: starting from the column means of the observed entries,
 * `iterations` times x_missing ← decode(encode(x).mean)_missing (observed entries stay as given).
 */
export function impute(vae: Vae, x: MatrixLike, missing: MatrixLike, options: { iterations?: number; condition?: MatrixLike } = {}): Matrix {
  const o = plainObject('imputeOptions', options);
  knownKeys('imputeOptions', o, ['iterations', 'condition']);
  const iterations = integer('iterations', o.iterations ?? 10, 1, 1 << 20);
  const m = toMatrix('x', x, { cols: vae.inputDim, finite: false });
  const mask = toMatrix('missing', missing, { cols: vae.inputDim });
  if (mask.rows !== m.rows) fail('missing', `a mask with ${m.rows} rows (as x)`, `${mask.rows} rows`, 'range');
  const D = vae.inputDim;
  const filled = matrix(m.rows, D);
  const colSum = new Float64Array(D), colCount = new Float64Array(D);
  for (let i = 0; i < m.data.length; i++)
    if (mask.data[i] === 0) {
      if (!Number.isFinite(m.data[i])) fail('x', 'finite values where missing is 0', `${m.data[i]} at row ${Math.floor(i / D)}, column ${i % D}`);
      colSum[i % D] += m.data[i];
      colCount[i % D] += 1;
    }
  for (let i = 0; i < m.data.length; i++) filled.data[i] = mask.data[i] === 0 ? m.data[i] : colCount[i % D] > 0 ? colSum[i % D] / colCount[i % D] : 0;
  inputOf(vae, 'x', filled);
  for (let it = 0; it < iterations; it++) {
    const recon = vae.reconstruct(filled, o.condition as MatrixLike | undefined);
    for (let i = 0; i < filled.data.length; i++) if (mask.data[i] !== 0) filled.data[i] = recon.data[i];
  }
  return filled;
}

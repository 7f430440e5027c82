// eval/projection.ts — projection of (rows, d) points onto their first two principal axes, for 2-D latent plots.
// d is small (a latent width), so the d×d covariance is formed in float64 and diagonalised by cyclic Jacobi.
import { Matrix } from '../matrix';

/** Eigen-decomposition of a symmetric d×d matrix (row-major, float64); eigenvalues sorted descending. */
export function symmetricEigen(a: Float64Array, d: number): { values: Float64Array; vectors: Float64Array } {
  const A = Float64Array.from(a);
  const V = new Float64Array(d * d);
  for (let i = 0; i < d; i++) V[i * d + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < d; p++) for (let q = p + 1; q < d; q++) off += A[p * d + q] ** 2;
    if (off < 1e-22) break;
    for (let p = 0; p < d; p++)
      for (let q = p + 1; q < d; q++) {
        const apq = A[p * d + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (A[q * d + q] - A[p * d + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < d; k++) {
          const akp = A[k * d + p], akq = A[k * d + q];
          A[k * d + p] = c * akp - s * akq;
          A[k * d + q] = s * akp + c * akq;
        }
        for (let k = 0; k < d; k++) {
          const apk = A[p * d + k], aqk = A[q * d + k];
          A[p * d + k] = c * apk - s * aqk;
          A[q * d + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < d; k++) {
          const vkp = V[k * d + p], vkq = V[k * d + q];
          V[k * d + p] = c * vkp - s * vkq;
          V[k * d + q] = s * vkp + c * vkq;
        }
      }
  }
  const order = Array.from({ length: d }, (_, i) => i).sort((i, j) => A[j * d + j] - A[i * d + i]);
  const values = Float64Array.from(order, (i) => A[i * d + i]);
  const vectors = new Float64Array(d * d); // column k = eigenvector k
  order.forEach((src, k) => {
    for (let r = 0; r < d; r++) vectors[r * d + k] = V[r * d + src];
  });
  return { values, vectors };
}

/** (rows, 2) interleaved coordinates: the data itself when d ≤ 2, else the top two principal components. */
export function project2d(x: Matrix): Float64Array {
  const { rows, cols: d } = x;
  const out = new Float64Array(rows * 2);
  if (d <= 2) {
    for (let r = 0; r < rows; r++) for (let c = 0; c < d; c++) out[2 * r + c] = x.data[r * d + c];
    return out;
  }
  const mean = new Float64Array(d);
  for (let r = 0; r < rows; r++) for (let c = 0; c < d; c++) mean[c] += x.data[r * d + c] / rows;
  const cov = new Float64Array(d * d);
  for (let r = 0; r < rows; r++)
    for (let i = 0; i < d; i++) {
      const xi = x.data[r * d + i] - mean[i];
      for (let j = i; j < d; j++) cov[i * d + j] += xi * (x.data[r * d + j] - mean[j]);
    }
  for (let i = 0; i < d; i++) for (let j = 0; j < i; j++) cov[i * d + j] = cov[j * d + i];
  const { vectors } = symmetricEigen(cov, d);
  for (let r = 0; r < rows; r++)
    for (let k = 0; k < 2; k++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += (x.data[r * d + c] - mean[c]) * vectors[c * d + k];
      out[2 * r + k] = s;
    }
  return out;
}

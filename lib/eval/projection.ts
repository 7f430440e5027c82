// eval/projection.ts — projection of (rows, d) points onto their first two principal axes, for 2-D latent plots.
// d is small (a latent width), so the d×d covariance is formed in float64 and diagonalised natively (LAPACK).
import { Matrix } from '../matrix';
import { native } from '../native';

/** Eigen-decomposition of a symmetric d×d matrix (row-major, float64; LAPACK dsyevd natively); eigenvalues sorted
 * descending, column k of `vectors` the eigenvector of values[k]. */
export function symmetricEigen(a: Float64Array, d: number): { values: Float64Array; vectors: Float64Array } {
  const rowsAreVectors = Float64Array.from(a);
  const values = new Float64Array(d);
  native().classical.symmetricEigen(rowsAreVectors, d, values);
  const vectors = new Float64Array(d * d);
  for (let k = 0; k < d; k++) for (let r = 0; r < d; r++) vectors[r * d + k] = rowsAreVectors[k * d + r];
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

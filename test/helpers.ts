// test/helpers.ts — seeded random inputs, float64 comparison helpers and an in-process CLI runner shared by the tests.
import { main } from '../lib/cli/main';

/** A small deterministic PRNG (mulberry32) for test inputs, independent of the library's own RNG. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randn(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(r(), 1e-12);
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
  }
  return out;
}

export function uniform(n: number, seed: number, lo = 0, hi = 1): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
}

/** max_i |a_i − b_i| / max(1, max_i |b_i|). */
export function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let err = 0;
  let scale = 1;
  for (let i = 0; i < b.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return err / scale;
}

/**
 * Central finite differences of a float64 scalar function f(x) at x, for every coordinate (or the listed ones).
 */
export function finiteDiff(f: (x: Float64Array) => number, x: Float64Array, h = 1e-5, coords?: number[]): Float64Array {
  const g = new Float64Array(x.length);
  for (const i of coords ?? Array.from({ length: x.length }, (_, k) => k)) {
    const keep = x[i];
    x[i] = keep + h;
    const up = f(x);
    x[i] = keep - h;
    const down = f(x);
    x[i] = keep;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

export const f64 = (a: ArrayLike<number>) => Float64Array.from(a);
export const f32 = (a: ArrayLike<number>) => Float32Array.from(a);

/** Runs the latentkit command in-process with stdout/stderr captured. */
export async function runCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const so = jest.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => ((out += String(c)), true));
  const se = jest.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => ((err += String(c)), true));
  try {
    return { code: await main(args), out, err };
  } finally {
    so.mockRestore();
    se.mockRestore();
  }
}

/** The CSR form (SciPy's layout) of a dense matrix: its non-zero entries, row by row. */
export function csrOf(m: { data: Float32Array; rows: number; cols: number }): { indptr: Int32Array; indices: Int32Array; data: Float32Array; rows: number; cols: number } {
  const indptr = [0], indices: number[] = [], data: number[] = [];
  for (let r = 0; r < m.rows; r++) {
    for (let c = 0; c < m.cols; c++) if (m.data[r * m.cols + c] !== 0) { indices.push(c); data.push(m.data[r * m.cols + c]); }
    indptr.push(indices.length);
  }
  return { indptr: Int32Array.from(indptr), indices: Int32Array.from(indices), data: Float32Array.from(data), rows: m.rows, cols: m.cols };
}

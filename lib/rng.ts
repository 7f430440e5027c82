// rng.ts — the JS side of native/core/rng.h: stream ids (purpose << 48, as rng_stream() builds them) and the
// draws the TS layer makes through the native Philox fills. One registry, so two callers that must draw the same
// numbers (Vae.sample and OnnxDecoder.sample) use the same stream.
import { Matrix, matrix } from './matrix';
import { native } from './native';

/** Mirrors lk::RngPurpose. */
export const RngPurpose = { Init: 1, Permutation: 4, Sample: 5, DataSplit: 7, DataBinarize: 8, MixtureSample: 11, BlockOrder: 12, BlockRows: 13 } as const;

export function rngStream(purpose: number, step = 0): number {
  return purpose * 2 ** 48 + step;
}

/** n rows of z ~ N(0, I) drawn from `seed`: the prior draws behind every sample(n, { seed }). */
export function priorSample(n: number, latentDim: number, seed: number): Matrix {
  const z = matrix(n, latentDim);
  native().kernels.rng_normal_fill(z.data, z.data.length, seed, rngStream(RngPurpose.Sample), 0);
  return z;
}

// precision.ts — the arithmetic a training run or an evaluation uses: 'fp32', or 'bf16' mixed precision (bf16
// products with fp32 accumulation; fp32 master weights, Adam state, likelihood, KL and reductions: native
// nn/layer.h), or 'auto' = bf16 where the CPU computes it natively (AVX512-BF16 or AMX), else fp32. The default is
// defined here once.
import { native } from './native';
import { fail, knownKeys, oneOf, plainObject } from './validate';

export const PRECISIONS = ['fp32', 'bf16', 'auto'] as const;
export type Precision = (typeof PRECISIONS)[number];
export const DEFAULT_PRECISION: Precision = 'fp32';

/** What runs for a requested precision: 'auto' resolved for this CPU; 'bf16' refused where it is not native. */
export function resolvePrecision(value: unknown, name = 'precision'): 'fp32' | 'bf16' {
  const p = oneOf(name, value ?? DEFAULT_PRECISION, PRECISIONS);
  const info = native().info();
  if (p === 'auto') return info.autoPrecision;
  if (p === 'bf16' && !info.bf16Native)
    fail(name, `'fp32' or 'auto' (this CPU has no native bf16: oneDNN's ISA is ${info.isa}; bf16 needs AVX512-BF16 or AMX)`, p);
  return p;
}

/** The options of a synchronous inference call (encode, decode). */
export interface InferenceOptions {
  precision?: Precision;
}

/** The precision of an inference call's options object (undefined: the default). */
export function inferencePrecision(options: unknown): 'fp32' | 'bf16' {
  if (options === undefined) return resolvePrecision(undefined);
  const o = plainObject('inferenceOptions', options);
  knownKeys('inferenceOptions', o, ['precision']);
  return resolvePrecision(o.precision);
}

// native.ts — the only module that loads latentkit.node; a typed view of the binding. On a load failure it throws
// an error that lists what was tried and how to fix it.
import * as fs from 'fs';
import * as path from 'path';
import { LatentkitError } from './errors';
import type { NativeRows } from './data/rows';
import type { Activation } from './models/architecture';

/** Kernel functions, one per native/core kernel: same names, same argument order (outputs, saved, inputs, sizes). */
export interface NativeKernels {
  gaussian_reparameterize_forward(z: Float32Array, mean: Float32Array, logVar: Float32Array, eps: Float32Array, B: number, D: number, K?: number): void;
  gaussian_reparameterize_backward(dMean: Float32Array, dLogVar: Float32Array, dZ: Float32Array, logVar: Float32Array, eps: Float32Array, B: number, D: number, K?: number): void;
  gaussian_kl_std_normal_forward(kl: Float32Array, mean: Float32Array, logVar: Float32Array, B: number, D: number): void;
  gaussian_kl_std_normal_backward(dMean: Float32Array, dLogVar: Float32Array, dKl: Float32Array, mean: Float32Array, logVar: Float32Array, B: number, D: number, dimScale?: Float32Array | null): void;
  gaussian_kl_std_normal_dims_forward(klDims: Float32Array, mean: Float32Array, logVar: Float32Array, B: number, D: number): void;
  std_normal_log_ratio_forward(ratio: Float32Array, z: Float32Array, eps: Float32Array, logVar: Float32Array, B: number, D: number, K: number): void;
  std_normal_log_ratio_backward(dZ: Float32Array, dLogVar: Float32Array, dRatio: Float32Array, z: Float32Array, B: number, D: number, K: number): void;
  gaussian_diag_log_density_forward(logProb: Float32Array, x: Float32Array, mean: Float32Array, logVar: Float32Array, B: number, D: number): void;
  gaussian_diag_log_density_backward(dX: Float32Array | null, dMean: Float32Array | null, dLogVar: Float32Array | null, dLogProb: Float32Array, x: Float32Array, mean: Float32Array, logVar: Float32Array, B: number, D: number): void;
  bernoulli_logits_nll_forward(nll: Float32Array, probs: Float32Array | null, logits: Float32Array, x: Float32Array, B: number, D: number): void;
  bernoulli_logits_nll_backward(dLogits: Float32Array, dNll: Float32Array, probs: Float32Array, x: Float32Array, B: number, D: number): void;
  gaussian_nll_forward(nll: Float32Array, mean: Float32Array, logVar: Float32Array, logVarShape: 'scalar' | 'feature' | 'element', x: Float32Array, B: number, D: number): void;
  gaussian_nll_backward(dMean: Float32Array, dLogVar: Float32Array | null, dNll: Float32Array, mean: Float32Array, logVar: Float32Array, logVarShape: 'scalar' | 'feature' | 'element', x: Float32Array, B: number, D: number): void;
  mixture_log_ratio_forward(ratio: Float32Array, resp: Float32Array, z: Float32Array, eps: Float32Array, logVar: Float32Array, logits: Float32Array, means: Float32Array, logVars: Float32Array, B: number, D: number, K: number, C: number): void;
  mixture_log_ratio_backward(dZ: Float32Array, dLogVar: Float32Array, dLogits: Float32Array, dMeans: Float32Array, dLogVars: Float32Array, dRatio: Float32Array, resp: Float32Array, z: Float32Array, logits: Float32Array, means: Float32Array, logVars: Float32Array, B: number, D: number, K: number, C: number): void;
  laplace_nll_forward(nll: Float32Array, mean: Float32Array, logScale: Float32Array, logScaleShape: 'scalar' | 'feature' | 'element', x: Float32Array, B: number, D: number): void;
  laplace_nll_backward(dMean: Float32Array, dLogScale: Float32Array | null, dNll: Float32Array, mean: Float32Array, logScale: Float32Array, logScaleShape: 'scalar' | 'feature' | 'element', x: Float32Array, B: number, D: number): void;
  floored_log_forward(out: Float32Array, raw: Float32Array, floor: number, n: number): void;
  floored_log_backward(dRaw: Float32Array, dOut: Float32Array, raw: Float32Array, floor: number, n: number): void;
  poisson_nll_forward(nll: Float32Array, logRate: Float32Array, offset: Float32Array | null, x: Float32Array, B: number, D: number): void;
  poisson_nll_backward(dLogRate: Float32Array, dNll: Float32Array, logRate: Float32Array, offset: Float32Array | null, x: Float32Array, B: number, D: number): void;
  nb_nll_forward(nll: Float32Array, logMean: Float32Array, logTheta: Float32Array, dropoutLogits: Float32Array | null, offset: Float32Array | null, x: Float32Array, B: number, D: number): void;
  nb_nll_backward(dLogMean: Float32Array, dLogTheta: Float32Array | null, dDropoutLogits: Float32Array | null, dNll: Float32Array, logMean: Float32Array, logTheta: Float32Array, dropoutLogits: Float32Array | null, offset: Float32Array | null, x: Float32Array, B: number, D: number): void;
  dense_forward(y: Float32Array, x: Float32Array, W: Float32Array, b: Float32Array, B: number, I: number, O: number, activation: Activation): void;
  /** y (rows, outC, outH, outW) = conv(x) + b; w: (outC, inC, k, k), transposed (inC, outC, k, k) — core/conv.h. */
  conv2d_forward(y: Float32Array, x: Float32Array, w: Float32Array, b: Float32Array, geometry: ConvGeometry, rows: number): void;
  /** dW += ∂, dB += ∂, dX = (or += with accumulateDx) ∂ of Σ dY ⊙ conv(x). */
  conv2d_backward(dX: Float32Array | null, dW: Float32Array, dB: Float32Array, dY: Float32Array, x: Float32Array, w: Float32Array, geometry: ConvGeometry, rows: number, accumulateDx: boolean): void;
  /** Seconds per pass over the listed convolutions' primitives alone (forward, backward weights, backward data unless inputGrad is false). */
  conv_benchmark(layers: Array<ConvGeometry & { inputGrad?: boolean }>, rows: number, repeats: number, warmup: number, precision: NativePrecision): number[];
  dense_backward(dX: Float32Array | null, dW: Float32Array, dB: Float32Array, dY: Float32Array, x: Float32Array, W: Float32Array, y: Float32Array, B: number, I: number, O: number, activation: Activation, accumulateDx: boolean): void;
  adam_step(params: Float32Array, m: Float32Array, v: Float32Array, grad: Float32Array, n: number, hyper: { lr?: number; beta1?: number; beta2?: number; eps?: number; weightDecay?: number }, step: number, zeroGrad: boolean, gradScale?: number): void;
  rng_normal_fill(out: Float32Array, n: number, seed: number, stream: number, offset: number): void;
  rng_uniform_fill(out: Float32Array, n: number, seed: number, stream: number, offset: number): void;
  rng_permutation(perm: BigInt64Array, n: number, seed: number, stream: number): void;
  rng_block_permutation(perm: BigInt64Array, blockOrder: BigInt64Array, n: number, block: number, seed: number, orderStream: number, rowsStream: number): void;
  logsumexp_rows_forward(out: Float32Array, x: Float32Array, B: number, D: number): void;
  logsumexp_rows_backward(dX: Float32Array, dOut: Float32Array, x: Float32Array, out: Float32Array, B: number, D: number): void;
  gemm(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number, A: Float32Array, B: Float32Array, beta: number, C: Float32Array): void;
  /** Seconds per pass over the listed GEMMs (row-major, [transA, transB, M, N, K]), timed on the compute thread. */
  /** A and B rounded to bf16, then C = op(A)·op(B) + beta·C with fp32 accumulation (beta 0 or 1). */
  gemm_bf16(transA: boolean, transB: boolean, M: number, N: number, K: number, A: Float32Array, B: Float32Array, beta: number, C: Float32Array): void;
  round_bf16(out: Float32Array, x: Float32Array, n: number): void;
  gemm_benchmark(shapes: Array<[boolean, boolean, number, number, number]>, repeats: number, warmup: number, precision: NativePrecision): number[];
  set_threads(threads: number): void;
}

export interface ConvGeometry {
  inC: number;
  inH: number;
  inW: number;
  outC: number;
  kernel: number;
  stride: number;
  padding: number;
  outputPadding?: number;
  transposed?: boolean;
}

export interface NativeCudaKernels {
  gaussian_reparameterize_forward(z: Float32Array, mean: Float32Array, logVar: Float32Array, eps: Float32Array, B: number, D: number): void;
  gaussian_kl_std_normal_forward(kl: Float32Array, mean: Float32Array, logVar: Float32Array, B: number, D: number): void;
  gaussian_kl_std_normal_backward(dMean: Float32Array, dLogVar: Float32Array, dKl: Float32Array, mean: Float32Array, logVar: Float32Array, B: number, D: number): void;
}

export interface NativeVaeConfig {
  inputDim: number;
  latentDim: number;
  inputShape?: number[]; // [n] or [c, h, w]
  /** Layers (models/architecture.ts nativeLayers): { name, kind, units, kernel, stride, padding, outputPadding, activation, shape? } */
  encoder: Array<Record<string, unknown>>;
  decoder: Array<Record<string, unknown>>;
  likelihood: string; // 'bernoulli' | 'gaussian' | 'laplace' | 'poisson' | 'nb' | 'zinb'
  sigmaMode: string; // 'fixed' | 'shared' | 'feature' | 'decoder'
  sigma?: number; // Gaussian / Laplace: the fixed scale, or where a learned one starts
  minSigma?: number; // sigmaMode 'decoder': σ(z)'s floor
  observedLibrary: boolean; // count means scale with each row's Σx
  priorComponents: number; // 0: N(0, I); C: a learned mixture of C Gaussians
  conditionDim: number; // > 0: a conditional VAE
}

export interface NativeTrainingState {
  adamM: Float32Array;
  adamV: Float32Array;
  encoderAdamSteps: number;
  generativeAdamSteps: number;
  innerCursor: number;
  innerShuffles: number;
  innerSteps: number;
}

export interface NativeTrainOptions {
  batchSize: number;
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay: number;
  binarize: boolean;
  seed: number;
  objective?: 'elbo' | 'iwae';
  samples?: number;
  klWeight?: number;
  freeBits?: number;
  precision: NativePrecision;
  clipGradNorm?: number; // > 0: the global gradient norm of each update is clipped to it
  shuffleBlockRows?: number; // > 0: a block shuffle of blocks of this many rows (trainer.h); 0: a global permutation
  distributed?: boolean; // data-parallel over MPI_COMM_WORLD (trainer.h, distributed/communicator.h)
  sharded?: boolean; // … each rank holding its shard of the rows (else the whole set)
}

/** The process group of distributed training (native/binding/distributed_binding.cpp). */
export interface NativeDistributed {
  launched(): boolean;
  init(): { rank: number; size: number };
  allGather(bytes: Uint8Array): Promise<Buffer[]>;
  allReduceSum(values: Float64Array): Promise<Float64Array>;
  reduceStats(): { seconds: number; bytes: number };
  abort(code: number): void;
}

/** A file mapped into memory (native/data/mapped_file.h), unmapped when this and every source over it are gone. */
export interface NativeMapping {
  byteLength(): number;
  /** A copy of bytes [offset, offset + length) (clipped to the file). */
  read(offset: number, length: number): Buffer;
}

/** Mapped files, and rows of any source densified (native/binding/data_binding.cpp). */
export interface NativeData {
  mapFile(path: string): NativeMapping;
  /** Rows `indices` of x (rows × cols) into out (indices.length × cols); values not checked against a likelihood. */
  gather(x: NativeRows, rows: number, cols: number, indices: BigInt64Array, out: Float32Array): void;
}

/** The arithmetic of a native pass ('auto' is resolved in TypeScript: precision.ts). */
export type NativePrecision = 'fp32' | 'bf16';

/** One step's objective. */
export interface NativeStepOptions {
  objective?: 'elbo' | 'iwae';
  samples?: number;
  klWeight?: number;
  freeBits?: number;
}

export interface NativeTensorInfo {
  name: string;
  offset: number;
  shape: number[];
}

export interface NativeVae {
  numParams(): number;
  tensors(): NativeTensorInfo[];
  initParams(seed: number): void;
  getParams(out: Float32Array): void;
  setParams(params: Float32Array): void;
  setThreads(threads: number): void;
  encode(x: NativeRows, rows: number, mean: Float32Array, logVar: Float32Array, condition: Float32Array | null, precision: NativePrecision): void;
  decode(z: Float32Array, rows: number, mean: Float32Array, aux: Float32Array | null, condition: Float32Array | null, precision: NativePrecision): void;
  /** encode as a job on the compute thread (it copies its inputs; outputs are new arrays). */
  encodeAsync(x: NativeRows, rows: number, condition: Float32Array | null, precision: NativePrecision): Promise<{ mean: Float32Array; logVar: Float32Array }>;
  /** decode as a job on the compute thread; aux (log-scale or dropout logits) only when withAux. */
  decodeAsync(z: Float32Array, rows: number, condition: Float32Array | null, precision: NativePrecision, withAux: boolean): Promise<{ mean: Float32Array; aux: Float32Array | null }>;
  decoderLogScale(): Float32Array | null;
  /**
   * Per-example terms over `samples` draws; each wanted output comes back as a new Float32Array (else null).
   * rowOffset: row i draws as row rowOffset + i of a larger set (a rank's part of it).
   */
  evaluate(x: NativeRows, rows: number, samples: number, seed: number, binarize: boolean, analyticKl: boolean,
    want: { reconstruction?: boolean; kl?: boolean; logLikelihood?: boolean }, condition: Float32Array | null, precision: NativePrecision, rowOffset?: number): Promise<{
    reconstruction: Float32Array | null; kl: Float32Array | null; logLikelihood: Float32Array | null;
  }>;
  /** fp32 unless a precision is given. */
  lossAndGradient(x: Float32Array, rows: number, seed: number, grad: Float32Array, step?: NativeStepOptions, condition?: Float32Array | null, precision?: NativePrecision): number;
  beginTraining(data: NativeRows, rows: number, options: NativeTrainOptions, condition?: Float32Array | null): void;
  stepsPerEpoch(): number;
  /** klWeights, learningRates: one per step of the epoch, or null (the options' value for every step). */
  trainEpoch(epoch: number, klWeights: Float32Array | null, learningRates: Float32Array | null, aggressive: boolean, onProgress?: (steps: number, examples: number, lossSum: number) => void): Promise<{
    lossSum: number; reconstructionSum: number; klSum: number; examples: number; steps: number; encoderSteps: number;
    clippedSteps: number; gradNormMax: number;
  }>;
  /** What a resumed run needs beyond the parameters (native/train/trainer.h); between epochs. */
  trainingState(): NativeTrainingState;
  restoreTrainingState(state: NativeTrainingState): void;
  endTraining(): void;
  /** Cancels the running training epoch. */
  cancel(): void;
  /** Whether a job of this model (a training epoch, or one that reads it) is running. */
  busy(): boolean;
}

export type NativeCovarianceType = 'full' | 'tied' | 'diag' | 'spherical';
/** A cancellable native job: cancel() makes it reject with LATENTKIT_CANCELLED (a no-op once it settled). */
export type NativeJob<T> = Promise<T> & { cancel(): void };
/** An iterative fit's per-iteration report: initialisation (0-based), EM iteration (1-based), its lower bound / mean log-likelihood. */
export type NativeProgress = (init: number, iteration: number, value: number) => void;

/** Parameters of a Gaussian mixture as the native side reads them. */
export interface NativeGmmParams {
  nComponents: number;
  covarianceType: NativeCovarianceType;
  weights: Float64Array;
  means: Float64Array;
  precisionsCholesky: Float64Array;
}

export interface NativeGmmFit {
  weights: Float64Array;
  means: Float64Array;
  covariances: Float64Array;
  precisionsCholesky: Float64Array;
  lowerBounds: Float64Array;
  lowerBound: number;
  nIter: number;
  converged: boolean;
}

/** x = W z + mean + ε, ε ~ N(0, diag psi): W (cols × nComponents, row-major). */
export interface NativeLinearGaussian {
  nComponents: number;
  mean: Float64Array;
  W: Float64Array;
  psi: Float64Array;
}

export interface NativeClassical {
  gmmFit(x: NativeRows, rows: number, cols: number, options: {
    nComponents: number; covarianceType: NativeCovarianceType; tol: number; maxIter: number; nInit: number; init: 'kmeans' | 'k-means++' | 'random' | 'random_from_data';
    regCovar: number; seed: number; threads: number; weightsInit?: Float64Array; meansInit?: Float64Array; precisionsInit?: Float64Array; onProgress?: NativeProgress;
    distributed?: boolean;
  }): NativeJob<NativeGmmFit>;
  gmmLogProb(x: NativeRows, rows: number, cols: number, params: NativeGmmParams, resp: Float64Array | null, logNorm: Float64Array): void;
  /** distributed: x is this rank's shard and the fit the whole set's (classical_binding.cpp). */
  pcaFit(x: NativeRows, rows: number, cols: number, nComponents: number, threads: number, distributed?: boolean): NativeJob<{
    mean: Float64Array; components: Float64Array; explainedVariance: Float64Array; noiseVariance: number; totalVariance: number;
  }>;
  linearGaussianEm(x: NativeRows, rows: number, cols: number, options: {
    nComponents: number; isotropic: boolean; ddof: number; tol: number; maxIter: number; seed: number; sampleEstep: boolean; samples: number; threads: number; onProgress?: NativeProgress;
    distributed?: boolean;
  }): NativeJob<{ mean: Float64Array; W: Float64Array; psi: Float64Array; loglike: Float64Array; nIter: number; converged: boolean }>;
  /** scikit-learn's SVD-based FactorAnalysis (native/models/linear_gaussian.h); the result as linearGaussianEm's. */
  factorAnalysisSvd(x: NativeRows, rows: number, cols: number, options: { nComponents: number; tol: number; maxIter: number; threads: number; onProgress?: NativeProgress;
    distributed?: boolean }): NativeJob<{
    mean: Float64Array; W: Float64Array; psi: Float64Array; loglike: Float64Array; nIter: number; converged: boolean }>;
  linearGaussianLogDensity(x: NativeRows, rows: number, cols: number, model: NativeLinearGaussian, out: Float64Array): void;
  linearGaussianPosteriorMean(x: NativeRows, rows: number, cols: number, model: NativeLinearGaussian, out: Float64Array): void;
  /** (x − mean) componentsᵀ into out (rows, nComponents). */
  pcaTransform(x: NativeRows, rows: number, cols: number, model: { nComponents: number; mean: Float64Array; components: Float64Array }, out: Float32Array): void;
  cholesky(a: Float64Array, d: number): void;
  spdInverse(a: Float64Array, d: number): number;
  symmetricEigen(a: Float64Array, d: number, w: Float64Array): void;
}

export interface NativeBinding {
  kernels: NativeKernels;
  cudaKernels: NativeCudaKernels;
  VaeNative: {
    new (config: NativeVaeConfig): NativeVae;
    /** The parameter layout of a model with this config, without allocating it. */
    layout(config: NativeVaeConfig): { numParams: number; tensors: NativeTensorInfo[] };
    /** The training objective on given per-row terms (models/objective.h), for its own tests. */
    objective(dNll: Float32Array, dRatio: Float32Array | null, dimScale: Float32Array | null, nll: Float32Array, ratio: Float32Array | null,
      kl: Float32Array | null, klDims: Float32Array | null, B: number, L: number, step: NativeStepOptions): { loss: number; reconstruction: number; kl: number; dKl: number };
  };
  classical: NativeClassical;
  data: NativeData;
  distributed: NativeDistributed;
  /**
   * isa: oneDNN's effective ISA; bf16Native: whether it computes bf16 natively; autoPrecision: what precision 'auto'
   * runs; inferenceRows: the rows of one encode / decode pass (inputs split at multiples of it give the same bits).
   */
  /** The compute pool now: its core budget (= info().cores), the threads of its running jobs, its queue, its workers. */
  poolStats(): { budget: number; runningThreads: number; queued: number; workers: number };
  info(): { cores: number; isa: string; bf16Native: boolean; autoPrecision: 'fp32' | 'bf16'; inferenceRows: number; cuda: { compiled: boolean; devices: number; reason: string } };
  /** Cancels this environment's native jobs and waits until none is computing (called on process 'exit'). */
  shutdown(): void;
  /** Native LATENTKIT_* errors are made with this class (LatentkitError) from now on. */
  setErrorClass(errorClass: new (code: never, message: string) => Error): void;
}

/**
 * libgomp's spin count before a waiting thread sleeps, set unless the user set OMP_WAIT_POLICY or GOMP_SPINCOUNT
 * (libgomp reads them once, when it loads with the addon). Its default (300,000 spins) burns the CPU a descheduled
 * teammate needs when other processes compete for the cores: with two busy loops beside it on 2 cores, the 2-thread
 * VAE ran at 45 % of its fair share; at 1,000 (what libgomp itself uses once it has more threads than CPUs) at
 * 78–113 %, for 2–3 % less quiet throughput (bench/contention.js, README "Under contention").
 */
export const GOMP_SPINCOUNT = 1000;

function load(): NativeBinding {
  if (process.env.OMP_WAIT_POLICY === undefined && process.env.GOMP_SPINCOUNT === undefined) process.env.GOMP_SPINCOUNT = String(GOMP_SPINCOUNT);
  const root = path.resolve(__dirname, '..');
  const candidates = [
    process.env.LATENTKIT_NATIVE,
    path.join(root, 'build', 'Release', 'latentkit.node'),
    path.join(root, 'build', 'Debug', 'latentkit.node'),
  ].filter((p): p is string => Boolean(p));
  const failures: string[] = [];
  for (const candidate of candidates) {
    if (!fs.existsSync(candidate)) {
      failures.push(`${candidate}: not found`);
      continue;
    }
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const binding = require(candidate) as NativeBinding;
      // process.exit() runs no native cleanup hooks before the C library's exit handlers and the libraries'
      // finalisers (oneDNN's JIT code, OpenBLAS, libgomp): a job still computing then would crash the process.
      process.on('exit', () => binding.shutdown());
      binding.setErrorClass(LatentkitError);
      // What info() reports is fixed for the process (the budget is read once natively; the ISA and the CUDA devices
      // do not change), and it is asked on every constructor, fit and async inference call: read it once (its CUDA
      // part queries the driver).
      const info = binding.info();
      Object.freeze(info.cuda);
      Object.freeze(info);
      binding.info = () => info;
      return binding;
    } catch (e) {
      failures.push(`${candidate}: ${(e as Error).message}`);
    }
  }
  throw new LatentkitError(
    'LATENTKIT_NATIVE_LOAD',
    'latentkit could not load its native addon. Tried:\n  ' +
      failures.join('\n  ') +
      '\nTo fix: install the system libraries (sudo apt-get install -y libdnnl-dev libopenblas-dev g++ cmake), then rebuild with ' +
      '`npx cmake-js rebuild` in the latentkit package folder (or reinstall with `npm ci`).',
  );
}

let cached: NativeBinding | undefined;

/** The loaded binding (loaded on first use). */
export function native(): NativeBinding {
  cached ??= load();
  return cached;
}

// index.ts — the public API of latentkit.
export { Vae, ACTIVATIONS, LIKELIHOODS } from './models/vae';
export type { VaeOptions, FitOptions, History, EpochRecord, StepProgress, ElboResult, Activation, Likelihood } from './models/vae';
export type { Matrix, MatrixLike } from './matrix';
export { toMatrix, toArrays } from './matrix';
export { datasets, loadData, trainTestSplit, binarize, minMaxScale, headRows, parseIdx, readIdx, parseNpy, readNpy, encodeNpy, parseCsv, readCsv } from './data';
export { LatentkitError } from './errors';
export type { ErrorCode } from './errors';
export { loadSafetensors, saveSafetensors } from './io/safetensors';
export { native } from './native';
export { VERSION } from './version';
export { OnnxDecoder, OnnxEncoder } from './onnx/runtime';
export { decoderOnnx, encoderOnnx, ONNX_IR_VERSION, ONNX_OPSET } from './onnx/export';
export { createServer, serve, ServeOptions, ListenOptions } from './serve/server';
export { GaussianMixture, COVARIANCE_TYPES, GMM_INITS } from './models/mixture';
export type { GaussianMixtureOptions, CovarianceType, GmmInit } from './models/mixture';
export { PCA, PPCA, FactorAnalysis } from './models/linear';
export type { PcaOptions, PpcaOptions, FactorAnalysisOptions } from './models/linear';
export type { Tensor64 } from './models/classical';

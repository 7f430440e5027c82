// models/vae.ts — the VAE's public surface, gathered from its modules: options (vae/options.ts), the model
// (vae/model.ts), training (train/fit.ts), evaluation (eval/vae.ts), sampling and latent tools (vae/sampling.ts,
// vae/latent.ts).
export * from './vae/options';
export { Vae } from './vae/model';
export type { EpochRecord, FitOptions, History, StepProgress } from '../train/fit';
export type { ElboResult } from '../eval/vae';

// train/schedule.ts — fit's per-step and per-epoch rules: learning-rate schedules (step and exponential decay per
// epoch, cosine with linear warm-up per step, ReduceLROnPlateau per epoch on a monitored loss) and early stopping,
// each as options with their checks, a pure formula or a small state machine whose state a training checkpoint
// stores. The native trainer takes each epoch's learning rates as one Float32Array (one per step).
import { fail, finiteNumber, integer, knownKeys, oneOf, plainObject } from '../validate';

export const LR_SCHEDULE_KINDS = ['step', 'exponential', 'cosine', 'plateau'] as const;
export const MONITORS = ['validation', 'train'] as const;
export type Monitor = (typeof MONITORS)[number];

/**
 * - step: lr · gamma^⌊epoch / stepSize⌋ (PyTorch's StepLR; gamma 0.1), per epoch;
 * - exponential: lr · gamma^epoch (ExponentialLR), per epoch;
 * - cosine: per step t of T = epochs × steps per epoch: lr · (t + 1) / warmupSteps during the warm-up, then
 *   minLr + (lr − minLr) · (1 + cos(π (t − W) / (T − W))) / 2 (SGDR without restarts, Loshchilov & Hutter 2017);
 * - plateau: ReduceLROnPlateau (PyTorch's, mode 'min', threshold_mode 'rel'): after each epoch, the monitored loss
 *   improves when it is below best · (1 − threshold); after more than `patience` epochs without improvement
 *   lr ← max(lr · factor, minLr), then `cooldown` epochs in which bad epochs are not counted.
 */
export type LrScheduleOptions =
  | { kind: 'step'; stepSize: number; gamma?: number }
  | { kind: 'exponential'; gamma: number }
  | { kind: 'cosine'; warmupSteps?: number; minLr?: number }
  | { kind: 'plateau'; factor?: number; patience?: number; threshold?: number; cooldown?: number; minLr?: number; monitor?: Monitor };

export type LrSchedule =
  | { kind: 'step'; stepSize: number; gamma: number }
  | { kind: 'exponential'; gamma: number }
  | { kind: 'cosine'; warmupSteps: number; minLr: number }
  | { kind: 'plateau'; factor: number; patience: number; threshold: number; cooldown: number; minLr: number; monitor: Monitor };

/** Stop after `patience` epochs whose monitored loss is not below the best by more than minDelta (Lightning's rule). */
export interface EarlyStoppingOptions {
  patience: number;
  minDelta?: number;
  /** 'validation' (the default with a validation set) or 'train'. */
  monitor?: Monitor;
  /** At the end of fit, the parameters of the best epoch (default true). */
  restoreBest?: boolean;
}
export type EarlyStopping = Required<EarlyStoppingOptions>;

/** The monitor a rule watches: as given, else the validation loss when there is a validation set. */
function monitorOf(name: string, value: unknown, hasValidation: boolean): Monitor {
  const m = oneOf(name, value ?? (hasValidation ? 'validation' : 'train'), MONITORS);
  if (m === 'validation' && !hasValidation) fail(name, "'train' (there is no validation set to monitor)", m);
  return m;
}

export function resolveLrSchedule(value: unknown, hasValidation: boolean): LrSchedule | undefined {
  if (value === undefined) return undefined;
  const o = plainObject('lrSchedule', value);
  const kind = oneOf('lrSchedule.kind', o.kind, LR_SCHEDULE_KINDS);
  const positive = (name: string, v: unknown, fallback?: number) => finiteNumber(`lrSchedule.${name}`, v ?? fallback, { min: 0, exclusiveMin: true });
  switch (kind) {
    case 'step':
      knownKeys('lrSchedule', o, ['kind', 'stepSize', 'gamma']);
      return { kind, stepSize: integer('lrSchedule.stepSize', o.stepSize, 1), gamma: positive('gamma', o.gamma, 0.1) };
    case 'exponential':
      knownKeys('lrSchedule', o, ['kind', 'gamma']);
      return { kind, gamma: positive('gamma', o.gamma) };
    case 'cosine':
      knownKeys('lrSchedule', o, ['kind', 'warmupSteps', 'minLr']);
      return { kind, warmupSteps: integer('lrSchedule.warmupSteps', o.warmupSteps ?? 0, 0), minLr: finiteNumber('lrSchedule.minLr', o.minLr ?? 0, { min: 0 }) };
    case 'plateau':
      knownKeys('lrSchedule', o, ['kind', 'factor', 'patience', 'threshold', 'cooldown', 'minLr', 'monitor']);
      return { kind, factor: finiteNumber('lrSchedule.factor', o.factor ?? 0.1, { min: 0, exclusiveMin: true, max: 1, exclusiveMax: true }),
        patience: integer('lrSchedule.patience', o.patience ?? 10, 0), threshold: finiteNumber('lrSchedule.threshold', o.threshold ?? 1e-4, { min: 0 }),
        cooldown: integer('lrSchedule.cooldown', o.cooldown ?? 0, 0), minLr: finiteNumber('lrSchedule.minLr', o.minLr ?? 0, { min: 0 }),
        monitor: monitorOf('lrSchedule.monitor', o.monitor, hasValidation) };
  }
}

export function resolveEarlyStopping(value: unknown, hasValidation: boolean): EarlyStopping | undefined {
  if (value === undefined) return undefined;
  const o = plainObject('earlyStopping', value);
  knownKeys('earlyStopping', o, ['patience', 'minDelta', 'monitor', 'restoreBest']);
  const restoreBest = o.restoreBest ?? true;
  if (typeof restoreBest !== 'boolean') fail('earlyStopping.restoreBest', 'a boolean', restoreBest, 'type');
  return { patience: integer('earlyStopping.patience', o.patience, 0), minDelta: finiteNumber('earlyStopping.minDelta', o.minDelta ?? 0, { min: 0 }),
    monitor: monitorOf('earlyStopping.monitor', o.monitor, hasValidation), restoreBest };
}

/** ReduceLROnPlateau's state after some epochs (stored in training checkpoints). */
export interface PlateauState {
  lr: number;
  best: number;
  badEpochs: number;
  cooldown: number;
}

export function plateauStart(lr: number): PlateauState {
  return { lr, best: Infinity, badEpochs: 0, cooldown: 0 };
}

/** The state after an epoch whose monitored loss is `loss` (PyTorch's ReduceLROnPlateau.step). */
export function plateauStep(s: PlateauState, loss: number, o: Extract<LrSchedule, { kind: 'plateau' }>): PlateauState {
  const next = { ...s };
  if (loss < s.best * (1 - o.threshold)) {
    next.best = loss;
    next.badEpochs = 0;
  } else {
    next.badEpochs += 1;
  }
  if (next.cooldown > 0) {
    next.cooldown -= 1;
    next.badEpochs = 0;
  }
  if (next.badEpochs > o.patience) {
    const lr = Math.max(next.lr * o.factor, o.minLr);
    if (next.lr - lr > 1e-8) next.lr = lr;
    next.cooldown = o.cooldown;
    next.badEpochs = 0;
  }
  return next;
}

/**
 * The learning rate of each step of `epoch` (0-based) of `epochs`, or null where it is the base rate throughout (no
 * schedule: the native trainer then uses the options' rate). plateauLr: the plateau schedule's current rate.
 */
export function epochLearningRates(s: LrSchedule | undefined, lr: number, epoch: number, epochs: number, stepsPerEpoch: number, plateauLr: number): Float32Array | null {
  if (!s) return null;
  const out = new Float32Array(stepsPerEpoch);
  for (let k = 0; k < stepsPerEpoch; k++) out[k] = stepLearningRate(s, lr, epoch, k, epochs, stepsPerEpoch, plateauLr);
  return out;
}

/** The learning rate of step k of `epoch` (the formulas of LrScheduleOptions). */
export function stepLearningRate(s: LrSchedule, lr: number, epoch: number, k: number, epochs: number, stepsPerEpoch: number, plateauLr: number): number {
  switch (s.kind) {
    case 'step':
      return lr * s.gamma ** Math.floor(epoch / s.stepSize);
    case 'exponential':
      return lr * s.gamma ** epoch;
    case 'plateau':
      return plateauLr;
    case 'cosine': {
      const t = epoch * stepsPerEpoch + k, T = epochs * stepsPerEpoch, W = s.warmupSteps;
      if (t < W) return (lr * (t + 1)) / W;
      return s.minLr + ((lr - s.minLr) * (1 + Math.cos((Math.PI * (t - W)) / Math.max(1, T - W)))) / 2;
    }
  }
}

/** Early stopping's state after some epochs (stored in training checkpoints). */
export interface StoppingState {
  best: number;
  bestEpoch: number; // 1-based; 0 before the first epoch
  wait: number;
}

export function stoppingStart(): StoppingState {
  return { best: Infinity, bestEpoch: 0, wait: 0 };
}

/** The state after epoch `epoch` (1-based) with monitored loss `loss`; `stop` when patience ran out. */
export function stoppingStep(s: StoppingState, loss: number, epoch: number, o: EarlyStopping): { state: StoppingState; improved: boolean; stop: boolean } {
  if (loss < s.best - o.minDelta) return { state: { best: loss, bestEpoch: epoch, wait: 0 }, improved: true, stop: false };
  const wait = s.wait + 1;
  return { state: { ...s, wait }, improved: false, stop: wait >= o.patience };
}

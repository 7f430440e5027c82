// train/fit.ts — the VAE's fit loop (the TypeScript side of the training plan; native/train/trainer.h runs the
// steps): options and their checks, one native epoch per Promise, the KL-weight schedule of each epoch, validation
// after each epoch, the aggressive phase controlled by I_q on held-out rows, progress, onEpoch, cancellation.
import { LatentkitError, withCallerStack } from '../errors';
import { EVAL_SEED, meanNegElbo } from '../eval/vae';
import { MatrixLike, takeRows } from '../matrix';
import { conditionOf, evaluateTerms, inputOf, nativeOf, requireIdle, stateOf, subsetIndices, Vae } from '../models/vae/model';
import { epochKlWeights, nativeStep, OBJECTIVE_KEYS, ObjectiveOptions, resolveObjective } from '../models/objective';
import { Precision, resolvePrecision } from '../precision';
import { boolean, fail, finiteNumber, integer, knownKeys, plainObject } from '../validate';

export interface EpochRecord {
  epoch: number;
  trainLoss: number; // the objective as optimised, mean per example during the epoch (nats; −ELBO or −IWAE bound)
  reconstruction: number; // mean −log p(x | z) per example during the epoch
  kl: number; // mean closed-form KL(q(z | x) || N(0, I)) per example during the epoch
  klWeight: number; // β × warm-up factor, the mean over the epoch's steps
  aggressive?: boolean; // with fit({ aggressive: true }): whether this epoch ran the aggressive encoder updates
  encoderSteps?: number; // … how many encoder-only inner updates it made
  mutualInformation?: number; // … I_q on the validation rows (or 2,000 training rows) after the epoch
  testLoss?: number; // on `validation`, after the epoch: −ELBO, single-sample z
  examplesPerSec: number;
  seconds: number;
}

export interface StepProgress {
  epoch: number;
  epochs: number;
  examples: number;
  totalExamples: number;
  loss: number; // running mean negative ELBO in this epoch
  examplesPerSec: number;
}

export interface FitOptions extends ObjectiveOptions {
  /** A conditional VAE's conditions: one row per row of x (conditionDim columns). */
  condition?: MatrixLike;
  /** … and one per row of `validation`. */
  validationCondition?: MatrixLike;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  /**
   * Aggressive inference-network training (He et al. 2019) against posterior collapse: each step first updates the
   * encoder alone on fresh batches until its loss stops falling (≤ 100 inner steps, checked every 10), then the
   * decoder alone; switched off for good after the first epoch whose I_q on held-out rows does not rise.
   */
  aggressive?: boolean;
  /** Adam's ε (default 1e-8; Burda et al. use 1e-4). */
  adamEps?: number;
  weightDecay?: number;
  threads?: number;
  validation?: MatrixLike;
  binarize?: boolean;
  seed?: number;
  signal?: AbortSignal;
  /**
   * 'fp32' (default), 'bf16' mixed precision (fp32 master weights and Adam state; bf16 products with fp32
   * accumulation; likelihood, KL and reductions in fp32), or 'auto': bf16 where the CPU computes it natively.
   * Validation runs in the same precision; checkpoints stay fp32.
   */
  precision?: Precision;
  onEpoch?: (record: EpochRecord) => void | Promise<void>;
  progress?: (p: StepProgress) => void;
}

export interface History {
  epochs: EpochRecord[];
  /** The precision that ran ('auto' resolved). */
  precision: 'fp32' | 'bf16';
}

const FIT_KEYS = ['condition', 'validationCondition', 'epochs', 'batchSize', 'learningRate', 'aggressive', 'adamEps', 'weightDecay', 'threads', 'validation', 'binarize', 'seed', 'signal', 'precision', 'onEpoch', 'progress', ...OBJECTIVE_KEYS] as const;

export async function fitVae(vae: Vae, x: MatrixLike, options: FitOptions = {}): Promise<History> {
  const o = plainObject('fitOptions', options);
  knownKeys('fitOptions', o, FIT_KEYS);
  const data = inputOf(vae, 'x', x);
  const epochs = integer('epochs', o.epochs ?? 10, 1, 1_000_000);
  const batchSize = integer('batchSize', o.batchSize ?? 128, 1, 1 << 24);
  const learningRate = finiteNumber('learningRate', o.learningRate ?? 1e-3, { min: 0, exclusiveMin: true });
  const adamEps = finiteNumber('adamEps', o.adamEps ?? 1e-8, { min: 0, exclusiveMin: true });
  const objective = resolveObjective(o);
  if (objective.freeBits > 0 && vae.options.prior !== 'normal')
    fail('freeBits', "0 (free bits need prior: 'normal', whose KL splits per dimension in closed form)", objective.freeBits);
  const aggressiveOption = boolean('aggressive', o.aggressive ?? false);
  const weightDecay = finiteNumber('weightDecay', o.weightDecay ?? 0, { min: 0 });
  const threads = integer('threads', o.threads ?? vae.options.threads, 0, 1024);
  const binarize = boolean('binarize', o.binarize ?? false);
  const precision = resolvePrecision(o.precision);
  const seed = integer('seed', o.seed ?? vae.options.seed, 0);
  const validation = o.validation === undefined ? undefined : inputOf(vae, 'validation', o.validation);
  const condition = conditionOf(vae, o.condition, data.rows);
  if (!validation && o.validationCondition !== undefined) fail('validationCondition', 'nothing without validation', o.validationCondition, 'type');
  const validationCondition = validation && conditionOf(vae, o.validationCondition, validation.rows, 'validationCondition');
  const signal = o.signal as AbortSignal | undefined;
  if (signal !== undefined && (typeof signal !== 'object' || typeof signal.aborted !== 'boolean'))
    fail('signal', 'an AbortSignal', signal, 'type');
  const onEpoch = o.onEpoch as FitOptions['onEpoch'];
  const progress = o.progress as FitOptions['progress'];
  if (onEpoch !== undefined && typeof onEpoch !== 'function') fail('onEpoch', 'a function', onEpoch, 'type');
  if (progress !== undefined && typeof progress !== 'function') fail('progress', 'a function', progress, 'type');
  if (binarize && vae.options.likelihood !== 'bernoulli')
    fail('binarize', "false (dynamic binarisation needs likelihood: 'bernoulli')", binarize);

  requireIdle(vae, 'fit');
  if (signal?.aborted) throw cancelled();
  stateOf(vae).fitting = true;
  const nat = nativeOf(vae);
  const onAbort = () => nat.cancel();
  signal?.addEventListener('abort', onAbort);
  try {
    nat.setThreads(threads);
    nat.beginTraining(data.data, data.rows, { batchSize, lr: learningRate, eps: adamEps, weightDecay, binarize, seed, precision, ...nativeStep(objective) }, condition?.data ?? null);
    const stepsPerEpoch = nat.stepsPerEpoch();
    const history: History = { epochs: [], precision };
    // Aggressive training watches I_q on held-out rows: the validation set, else a seeded 2,000-row training subset.
    const miPick = !validation && data.rows > 2000 ? subsetIndices(data.rows, 2000, seed) : undefined;
    const miRows = aggressiveOption ? (validation ?? (miPick ? takeRows(data, miPick) : data)) : undefined;
    const miCondition = validation ? validationCondition : condition && miPick ? takeRows(condition, miPick) : condition;
    let aggressive = aggressiveOption;
    let lastMi = -Infinity;
    for (let epoch = 0; epoch < epochs; epoch++) {
      const t0 = performance.now();
      const report = progress
        ? (_steps: number, examples: number, lossSum: number) => {
            const secs = (performance.now() - t0) / 1000;
            progress({ epoch: epoch + 1, epochs, examples, totalExamples: data.rows, loss: lossSum / examples, examplesPerSec: examples / secs });
          }
        : undefined;
      const weights = epochKlWeights(objective, epoch, stepsPerEpoch);
      const r = await withCallerStack(() => nat.trainEpoch(epoch, weights, aggressive, report)).catch((e: LatentkitError) => {
        throw e.code === 'LATENTKIT_CANCELLED' && signal?.aborted ? cancelled() : e; // one message for both cancel paths
      });
      const seconds = (performance.now() - t0) / 1000;
      const record: EpochRecord = {
        epoch: epoch + 1,
        trainLoss: r.lossSum / r.examples,
        reconstruction: r.reconstructionSum / r.examples,
        kl: r.klSum / r.examples,
        klWeight: weights ? weights.reduce((a, b) => a + b, 0) / weights.length : objective.beta,
        examplesPerSec: r.examples / seconds,
        seconds,
      };
      if (miRows) {
        const mi = vae.mutualInformation(miRows, { seed: EVAL_SEED, condition: miCondition });
        Object.assign(record, { aggressive, encoderSteps: r.encoderSteps, mutualInformation: mi });
        if (aggressive && !(mi > lastMi)) aggressive = false; // I_q stopped rising: plain VAE training from here
        lastMi = mi;
      }
      if (validation) {
        const terms = await evaluateTerms(vae, validation, validationCondition, 1, EVAL_SEED, binarize, { analyticKl: vae.options.prior === 'normal', terms: true }, precision);
        record.testLoss = meanNegElbo(terms);
      }
      history.epochs.push(record);
      if (onEpoch) await onEpoch(record);
      if (signal?.aborted) throw cancelled();
    }
    return history;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    stateOf(vae).fitting = false;
    if (!nat.busy()) nat.endTraining();
  }
}

function cancelled(): LatentkitError {
  return new LatentkitError('LATENTKIT_CANCELLED', 'training was cancelled by its AbortSignal');
}

// train/fit.ts — the VAE's fit loop (the TypeScript side of the training plan; native/train/trainer.h runs the
// steps): options and their checks, one native epoch per Promise, the KL-weight and learning-rate schedules of each
// epoch (schedule.ts), validation after each epoch, the aggressive phase controlled by I_q on held-out rows, early
// stopping and the best epoch, training checkpoints and resuming from one (checkpoint.ts), progress, onEpoch,
// cancellation; data-parallel training over MPI (distributed: true, ../distributed.ts).
import { abortJob, agreeAcrossRanks, gatherAcrossRanks, ProcessGroup, processGroup, rankPart, sumAcrossRanks } from '../distributed';
import { LatentkitError, withCallerStack } from '../errors';
import { EVAL_SEED, meanNegElbo } from '../eval/vae';
import { DataInput, pickRows, rowRange } from '../data/rows';
import { MatrixLike, takeRows } from '../matrix';
import { conditionOf, evaluateTerms, inputOf, nativeOf, requireIdle, stateOf, storedParameters, subsetIndices, Vae } from '../models/vae/model';
import { resolveVaeOptions, VaeOptions } from '../models/vae/options';
import { epochKlWeights, nativeStep, OBJECTIVE_KEYS, ObjectiveOptions, resolveObjective } from '../models/objective';
import { Precision, resolvePrecision } from '../precision';
import { threadsOption } from '../threads';
import { boolean, fail, failReceived, finiteNumber, integer, knownKeys, plainObject } from '../validate';
import { checkpointEpoch, CheckpointOptions, LoopState, readTrainingCheckpoint, resolveCheckpoint, TrainingCheckpoint, writeTrainingCheckpoint } from './checkpoint';
import { EarlyStoppingOptions, epochLearningRates, LrScheduleOptions, Monitor, plateauStart, plateauStep, resolveEarlyStopping, resolveLrSchedule, stoppingStart, stoppingStep } from './schedule';

export interface EpochRecord {
  epoch: number;
  trainLoss: number; // the objective as optimised, mean per example during the epoch (nats; −ELBO or −IWAE bound)
  reconstruction: number; // mean −log p(x | z) per example during the epoch
  kl: number; // mean closed-form KL(q(z | x) || N(0, I)) per example during the epoch
  klWeight: number; // β × warm-up factor, the mean over the epoch's steps
  learningRate: number; // the mean over the epoch's steps (a schedule's)
  clippedSteps?: number; // with clipGradNorm: the updates whose gradient was scaled down …
  gradNormMax?: number; // … and the largest gradient norm before clipping
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
  validation?: DataInput;
  /**
   * The order of each epoch: 'global' (default) a seeded permutation of every row; 'blocks' (or { blockRows }) a
   * block shuffle for data read from disk — the order of blocks of blockRows consecutive rows (default
   * SHUFFLE_BLOCK_ROWS) is shuffled, and the rows within each block, so a memory-mapped file is read in runs of a
   * block (the next one read ahead) rather than a row at a time.
   */
  shuffle?: 'global' | 'blocks' | { blockRows: number };
  binarize?: boolean;
  seed?: number;
  signal?: AbortSignal;
  /**
   * 'fp32' (default), 'bf16' mixed precision (fp32 master weights and Adam state; bf16 products with fp32
   * accumulation; likelihood, KL and reductions in fp32), or 'auto': bf16 where the CPU computes it natively.
   * Validation runs in the same precision; checkpoints stay fp32.
   */
  precision?: Precision;
  /** A learning-rate schedule (train/schedule.ts has each kind's formula). */
  lrSchedule?: LrScheduleOptions;
  /** > 0: each update's gradient is scaled to global L2 norm at most this (PyTorch's clip_grad_norm_). */
  clipGradNorm?: number;
  /** Stop when the monitored loss stops improving; by default the best epoch's parameters are restored. */
  earlyStopping?: EarlyStoppingOptions;
  /** Training checkpoints (Adam's state and everything else a resume needs) in `dir` (train/checkpoint.ts). */
  checkpoint?: CheckpointOptions;
  /**
   * A training checkpoint to continue from: the same model options and fit options (else an error naming the
   * option); `epochs` counts the total, so resuming the checkpoint of epoch 3 with epochs: 5 runs epochs 4 and 5 —
   * bit-identical to a run that never stopped (same threads).
   */
  resumeFrom?: string;
  onEpoch?: (record: EpochRecord) => void | Promise<void>;
  progress?: (p: StepProgress) => void;
  /**
   * Data-parallel training over MPI, under `mpirun -np N` (or srun). `true` (or 'replicated'): every rank passes the
   * same data; 'sharded': each rank passes its own shard of the rows (and of `validation`), the shards in rank order
   * making up the set. Every rank passes the same model and options; each batch of batchSize rows of the whole set's
   * seeded order is split over the ranks (whichever holds a row computes it) and their gradients summed before each
   * update, so N ranks follow one process's trajectory up to float summation order (native/train/trainer.h), with
   * either way of holding the data. Validation is split over the ranks and its sums reduced; rank 0 alone writes
   * checkpoints. Ranks given different options or data widths fail at the start, naming the rank and the option;
   * an error on one rank after training began ends the whole job (exit status 1). Outside an MPI launcher: one
   * process, with a warning.
   */
  distributed?: boolean | 'replicated' | 'sharded';
}

export interface History {
  epochs: EpochRecord[];
  /** The precision that ran ('auto' resolved). */
  precision: 'fp32' | 'bf16';
  /** With early stopping or checkpoint.keepBest: the best epoch of the monitored loss. */
  best?: { epoch: number; loss: number; monitor: Monitor; restored: boolean };
  /** When and why early stopping ended training. */
  stopped?: { epoch: number; reason: string };
  /** The checkpoint this fit continued, and the epochs it held. */
  resumedFrom?: { file: string; epoch: number };
}

/** The `distributed` option: null (one process), 'replicated' (true) or 'sharded'. */
function distributedMode(v: unknown): 'replicated' | 'sharded' | null {
  if (v === undefined || v === false) return null;
  if (v === true || v === 'replicated') return 'replicated';
  if (v === 'sharded') return v;
  return fail('distributed', "true, false, 'replicated' or 'sharded'", v, 'type');
}

/** Sharded: where this rank's rows (and validation rows) lie in the whole set, the shards in rank order. */
async function shardsOf(g: ProcessGroup, rows: number, validationRows: number): Promise<{ total: number; validationOffset: number; validationTotal: number }> {
  const all = await gatherAcrossRanks([rows, validationRows]);
  const sum = (k: number, upTo: number) => all.slice(0, upTo).reduce((a, v) => a + v[k], 0);
  return { total: sum(0, all.length), validationOffset: sum(1, g.rank), validationTotal: sum(1, all.length) };
}

/** Rows per block of shuffle: 'blocks' (16 MB of 784-wide float32 rows; 4 MB as bytes). */
export const SHUFFLE_BLOCK_ROWS = 4096;

/** The native shuffleBlockRows of a fit's `shuffle` option (0: a global permutation). */
function shuffleBlockRows(v: unknown): number {
  if (v === undefined || v === 'global') return 0;
  if (v === 'blocks') return SHUFFLE_BLOCK_ROWS;
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    knownKeys('shuffle', o, ['blockRows']);
    return integer('shuffle.blockRows', o.blockRows, 1);
  }
  return fail('shuffle', "'global', 'blocks' or { blockRows }", v, 'type');
}

const FIT_KEYS = ['condition', 'validationCondition', 'epochs', 'batchSize', 'learningRate', 'aggressive', 'adamEps', 'weightDecay', 'threads', 'validation', 'shuffle', 'binarize', 'seed', 'signal', 'precision', 'onEpoch', 'progress',
  'lrSchedule', 'clipGradNorm', 'earlyStopping', 'checkpoint', 'resumeFrom', 'distributed', ...OBJECTIVE_KEYS] as const;

export async function fitVae(vae: Vae, x: DataInput, options: FitOptions = {}): Promise<History> {
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
  const threads = threadsOption(o.threads ?? vae.options.threads);
  const binarize = boolean('binarize', o.binarize ?? false);
  const blockRows = shuffleBlockRows(o.shuffle);
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
  const lrSchedule = resolveLrSchedule(o.lrSchedule, Boolean(validation));
  const clipGradNorm = finiteNumber('clipGradNorm', o.clipGradNorm ?? 0, { min: 0 });
  const earlyStopping = resolveEarlyStopping(o.earlyStopping, Boolean(validation));
  const checkpoint = resolveCheckpoint(o.checkpoint);
  const monitor: Monitor = earlyStopping?.monitor ?? (validation ? 'validation' : 'train');
  const tracksBest = Boolean(earlyStopping || checkpoint?.keepBest);
  // What a resume must repeat, by option name (the data by its sizes).
  const fitRecord: Record<string, unknown> = { batchSize, learningRate, adamEps, weightDecay, binarize, seed, precision, objective, aggressive: aggressiveOption,
    clipGradNorm, shuffleBlockRows: blockRows, lrSchedule: lrSchedule ?? null, earlyStopping: earlyStopping ?? null, rows: data.rows, validationRows: validation?.rows ?? 0 };
  const mode = distributedMode(o.distributed);
  const group: ProcessGroup | null = mode ? processGroup() : null;
  // Where this process's rows lie in the whole set: all of it, or (sharded) its shard; the fit record counts the set.
  const parts = group && mode === 'sharded' ? await shardsOf(group, data.rows, validation?.rows ?? 0) : { total: data.rows, validationOffset: 0, validationTotal: validation?.rows ?? 0 };
  Object.assign(fitRecord, { rows: parts.total, validationRows: parts.validationTotal });
  const resume = o.resumeFrom === undefined ? undefined : await readTrainingCheckpoint(o.resumeFrom as string);
  if (resume) checkResume(vae, resume, fitRecord);
  if (group) {
    const { threads: _threads, ...model } = vae.options;
    await agreeAcrossRanks(group, 'fit', { model, fit: fitRecord, cols: data.cols, distributed: mode, resumeFrom: resume?.loop.epoch ?? null });
  }
  // The validation loss (−ELBO, one draw per row): in one process over all its rows; distributed, each rank over its
  // part (its shard, or its slice of the common set), each row's draws numbered by its row in the whole set.
  const validationLoss = async (): Promise<number> => {
    const want = { analyticKl: vae.options.prior === 'normal', terms: true };
    if (!group) return meanNegElbo(await evaluateTerms(vae, validation!, validationCondition, 1, EVAL_SEED, binarize, want, precision));
    const { start, end } = mode === 'sharded' ? { start: 0, end: validation!.rows } : rankPart(validation!.rows, group);
    const offset = mode === 'sharded' ? parts.validationOffset : start;
    let sum = 0;
    if (end > start) {
      const terms = await evaluateTerms(vae, rowRange(validation!, start, end), validationCondition && takeRows(validationCondition, Array.from({ length: end - start }, (_, i) => start + i)),
        1, EVAL_SEED, binarize, want, precision, offset);
      for (let i = 0; i < terms.kl.length; i++) sum += terms.reconstruction[i] + terms.kl[i];
    }
    return (await sumAcrossRanks([sum]))[0] / parts.validationTotal;
  };
  const writesCheckpoints = !group || group.rank === 0;

  requireIdle(vae, 'fit');
  if (signal?.aborted) throw cancelled();
  stateOf(vae).fitting = true;
  const nat = nativeOf(vae);
  const onAbort = () => nat.cancel();
  signal?.addEventListener('abort', onAbort);
  try {
    nat.setThreads(threads);
    if (resume) nat.setParams(storedParameters(resume.model, { numParams: nat.numParams(), tensors: nat.tensors() }, (why) => {
      throw new LatentkitError('LATENTKIT_BAD_CHECKPOINT', `${resume.file} is not a latentkit training checkpoint: ${why}`);
    }));
    nat.beginTraining(data.native, data.rows, { batchSize, lr: learningRate, eps: adamEps, weightDecay, binarize, seed, precision, clipGradNorm,
      shuffleBlockRows: blockRows, ...nativeStep(objective), ...(group ? { distributed: true, sharded: mode === 'sharded' } : {}) }, condition?.data ?? null);
    if (resume) nat.restoreTrainingState({ ...resume.trainer, ...resume.adam });
    const stepsPerEpoch = nat.stepsPerEpoch();
    const history: History = { epochs: [], precision };
    // Aggressive training watches I_q on held-out rows: the validation set, else a seeded 2,000-row training subset.
    const miPick = !validation && data.rows > 2000 ? subsetIndices(data.rows, 2000, seed) : undefined;
    const miRows = aggressiveOption ? (validation ?? (miPick ? pickRows(data, miPick) : data)) : undefined;
    const miCondition = validation ? validationCondition : condition && miPick ? takeRows(condition, miPick) : condition;
    // The loop's state: what a checkpoint stores and a resume restores.
    const loop: LoopState = resume ? resume.loop : { epoch: 0, aggressive: aggressiveOption, lastMi: -Infinity, history: [],
      ...(lrSchedule?.kind === 'plateau' ? { plateau: plateauStart(learningRate) } : {}), ...(tracksBest ? { stopping: stoppingStart() } : {}) };
    history.epochs = loop.history;
    if (resume) history.resumedFrom = { file: resume.file, epoch: resume.loop.epoch };
    let bestParams = resume?.bestParams;
    // Early stopping's rule, or the same rule without a stop for checkpoint.keepBest alone.
    const rule = earlyStopping ?? { patience: Infinity, minDelta: 0, monitor, restoreBest: false };
    for (let epoch = loop.epoch; epoch < epochs && !loop.stopped; epoch++) {
      const t0 = performance.now();
      const report = progress
        ? (_steps: number, examples: number, lossSum: number) => {
            const secs = (performance.now() - t0) / 1000;
            progress({ epoch: epoch + 1, epochs, examples, totalExamples: data.rows, loss: lossSum / examples, examplesPerSec: examples / secs });
          }
        : undefined;
      const weights = epochKlWeights(objective, epoch, stepsPerEpoch);
      const rates = epochLearningRates(lrSchedule, learningRate, epoch, epochs, stepsPerEpoch, loop.plateau?.lr ?? learningRate);
      const r = await withCallerStack(() => nat.trainEpoch(epoch, weights, rates, loop.aggressive, report)).catch((e: LatentkitError) => {
        throw e.code === 'LATENTKIT_CANCELLED' && signal?.aborted ? cancelled() : e; // one message for both cancel paths
      });
      const seconds = (performance.now() - t0) / 1000;
      const mean = (v: Float32Array | null, otherwise: number) => (v ? v.reduce((a, b) => a + b, 0) / v.length : otherwise);
      const record: EpochRecord = {
        epoch: epoch + 1,
        trainLoss: r.lossSum / r.examples,
        reconstruction: r.reconstructionSum / r.examples,
        kl: r.klSum / r.examples,
        klWeight: mean(weights, objective.beta),
        learningRate: mean(rates, learningRate),
        ...(clipGradNorm > 0 ? { clippedSteps: r.clippedSteps, gradNormMax: r.gradNormMax } : {}),
        examplesPerSec: r.examples / seconds,
        seconds,
      };
      if (miRows) {
        let mi = vae.mutualInformation(miRows, { seed: EVAL_SEED, condition: miCondition });
        if (group) mi = (await sumAcrossRanks([group.rank === 0 ? mi : 0]))[0]; // rank 0's decides (a shard's may differ)
        Object.assign(record, { aggressive: loop.aggressive, encoderSteps: r.encoderSteps, mutualInformation: mi });
        if (loop.aggressive && !(mi > (loop.lastMi as number))) loop.aggressive = false; // I_q stopped rising: plain VAE training from here
        loop.lastMi = mi;
      }
      if (validation) record.testLoss = await validationLoss();
      const monitored = (m: Monitor) => (m === 'validation' ? record.testLoss! : record.trainLoss);
      if (lrSchedule?.kind === 'plateau') loop.plateau = plateauStep(loop.plateau!, monitored(lrSchedule.monitor), lrSchedule);
      let improved = false;
      if (loop.stopping) {
        const s = stoppingStep(loop.stopping, monitored(rule.monitor), epoch + 1, rule);
        loop.stopping = s.state;
        improved = s.improved;
        if (improved && earlyStopping?.restoreBest) bestParams = vae.parameters().flat;
        if (s.stop) loop.stopped = { epoch: epoch + 1, reason: `the ${rule.monitor} loss has not improved on ${s.state.best} (epoch ${s.state.bestEpoch}) by more than minDelta ${rule.minDelta} for ${rule.patience} epochs (patience)` };
      }
      loop.history.push(record);
      loop.epoch = epoch + 1;
      if (checkpoint && writesCheckpoints) {
        const periodic = loop.epoch % checkpoint.every === 0 || loop.epoch === epochs || Boolean(loop.stopped);
        await checkpointEpoch(checkpoint, loop.epoch, (file) => writeTrainingCheckpoint(file, vae, nat.trainingState(), loop, fitRecord, bestParams), { periodic, best: improved });
      }
      if (onEpoch) {
        if (!group) await onEpoch(record);
        else await Promise.resolve().then(() => onEpoch(record)).catch((e) => abortJob(group, e)); // the others would wait for ever
      }
      if (signal?.aborted) throw cancelled();
    }
    if (loop.stopped) history.stopped = loop.stopped;
    if (loop.stopping && loop.stopping.bestEpoch > 0) {
      const restored = Boolean(earlyStopping?.restoreBest && bestParams);
      if (restored) nat.setParams(bestParams!);
      history.best = { epoch: loop.stopping.bestEpoch, loss: loop.stopping.best, monitor: rule.monitor, restored };
    }
    return history;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    stateOf(vae).fitting = false;
    if (!nat.busy()) nat.endTraining();
  }
}

/** A resume must continue the same model with the same fit options: else an error naming the first that differs. */
function checkResume(vae: Vae, c: TrainingCheckpoint, fitRecord: Record<string, unknown>): void {
  let stored: Record<string, unknown>;
  try {
    stored = resolveVaeOptions(JSON.parse(c.model.metadata.options) as VaeOptions) as unknown as Record<string, unknown>;
  } catch (e) {
    throw new LatentkitError('LATENTKIT_BAD_CHECKPOINT', `${c.file} is not a latentkit training checkpoint: its options are invalid (${(e as Error).message})`);
  }
  const mine = vae.options as unknown as Record<string, unknown>;
  for (const key of new Set([...Object.keys(stored), ...Object.keys(mine)])) {
    if (key === 'threads' || JSON.stringify(stored[key]) === JSON.stringify(mine[key])) continue;
    throw new LatentkitError('LATENTKIT_BAD_CHECKPOINT', `resumeFrom: ${c.file} holds a model with ${key} ${JSON.stringify(stored[key])}, but this model has ${key} ${JSON.stringify(mine[key])}`);
  }
  for (const [key, given] of Object.entries(fitRecord)) {
    const was = c.fit[key];
    if (JSON.stringify(was) === JSON.stringify(given)) continue;
    const name = key === 'rows' ? 'x' : key === 'validationRows' ? 'validation' : key === 'shuffleBlockRows' ? 'shuffle' : key;
    const what = key === 'rows' || key === 'validationRows' ? `${was} rows` : JSON.stringify(was);
    failReceived(name, `${what} (as ${c.file} was trained: a resume repeats the fit options)`, key === 'rows' || key === 'validationRows' ? `${given} rows` : JSON.stringify(given));
  }
}

function cancelled(): LatentkitError {
  return new LatentkitError('LATENTKIT_CANCELLED', 'training was cancelled by its AbortSignal');
}

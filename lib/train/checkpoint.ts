// train/checkpoint.ts — training checkpoints: a VAE file (Vae.load reads it as a model) that also holds everything a
// resumed fit needs — Adam's moments (tensors trainer.adam_m, trainer.adam_v: numParams each), the best epoch's
// parameters for earlyStopping.restoreBest (trainer.best_params), and in the metadata key `training` (JSON) the
// epochs completed, the native trainer's step counts, the fit loop's state (aggressive phase, plateau, early
// stopping), the history so far and the fit options it was trained with (a resume must repeat them). Every random
// stream is numbered by epoch and step, so nothing else is needed for a bit-identical continuation.
// In a checkpoint directory: checkpoint-epoch-<k>.safetensors (the newest keepLast kept), checkpoint-last.safetensors
// (the newest, a hard link made and renamed into place) and checkpoint-best.safetensors (the best monitored epoch).
import * as fs from 'fs';
import * as path from 'path';
import { LatentkitError } from '../errors';
import { loadSafetensors, NamedTensor, SafetensorsFile, saveSafetensors } from '../io/safetensors';
import { modelMetadata, TRAINING_TENSOR_PREFIX, Vae } from '../models/vae/model';
import { NativeTrainingState } from '../native';
import { fail, integer, knownKeys, plainObject } from '../validate';
import type { EpochRecord } from './fit';
import { PlateauState, StoppingState } from './schedule';

export interface CheckpointOptions {
  dir: string;
  /** Every this many epochs (and at the last epoch). Default 1. */
  every?: number;
  /** Also checkpoint-best.safetensors, at each new best of the monitored loss. Default true. */
  keepBest?: boolean;
  /** How many checkpoint-epoch-<k> files to keep, newest first. Default 2. */
  keepLast?: number;
}
export type Checkpointing = Required<CheckpointOptions>;

export function resolveCheckpoint(value: unknown): Checkpointing | undefined {
  if (value === undefined) return undefined;
  const o = plainObject('checkpoint', value);
  knownKeys('checkpoint', o, ['dir', 'every', 'keepBest', 'keepLast']);
  if (typeof o.dir !== 'string' || o.dir === '') fail('checkpoint.dir', 'a directory path', o.dir, 'type');
  const keepBest = o.keepBest ?? true;
  if (typeof keepBest !== 'boolean') fail('checkpoint.keepBest', 'a boolean', keepBest, 'type');
  return { dir: o.dir, every: integer('checkpoint.every', o.every ?? 1, 1), keepBest, keepLast: integer('checkpoint.keepLast', o.keepLast ?? 2, 1) };
}

/** The fit loop's own state after some epochs. Infinite numbers are kept as null in JSON. */
export interface LoopState {
  epoch: number; // epochs completed
  aggressive: boolean; // whether the next epoch runs the aggressive phase
  lastMi: number | null; // I_q after the last aggressive-controlled epoch
  plateau?: PlateauState;
  stopping?: StoppingState;
  stopped?: { epoch: number; reason: string };
  history: EpochRecord[];
}

/** What a checkpoint stores in its `training` metadata. */
interface TrainingMetadata {
  loop: LoopState;
  trainer: Omit<NativeTrainingState, 'adamM' | 'adamV'>;
  /** The fit options and data sizes it was trained with, by option name. */
  fit: Record<string, unknown>;
}

export interface TrainingCheckpoint extends TrainingMetadata {
  file: string;
  model: SafetensorsFile;
  adam: { adamM: Float32Array; adamV: Float32Array };
  bestParams?: Float32Array;
}

const infiniteAsNull = (_k: string, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v);
const nullAsInfinity = (v: number | null, sign: 1 | -1) => (v === null ? sign * Infinity : v);

export async function writeTrainingCheckpoint(file: string, vae: Vae, state: NativeTrainingState, loop: LoopState, fitOptions: Record<string, unknown>, bestParams?: Float32Array): Promise<void> {
  const { adamM, adamV, ...trainer } = state;
  const flat = (name: string, data: Float32Array): NamedTensor => ({ name: TRAINING_TENSOR_PREFIX + name, shape: [data.length], data });
  const tensors = [...vae.parameters().tensors, flat('adam_m', adamM), flat('adam_v', adamV), ...(bestParams ? [flat('best_params', bestParams)] : [])];
  const training: TrainingMetadata = { loop, trainer, fit: fitOptions };
  await saveSafetensors(file, tensors, { ...modelMetadata(vae), epoch: String(loop.epoch), training: JSON.stringify(training, infiniteAsNull) });
}

/**
 * Writes epoch `epoch`'s checkpoint into the directory (`write` makes a file): when `periodic`, its own file, then
 * checkpoint-last, then the epoch files past keepLast are dropped; when `best` (and keepBest), checkpoint-best. A
 * kill at any moment leaves every name a whole file.
 */
export async function checkpointEpoch(c: Checkpointing, epoch: number, write: (file: string) => Promise<void>, when: { periodic: boolean; best: boolean }): Promise<void> {
  await fs.promises.mkdir(c.dir, { recursive: true });
  const epochFile = (k: number) => path.join(c.dir, `checkpoint-epoch-${k}.safetensors`);
  const epochOf = (name: string) => Number(/^checkpoint-epoch-(\d+)\.safetensors$/.exec(name)?.[1] ?? NaN);
  const best = path.join(c.dir, 'checkpoint-best.safetensors');
  if (when.periodic) {
    const file = epochFile(epoch);
    await write(file);
    await linkInto(file, path.join(c.dir, 'checkpoint-last.safetensors'));
    if (when.best && c.keepBest) await linkInto(file, best);
    const old = (await fs.promises.readdir(c.dir)).map(epochOf).filter((k) => Number.isInteger(k)).sort((a, b) => b - a).slice(c.keepLast);
    for (const k of old) await fs.promises.rm(epochFile(k), { force: true });
  } else if (when.best && c.keepBest) {
    await write(best);
  }
}

/** `target` atomically becomes the same file as `source` (a hard link renamed into place; a copy where links fail). */
async function linkInto(source: string, target: string): Promise<void> {
  // named as writeFileAtomic's temporaries, so a killed writer's is removed by the next write into the folder
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.link.tmp`);
  await fs.promises.rm(tmp, { force: true });
  try {
    await fs.promises.link(source, tmp);
  } catch {
    await fs.promises.copyFile(source, tmp);
  }
  await fs.promises.rename(tmp, target);
}

export async function readTrainingCheckpoint(file: string): Promise<TrainingCheckpoint> {
  if (typeof file !== 'string' || file === '') fail('resumeFrom', 'a checkpoint file path', file, 'type');
  const model = await loadSafetensors(file);
  const bad = (why: string): never => {
    throw new LatentkitError('LATENTKIT_BAD_CHECKPOINT', `${file} is not a latentkit training checkpoint: ${why}`);
  };
  if (model.metadata.format !== 'latentkit' || model.metadata.kind !== 'vae') bad('its metadata does not say format=latentkit, kind=vae');
  if (model.metadata.training === undefined)
    bad('it holds a model but no training state (save() and the run folder\'s model.safetensors write parameters only: resume from a checkpoint-*.safetensors written by fit\'s checkpoint option)');
  let t: TrainingMetadata;
  try {
    t = JSON.parse(model.metadata.training) as TrainingMetadata;
    if (!t || typeof t.loop !== 'object' || typeof t.trainer !== 'object' || typeof t.fit !== 'object' || !Array.isArray(t.loop.history) ||
      !Number.isInteger(t.loop.epoch) || t.loop.epoch < 1 || t.loop.history.length !== t.loop.epoch)
      throw new Error('fields missing or inconsistent');
  } catch (e) {
    return bad(`its training state is unreadable (${(e as Error).message})`);
  }
  const tensor = (name: string, required: boolean) => {
    const v = model.tensors.get(TRAINING_TENSOR_PREFIX + name);
    if (!v) return required ? bad(`tensor ${TRAINING_TENSOR_PREFIX}${name} is missing`) : undefined;
    if (!(v.data instanceof Float32Array) || !v.data.every(Number.isFinite)) bad(`tensor ${TRAINING_TENSOR_PREFIX}${name} is not finite float32`);
    return v.data as Float32Array;
  };
  const loop = t.loop;
  loop.lastMi = nullAsInfinity(loop.lastMi, -1);
  if (loop.plateau) loop.plateau.best = nullAsInfinity(loop.plateau.best as number | null, 1);
  if (loop.stopping) loop.stopping.best = nullAsInfinity(loop.stopping.best as number | null, 1);
  return { ...t, loop, file, model, adam: { adamM: tensor('adam_m', true)!, adamV: tensor('adam_v', true)! }, bestParams: tensor('best_params', false) };
}

// models/objective.ts — how a VAE is trained, as `fit` options: the objective (ELBO with S samples, or IWAE with k
// importance samples), β, the KL warm-up schedule and free bits. Validation, and the pure schedule that gives the KL
// weight of every step (β × warm-up factor), which the native trainer reads one epoch at a time.
import { fail, finiteNumber, integer, knownKeys, oneOf, plainObject } from '../validate';

export const OBJECTIVES = ['elbo', 'iwae'] as const;
export type Objective = (typeof OBJECTIVES)[number];

/** KL weight factor from `from` to `to` (defaults 0 → 1), linear over `epochs` or `steps`, then flat at `to`. */
export interface KlWarmup {
  epochs?: number;
  steps?: number;
  from?: number;
  to?: number;
}

export interface ObjectiveOptions {
  objective?: Objective;
  /** IWAE: importance samples per example (default 5). */
  k?: number;
  /** ELBO: draws of z per example (default 1). */
  samples?: number;
  /** Weight of the KL term (β-VAE; default 1). */
  beta?: number;
  klWarmup?: KlWarmup;
  /** Free bits λ (nats per latent dimension, ELBO only): the KL term is Σ_d max(λ, batch-mean KL_d). */
  freeBits?: number;
}

export interface ResolvedObjective {
  objective: Objective;
  samples: number; // decoder draws per example: S (ELBO) or k (IWAE)
  beta: number;
  warmup?: { epochs?: number; steps?: number; from: number; to: number };
  freeBits: number;
}

export const OBJECTIVE_KEYS = ['objective', 'k', 'samples', 'beta', 'klWarmup', 'freeBits'] as const;

export function resolveObjective(o: Record<string, unknown>): ResolvedObjective {
  const objective = oneOf('objective', o.objective ?? 'elbo', OBJECTIVES);
  if (objective === 'elbo' && o.k !== undefined) fail('k', "no k (importance samples apply to objective: 'iwae'; use samples for the ELBO)", o.k, 'type');
  if (objective === 'iwae' && o.samples !== undefined) fail('samples', "no samples with objective: 'iwae' (use k)", o.samples, 'type');
  const samples = objective === 'iwae' ? integer('k', o.k ?? 5, 1, 1 << 16) : integer('samples', o.samples ?? 1, 1, 1 << 16);
  const beta = finiteNumber('beta', o.beta ?? 1, { min: 0 });
  const freeBits = finiteNumber('freeBits', o.freeBits ?? 0, { min: 0 });
  if (freeBits > 0 && objective === 'iwae') fail('freeBits', "0 with objective: 'iwae' (free bits bound the ELBO's KL term)", freeBits);
  const resolved: ResolvedObjective = { objective, samples, beta, freeBits };
  if (o.klWarmup !== undefined) {
    const w = plainObject('klWarmup', o.klWarmup);
    knownKeys('klWarmup', w, ['epochs', 'steps', 'from', 'to']);
    if ((w.epochs === undefined) === (w.steps === undefined)) fail('klWarmup', 'exactly one of epochs or steps', o.klWarmup, 'type');
    resolved.warmup = {
      from: finiteNumber('klWarmup.from', w.from ?? 0, { min: 0 }),
      to: finiteNumber('klWarmup.to', w.to ?? 1, { min: 0 }),
    };
    if (w.epochs !== undefined) resolved.warmup.epochs = integer('klWarmup.epochs', w.epochs, 1);
    else resolved.warmup.steps = integer('klWarmup.steps', w.steps, 1);
  }
  return resolved;
}

/**
 * The KL weight at (0-based) step `step` of training with `stepsPerEpoch` steps per epoch: β × factor, the factor
 * rising linearly from `from` at step 0 to `to` at the end of the warm-up and staying there.
 */
export function klWeight(o: ResolvedObjective, step: number, stepsPerEpoch: number): number {
  const w = o.warmup;
  if (!w) return o.beta;
  const length = w.steps ?? (w.epochs as number) * stepsPerEpoch;
  const t = Math.min(1, step / length);
  return o.beta * (w.from + (w.to - w.from) * t);
}

/** The KL weights of every step of epoch `epoch` (0-based), or null when the weight is constant (no warm-up). */
export function epochKlWeights(o: ResolvedObjective, epoch: number, stepsPerEpoch: number): Float32Array | null {
  if (!o.warmup) return null;
  const w = new Float32Array(stepsPerEpoch);
  for (let s = 0; s < stepsPerEpoch; s++) w[s] = klWeight(o, epoch * stepsPerEpoch + s, stepsPerEpoch);
  return w;
}

/** The options the native trainer takes for one step's objective. */
export function nativeStep(o: ResolvedObjective): { objective: Objective; samples: number; klWeight: number; freeBits: number } {
  return { objective: o.objective, samples: o.samples, klWeight: o.beta, freeBits: o.freeBits };
}

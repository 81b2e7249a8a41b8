import type { SCHEDULER_TYPES } from "./names";

/** The scheduler config as stored in a preset (docs/model-contract.md, "The scheduler"). */
export type SchedulerType = (typeof SCHEDULER_TYPES)[number];
export type BetaSchedule = "scaled_linear" | "linear";
export type PredictionType = "v_prediction" | "epsilon";
export type TimestepSpacing = "leading" | "trailing" | "linspace";

export interface SchedulerConfig {
  readonly type: SchedulerType;
  readonly betaSchedule: BetaSchedule;
  readonly betaStart: number;
  readonly betaEnd: number;
  readonly trainTimesteps: number;
  readonly predictionType: PredictionType;
  readonly stepsOffset: number;
  readonly timestepSpacing: TimestepSpacing;
}

/**
 * One denoising run. Stateful (multistep schedulers remember earlier model
 * outputs), so create a fresh one per decode and call `step` once for each
 * entry of `timesteps`, in order.
 */
export interface Scheduler {
  /** The UNet evaluations of the run, in order (PNDM repeats its first step's successor). */
  readonly timesteps: readonly number[];
  /** Standard deviation of the initial latent noise. */
  readonly initNoiseSigma: number;
  /**
   * Advances `sample` by one evaluation. Elementwise, so `sample` may hold a
   * whole batch back to back; `modelOutput` must have the same layout. The
   * result is written to `out` (default: a new array), which may be `sample`
   * itself; the scheduler keeps copies of whatever it remembers, so the caller
   * may overwrite `modelOutput` and `sample` before the next step.
   */
  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, out?: Float32Array): Float32Array;
}

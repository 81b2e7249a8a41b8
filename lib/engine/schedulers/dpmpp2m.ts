// DPM-Solver++ 2M: diffusers' DPMSolverMultistepScheduler with solver_order=2,
// algorithm_type="dpmsolver++", solver_type="midpoint", lower_order_final=True
// and final_sigmas_type="zero" (the last step lands on σ = 0, i.e. on x0).
import { EngineError } from "../errors";
import { alphasCumprod, assertStepArgs, assertTimestepGrid, linspace, roundHalfEven } from "./betas";
import { trailingTimesteps } from "./ddim";
import type { Scheduler, SchedulerConfig } from "./types";

/** diffusers' grid for this scheduler: N values out of N + 1 evenly spaced, dropping t = 0. */
export function dpmTimesteps(config: SchedulerConfig, steps: number): number[] {
  const T = config.trainTimesteps;
  let grid: number[];
  switch (config.timestepSpacing) {
    case "leading": {
      const stride = Math.floor(T / (steps + 1));
      grid = Array.from({ length: steps }, (_, i) => (steps - i) * stride + config.stepsOffset);
      break;
    }
    case "trailing":
      grid = trailingTimesteps(T, steps);
      break;
    case "linspace":
      grid = Array.from(linspace(0, T - 1, steps + 1), roundHalfEven).reverse().slice(0, steps);
      break;
    default:
      throw new EngineError(
        "invalid_preset",
        `scheduler: unknown timestepSpacing ${JSON.stringify(config.timestepSpacing)}`,
      );
  }
  assertTimestepGrid(grid, T, `${steps} steps with ${config.timestepSpacing} spacing`);
  return grid;
}

export class DpmSolverPlusPlus2MScheduler implements Scheduler {
  readonly timesteps: readonly number[];
  readonly initNoiseSigma = 1;
  /** α_i = √ā, σ_i = √(1 − ā) at each grid point, plus the final target (1, 0). */
  private readonly alpha: number[];
  private readonly sigma: number[];
  private readonly vPrediction: boolean;
  private index = 0;
  /** The last step's data prediction x0, for the second-order term. */
  private latestX0: Float64Array | null = null;
  /** The x0 of the step before, no longer needed: this step's x0 is written into it. */
  private spareX0: Float64Array | null = null;

  constructor(config: SchedulerConfig, steps: number) {
    const alphas = alphasCumprod(config.betaSchedule, config.betaStart, config.betaEnd, config.trainTimesteps);
    this.timesteps = dpmTimesteps(config, steps);
    this.alpha = [...this.timesteps.map((t) => Math.sqrt(alphas[t])), 1];
    this.sigma = [...this.timesteps.map((t) => Math.sqrt(1 - alphas[t])), 0];
    this.vPrediction = config.predictionType === "v_prediction";
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, out = new Float32Array(sample.length)): Float32Array {
    assertStepArgs(this.timesteps, this.index, timestep, modelOutput, sample, out);
    const s = this.index++;
    const [aS, sS, aT, sT] = [this.alpha[s], this.sigma[s], this.alpha[s + 1], this.sigma[s + 1]];
    const previous = this.latestX0;
    const x0 = this.spareX0?.length === sample.length ? this.spareX0 : new Float64Array(sample.length);
    if (this.vPrediction) {
      for (let i = 0; i < sample.length; i++) x0[i] = aS * sample[i] - sS * modelOutput[i];
    } else {
      for (let i = 0; i < sample.length; i++) x0[i] = (sample[i] - sS * modelOutput[i]) / aS;
    }
    // e^{−h} with h = λ_t − λ_s and λ = log(α/σ); it is 0 on the final step (σ_t = 0).
    const expNegH = (sT * aS) / (aT * sS);
    const sampleCoeff = sT / sS;
    const dataCoeff = aT * (1 - expNegH);
    this.spareX0 = previous;
    this.latestX0 = x0;
    // First order (DDIM in data form) on the first step, where there is no
    // history, and on the last, where σ_t = 0 would make h infinite.
    if (previous === null || s === this.timesteps.length - 1) {
      for (let i = 0; i < sample.length; i++) out[i] = sampleCoeff * sample[i] + dataCoeff * x0[i];
      return out;
    }
    // Midpoint 2M: x_t = (σ_t/σ_s)·x + α_t(1 − e^{−h})·(D0 + D1/2) with D0 = x0_s,
    // D1 = (x0_s − x0_{s−1})/r0 and r0 = (λ_s − λ_{s−1})/h.
    const lambda = (j: number) => Math.log(this.alpha[j] / this.sigma[j]);
    const r0 = (lambda(s) - lambda(s - 1)) / (lambda(s + 1) - lambda(s));
    for (let i = 0; i < sample.length; i++) {
      const d1 = (x0[i] - previous[i]) / r0;
      out[i] = sampleCoeff * sample[i] + dataCoeff * (x0[i] + 0.5 * d1);
    }
    return out;
  }
}

// DDIM with η = 0 (deterministic), as diffusers' DDIMScheduler with
// clip_sample=False and set_alpha_to_one=False (Stable Diffusion's setting).
import { EngineError } from "../errors";
import { alphasCumprod, assertStepArgs, assertTimestepGrid, linspace, roundHalfEven } from "./betas";
import type { Scheduler, SchedulerConfig } from "./types";

/**
 * The inference grid that DDIM and PNDM share, in denoising order (largest
 * first), as diffusers builds it for each `timestepSpacing`.
 */
export function spacedTimesteps(config: SchedulerConfig, steps: number): number[] {
  const T = config.trainTimesteps;
  let grid: number[];
  switch (config.timestepSpacing) {
    case "leading": {
      const stride = Math.floor(T / steps);
      grid = Array.from({ length: steps }, (_, i) => (steps - 1 - i) * stride + config.stepsOffset);
      break;
    }
    case "trailing":
      grid = trailingTimesteps(T, steps);
      break;
    case "linspace":
      grid = Array.from(linspace(0, T - 1, steps), roundHalfEven).reverse();
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

/**
 * `round(arange(T, 0, −T/steps)) − 1` with numpy's arange arithmetic
 * (value i = T + i·((T − ratio) − T)), cut to exactly `steps` values: for a
 * few step counts numpy's float length rounds up and appends a stray −1.
 */
export function trailingTimesteps(T: number, steps: number): number[] {
  const delta = T - T / steps - T;
  return Array.from({ length: steps }, (_, i) => roundHalfEven(T + i * delta) - 1);
}

export class DdimScheduler implements Scheduler {
  readonly timesteps: readonly number[];
  readonly initNoiseSigma = 1;
  private readonly alphas: Float64Array;
  // diffusers steps back by T // steps whatever the spacing; equal to the grid
  // stride for "leading".
  private readonly stride: number;
  private readonly vPrediction: boolean;
  private index = 0;

  constructor(config: SchedulerConfig, steps: number) {
    this.alphas = alphasCumprod(config.betaSchedule, config.betaStart, config.betaEnd, config.trainTimesteps);
    this.timesteps = spacedTimesteps(config, steps);
    this.stride = Math.floor(config.trainTimesteps / steps);
    this.vPrediction = config.predictionType === "v_prediction";
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, out = new Float32Array(sample.length)): Float32Array {
    assertStepArgs(this.timesteps, this.index, timestep, modelOutput, sample, out);
    this.index++;
    const prev = timestep - this.stride;
    const a = this.alphas[timestep];
    // Past t = 0 the target is ā_0, not 1 (set_alpha_to_one=False).
    const aPrev = prev >= 0 ? this.alphas[prev] : this.alphas[0];
    const sa = Math.sqrt(a);
    const sb = Math.sqrt(1 - a);
    const saPrev = Math.sqrt(aPrev);
    const sbPrev = Math.sqrt(1 - aPrev);
    // Each element is read before it is written, so `out` may be `sample`.
    if (this.vPrediction) {
      for (let i = 0; i < sample.length; i++) {
        const x = sample[i];
        const m = modelOutput[i];
        out[i] = saPrev * (sa * x - sb * m) + sbPrev * (sa * m + sb * x);
      }
    } else {
      for (let i = 0; i < sample.length; i++) {
        const x = sample[i];
        const m = modelOutput[i];
        out[i] = saPrev * ((x - sb * m) / sa) + sbPrev * m;
      }
    }
    return out;
  }
}

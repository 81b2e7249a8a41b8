// PNDM in its PLMS-only form (diffusers' PNDMScheduler with skip_prk_steps=True
// and set_alpha_to_one=False), the scheduler Stable unCLIP ships with.
import { alphasCumprod, assertStepArgs } from "./betas";
import { spacedTimesteps } from "./ddim";
import type { Scheduler, SchedulerConfig } from "./types";

export class PndmScheduler implements Scheduler {
  readonly timesteps: readonly number[];
  readonly initNoiseSigma = 1;
  private readonly alphas: Float64Array;
  private readonly stride: number;
  private readonly vPrediction: boolean;
  private counter = 0;
  /** Raw model outputs of the multistep history, newest first, at most 4 (copies: the caller may reuse its arrays). */
  private history: Float32Array[] = [];
  /** The sample of the first step, which the second evaluation restarts from. */
  private firstSample: Float32Array | null = null;
  /** This step's mix of model outputs, reused from step to step; float64, as the mix is never rounded to float32. */
  private mixed = new Float64Array(0);

  constructor(config: SchedulerConfig, steps: number) {
    this.alphas = alphasCumprod(config.betaSchedule, config.betaStart, config.betaEnd, config.trainTimesteps);
    const grid = spacedTimesteps(config, steps);
    // Warm-up without Runge–Kutta: the second grid point is evaluated twice
    // (once from an Euler step, once to correct it), so N steps cost N + 1
    // evaluations.
    this.timesteps = grid.length > 1 ? [grid[0], grid[1], ...grid.slice(1)] : grid;
    this.stride = Math.floor(config.trainTimesteps / steps);
    this.vPrediction = config.predictionType === "v_prediction";
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, out = new Float32Array(sample.length)): Float32Array {
    assertStepArgs(this.timesteps, this.counter, timestep, modelOutput, sample, out);
    const n = sample.length;
    if (this.mixed.length !== n) this.mixed = new Float64Array(n);
    const mixed = this.mixed;
    const m = modelOutput;
    let t = timestep;
    let prev = timestep - this.stride;
    let x = sample;
    if (this.counter === 1) {
      // This output was evaluated where the first (Euler) step landed: redo
      // that step from its starting sample with the mean of both outputs
      // (Heun-like). diffusers restarts from t + T // steps, which is the first
      // grid point for "leading" spacing, and keeps this output out of the
      // history.
      const e0 = this.history[0];
      for (let i = 0; i < n; i++) mixed[i] = (m[i] + e0[i]) / 2;
      x = this.firstSample!;
      this.firstSample = null;
      prev = timestep;
      t = timestep + this.stride;
    } else {
      // The oldest output's array is reused for the newest once four are kept.
      const newest = this.history.length === 4 ? this.history.pop()! : new Float32Array(n);
      newest.set(modelOutput);
      this.history.unshift(newest);
      const [e1, e2, e3, e4] = this.history;
      switch (this.history.length) {
        case 1:
          this.firstSample = sample.slice();
          mixed.set(m);
          break;
        case 2:
          for (let i = 0; i < n; i++) mixed[i] = (3 * e1[i] - e2[i]) / 2;
          break;
        case 3:
          for (let i = 0; i < n; i++) mixed[i] = (23 * e1[i] - 16 * e2[i] + 5 * e3[i]) / 12;
          break;
        default:
          for (let i = 0; i < n; i++) mixed[i] = (55 * e1[i] - 59 * e2[i] + 37 * e3[i] - 9 * e4[i]) / 24;
      }
    }
    this.counter++;
    return this.transfer(x, t, prev, mixed, out);
  }

  /**
   * PNDM's transfer x_t → x_prev (formula 9 of the PNDM paper). Like
   * diffusers, a v-prediction model's outputs are mixed as they are and the
   * mix is turned into ε with this step's ā_t and sample.
   */
  private transfer(x: Float32Array, t: number, prev: number, mixed: Float64Array, out: Float32Array): Float32Array {
    const a = this.alphas[t];
    const aPrev = prev >= 0 ? this.alphas[prev] : this.alphas[0];
    const sa = Math.sqrt(a);
    const sb = Math.sqrt(1 - a);
    const sampleCoeff = Math.sqrt(aPrev / a);
    const epsCoeff = (aPrev - a) / (a * Math.sqrt(1 - aPrev) + Math.sqrt(a * (1 - a) * aPrev));
    // Each element of x is read before it is written, so `out` may be the sample.
    if (this.vPrediction) {
      for (let i = 0; i < x.length; i++) out[i] = sampleCoeff * x[i] - epsCoeff * (sa * mixed[i] + sb * x[i]);
    } else {
      for (let i = 0; i < x.length; i++) out[i] = sampleCoeff * x[i] - epsCoeff * mixed[i];
    }
    return out;
  }
}

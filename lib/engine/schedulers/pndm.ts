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
  /** Raw model outputs of the multistep history, oldest first, at most 4. */
  private history: Float32Array[] = [];
  /** The sample of the first step, which the second evaluation restarts from. */
  private firstSample: Float32Array | null = null;

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

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array): Float32Array<ArrayBuffer> {
    assertStepArgs(this.timesteps, this.counter, timestep, modelOutput, sample);
    let t = timestep;
    let prev = timestep - this.stride;
    let x = sample;
    let mixed: (i: number) => number;
    const m = modelOutput;
    if (this.counter === 1) {
      // This output was evaluated where the first (Euler) step landed: redo
      // that step from its starting sample with the mean of both outputs
      // (Heun-like). diffusers restarts from t + T // steps, which is the first
      // grid point for "leading" spacing, and keeps this output out of the
      // history.
      const e0 = this.history[0];
      x = this.firstSample!;
      this.firstSample = null;
      prev = timestep;
      t = timestep + this.stride;
      mixed = (i) => (m[i] + e0[i]) / 2;
    } else {
      this.history = [...this.history.slice(-3), modelOutput.slice()];
      const [e1, e2, e3, e4] = this.history.slice().reverse();
      switch (this.history.length) {
        case 1:
          this.firstSample = sample.slice();
          mixed = (i) => m[i];
          break;
        case 2:
          mixed = (i) => (3 * e1[i] - e2[i]) / 2;
          break;
        case 3:
          mixed = (i) => (23 * e1[i] - 16 * e2[i] + 5 * e3[i]) / 12;
          break;
        default:
          mixed = (i) => (55 * e1[i] - 59 * e2[i] + 37 * e3[i] - 9 * e4[i]) / 24;
      }
    }
    this.counter++;
    return this.transfer(x, t, prev, mixed);
  }

  /**
   * PNDM's transfer x_t → x_prev (formula 9 of the PNDM paper). Like
   * diffusers, a v-prediction model's outputs are mixed as they are and the
   * mix is turned into ε with this step's ā_t and sample.
   */
  private transfer(x: Float32Array, t: number, prev: number, mixed: (i: number) => number): Float32Array<ArrayBuffer> {
    const a = this.alphas[t];
    const aPrev = prev >= 0 ? this.alphas[prev] : this.alphas[0];
    const sa = Math.sqrt(a);
    const sb = Math.sqrt(1 - a);
    const sampleCoeff = Math.sqrt(aPrev / a);
    const epsCoeff = (aPrev - a) / (a * Math.sqrt(1 - aPrev) + Math.sqrt(a * (1 - a) * aPrev));
    const out = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const eps = this.vPrediction ? sa * mixed(i) + sb * x[i] : mixed(i);
      out[i] = sampleCoeff * x[i] - epsCoeff * eps;
    }
    return out;
  }
}

// The noise schedule and the inference-grid helpers shared by the schedulers.
import { EngineError } from "../errors";
import type { BetaSchedule } from "./types";

/** numpy.linspace: `start + i·step`, with the last value pinned to `stop`. */
export function linspace(start: number, stop: number, num: number): Float64Array {
  const out = new Float64Array(num);
  const step = num > 1 ? (stop - start) / (num - 1) : 0;
  for (let i = 0; i < num; i++) out[i] = start + i * step;
  if (num > 1) out[num - 1] = stop;
  return out;
}

/** numpy.round: ties go to the even neighbour (Math.round sends them up). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The training noise schedule ā_t = Π_{s≤t} (1 − β_s), in float64 so that the
 * products near t = 999 keep their digits. `scaled_linear` is Stable
 * Diffusion's `linspace(√start, √end, N)²`.
 */
export function alphasCumprod(
  schedule: BetaSchedule,
  betaStart: number,
  betaEnd: number,
  trainTimesteps: number,
): Float64Array {
  let betas: Float64Array;
  switch (schedule) {
    case "scaled_linear":
      betas = linspace(Math.sqrt(betaStart), Math.sqrt(betaEnd), trainTimesteps).map((b) => b * b);
      break;
    case "linear":
      betas = linspace(betaStart, betaEnd, trainTimesteps);
      break;
    default:
      throw new EngineError(
        "invalid_preset",
        `scheduler: unknown betaSchedule ${JSON.stringify(schedule)} (expected "scaled_linear" or "linear")`,
      );
  }
  const out = new Float64Array(trainTimesteps);
  let product = 1;
  for (let t = 0; t < trainTimesteps; t++) {
    product *= 1 - betas[t];
    out[t] = product;
  }
  return out;
}

/**
 * Rejects inference grids the schedulers cannot run: every timestep must index
 * ā and the grid must strictly decrease (a repeat would make a step of size 0).
 */
export function assertTimestepGrid(timesteps: readonly number[], trainTimesteps: number, what: string): void {
  const ok = timesteps.every(
    (t, i) =>
      Number.isInteger(t) && t >= 0 && t < trainTimesteps && (i === 0 || t < timesteps[i - 1]),
  );
  if (!ok) {
    throw new EngineError(
      "invalid_input",
      `scheduler: ${what} gives timesteps [${timesteps.join(", ")}], which are not strictly decreasing ` +
        `integers in [0, ${trainTimesteps - 1}]; use fewer steps or another timestepSpacing`,
    );
  }
}

/**
 * Guards one `step` call: steps must follow `timesteps` in order (a stateful
 * multistep scheduler would silently mix unrelated outputs otherwise), and the
 * model output (and the output array, when given) must match the sample element for element.
 */
export function assertStepArgs(
  timesteps: readonly number[],
  index: number,
  timestep: number,
  modelOutput: Float32Array,
  sample: Float32Array,
  out: Float32Array | undefined,
): void {
  if (index >= timesteps.length) {
    throw new Error(`scheduler: all ${timesteps.length} steps are done; create a new scheduler per decode`);
  }
  if (timestep !== timesteps[index]) {
    throw new Error(`scheduler: step ${index} expects timestep ${timesteps[index]}, got ${timestep}`);
  }
  if (modelOutput.length !== sample.length) {
    throw new EngineError(
      "model_error",
      `scheduler: model output has ${modelOutput.length} values but the sample has ${sample.length}`,
    );
  }
  if (out !== undefined && out.length !== sample.length) {
    throw new Error(`scheduler: the output array has ${out.length} values but the sample has ${sample.length}`);
  }
}

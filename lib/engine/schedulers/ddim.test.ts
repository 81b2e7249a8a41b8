import { describe, expect, it } from "vitest";
import { DdimScheduler } from "./ddim";
import type { PredictionType, Scheduler, SchedulerConfig, TimestepSpacing } from "./types";

const config = (predictionType: PredictionType, timestepSpacing: TimestepSpacing = "leading"): SchedulerConfig => ({
  type: "ddim",
  betaSchedule: "scaled_linear",
  betaStart: 0.00085,
  betaEnd: 0.012,
  trainTimesteps: 1000,
  predictionType,
  stepsOffset: 1,
  timestepSpacing,
});

/** Runs a smooth, non-trivial stand-in model; diffusers ran the same loop for the expected values. */
function runToy(s: Scheduler): number[] {
  let x: Float32Array = Float32Array.from([0.9, -1.1, 0.4, 1.7, -0.3, 0.05]);
  for (const t of s.timesteps) x = s.step(x.map((v) => 0.8 * Math.sin(1.3 * v + t / 250) + 0.1 * v), t, x);
  return Array.from(x);
}

describe("DdimScheduler", () => {
  it("uses diffusers' grids", () => {
    const leading = Array.from({ length: 20 }, (_, i) => 951 - 50 * i);
    expect(new DdimScheduler(config("epsilon"), 20).timesteps).toEqual(leading);
    expect(new DdimScheduler(config("epsilon", "trailing"), 20).timesteps).toEqual(
      Array.from({ length: 20 }, (_, i) => 999 - 50 * i),
    );
    // 1000 − 3·62.5 = 812.5 rounds to even (812), then − 1.
    expect(new DdimScheduler(config("epsilon", "trailing"), 16).timesteps).toEqual([
      999, 937, 874, 811, 749, 687, 624, 561, 499, 437, 374, 311, 249, 187, 124, 61,
    ]);
    // 999/6 = 166.5 and 832.5 round to even, as numpy does.
    expect(new DdimScheduler(config("epsilon", "linspace"), 7).timesteps).toEqual([999, 832, 666, 500, 333, 166, 0]);
    expect(new DdimScheduler(config("epsilon"), 1).timesteps).toEqual([1]);
  });

  // Expected values: diffusers DDIMScheduler (set_alpha_to_one=False, clip_sample=False),
  // float64 samples, same toy model and 20 steps.
  it.each([
    ["epsilon", [9.292317072, -10.740688897, 6.144109165, 12.158400703, -3.050874941, 4.868052487]],
    ["v_prediction", [0.548580414, -0.773752235, -0.045778326, 1.881768669, -0.485338468, -0.3026394]],
  ] as const)("matches diffusers on a toy model (%s)", (prediction, want) => {
    const got = runToy(new DdimScheduler(config(prediction), 20));
    got.forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThan(1e-5 * Math.max(1, Math.abs(want[i]))));
  });
});

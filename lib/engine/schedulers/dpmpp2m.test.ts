import { describe, expect, it } from "vitest";
import { DpmSolverPlusPlus2MScheduler } from "./dpmpp2m";
import type { PredictionType, Scheduler, SchedulerConfig, TimestepSpacing } from "./types";

const config = (predictionType: PredictionType, timestepSpacing: TimestepSpacing = "leading"): SchedulerConfig => ({
  type: "dpmpp2m",
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

describe("DpmSolverPlusPlus2MScheduler", () => {
  it("uses diffusers' grids (N of N + 1 points, t = 0 dropped)", () => {
    // leading: stride 1000 // 21 = 47, plus steps_offset.
    expect(new DpmSolverPlusPlus2MScheduler(config("epsilon"), 20).timesteps).toEqual(
      Array.from({ length: 20 }, (_, i) => 941 - 47 * i),
    );
    expect(new DpmSolverPlusPlus2MScheduler(config("epsilon", "linspace"), 20).timesteps).toEqual([
      999, 949, 899, 849, 799, 749, 699, 649, 599, 549, 500, 450, 400, 350, 300, 250, 200, 150, 100, 50,
    ]);
    expect(new DpmSolverPlusPlus2MScheduler(config("epsilon", "trailing"), 20).timesteps).toEqual(
      Array.from({ length: 20 }, (_, i) => 999 - 50 * i),
    );
  });

  it("rejects a grid that collapses (1000 // 1000 leading steps = 0)", () => {
    expect(() => new DpmSolverPlusPlus2MScheduler(config("epsilon"), 1000)).toThrow(/strictly decreasing/);
  });

  // Expected values: diffusers DPMSolverMultistepScheduler (solver_order=2,
  // algorithm_type="dpmsolver++", defaults otherwise), float64 samples, same toy
  // model. 1 step is a single first-order step to σ = 0; 2 steps are first order
  // twice; 3 and 20 use the second-order update in between.
  it.each([
    ["epsilon", 1, [1.612192167, -2.624341942, -0.054366947, 4.106693161, -1.821110126, -1.053828445]],
    ["epsilon", 3, [4.810731587, -5.07680946, 2.696412958, 5.701860073, -1.711693931, -0.867100054]],
    ["epsilon", 20, [8.174213702, -9.821407409, 5.530124959, 10.613716813, -3.335740728, 4.700201318]],
    ["v_prediction", 2, [0.388613294, -0.671285236, -0.3003306, 1.458861499, -0.68090341, -0.579905195]],
    ["v_prediction", 3, [0.354202556, -0.671129942, -0.319930184, 1.679770563, -0.586517261, -0.512104978]],
    ["v_prediction", 20, [0.500115369, -0.749064816, -0.050464069, 1.968900795, -0.458005281, -0.285040196]],
  ] as const)("matches diffusers on a toy model (%s, %i steps)", (prediction, steps, want) => {
    const got = runToy(new DpmSolverPlusPlus2MScheduler(config(prediction), steps));
    got.forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThan(1e-5 * Math.max(1, Math.abs(want[i]))));
  });
});

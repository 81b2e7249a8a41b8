import { describe, expect, it } from "vitest";
import { EngineError } from "../errors";
import { alphasCumprod } from "./betas";
import { createScheduler } from "./index";
import type { PredictionType, SchedulerConfig, SchedulerType } from "./types";

const config = (type: SchedulerType, predictionType: PredictionType): SchedulerConfig => ({
  type,
  betaSchedule: "scaled_linear",
  betaStart: 0.00085,
  betaEnd: 0.012,
  trainTimesteps: 1000,
  predictionType,
  stepsOffset: 1,
  timestepSpacing: "leading",
});

const alphas = alphasCumprod("scaled_linear", 0.00085, 0.012, 1000);
const onTrajectory = (x0: number[], eps: number[], a: number) =>
  x0.map((v, i) => Math.sqrt(a) * v + Math.sqrt(1 - a) * eps[i]);

/**
 * A perfect model for data x0 and noise ε: its output is computed from the
 * sample it is given (ε_true(x_t) = (x_t − √ā x0)/√(1−ā); v = √ā ε − √(1−ā) x0),
 * never from ε directly, so a scheduler that feeds it an off-trajectory sample
 * gets an answer that does not bring it back.
 */
function perfectOutput(prediction: PredictionType, x0: number[], x: Float32Array, t: number): Float32Array {
  const a = alphas[t];
  return x.map((xt, i) => {
    const e = (xt - Math.sqrt(a) * x0[i]) / Math.sqrt(1 - a);
    return prediction === "epsilon" ? e : Math.sqrt(a) * e - Math.sqrt(1 - a) * x0[i];
  });
}

describe("createScheduler: closed form with a perfect model", () => {
  // Every solver is exact on x_t = √ā_t x0 + √(1−ā_t) ε when the model is:
  // each evaluation must see a sample on that curve. DDIM and PNDM stop at ā_0
  // (set_alpha_to_one=False), DPM-Solver++ at σ = 0, i.e. at x0 itself.
  // PNDM with v-prediction is the one exception (see pndm.test.ts).
  const x0 = [0.5, -1.2, 0.3, 2, -0.7];
  const eps = [1, -0.4, 0.7, -1.5, 0.2];
  it.each([
    ["ddim", "epsilon", onTrajectory(x0, eps, alphas[0])],
    ["ddim", "v_prediction", onTrajectory(x0, eps, alphas[0])],
    ["pndm", "epsilon", onTrajectory(x0, eps, alphas[0])],
    ["dpmpp2m", "epsilon", x0],
    ["dpmpp2m", "v_prediction", x0],
  ] as const)("%s with %s", (type, prediction, final) => {
    const s = createScheduler(config(type, prediction), 20);
    let x: Float32Array = Float32Array.from(onTrajectory(x0, eps, alphas[s.timesteps[0]]));
    for (const t of s.timesteps) {
      const expected = onTrajectory(x0, eps, alphas[t]);
      x.forEach((v, i) => expect(Math.abs(v - expected[i])).toBeLessThan(1e-5));
      x = s.step(perfectOutput(prediction, x0, x, t), t, x);
    }
    x.forEach((v, i) => expect(Math.abs(v - final[i])).toBeLessThan(1e-5));
  });
});

describe("createScheduler", () => {
  it("builds each type with initial sigma 1", () => {
    for (const type of ["pndm", "ddim", "dpmpp2m"] as const) {
      const s = createScheduler(config(type, "v_prediction"), 20);
      expect(s.initNoiseSigma).toBe(1);
      expect(s.timesteps.length).toBe(type === "pndm" ? 21 : 20);
    }
  });

  it("rejects bad configs and step counts with clear messages", () => {
    const good = config("pndm", "v_prediction");
    expect(() => createScheduler({ ...good, type: "euler" as never }, 20)).toThrow(
      'scheduler: unknown type "euler" (expected one of pndm, ddim, dpmpp2m)',
    );
    expect(() => createScheduler({ ...good, predictionType: "sample" as never }, 20)).toThrow(/predictionType "sample"/);
    expect(() => createScheduler({ ...good, timestepSpacing: "karras" as never }, 20)).toThrow(/timestepSpacing/);
    expect(() => createScheduler({ ...good, betaSchedule: "squaredcos_cap_v2" as never }, 20)).toThrow(/betaSchedule/);
    expect(() => createScheduler({ ...good, betaEnd: 0.0001 }, 20)).toThrow(/betaStart ≤ betaEnd/);
    expect(() => createScheduler({ ...good, stepsOffset: -1 }, 20)).toThrow(/stepsOffset/);
    expect(() => createScheduler({ ...good, trainTimesteps: 1.5 }, 20)).toThrow(/trainTimesteps/);
    for (const steps of [0, -3, 1001, 2.5, Number.NaN]) {
      expect(() => createScheduler(good, steps)).toThrow(/steps must be an integer from 1 to 1000/);
    }
    // In range, but the leading grid would reach t = 1000.
    expect(() => createScheduler(good, 1000)).toThrow(/not strictly decreasing integers in \[0, 999\]/);
    expect(createScheduler(good, 1).timesteps).toEqual([1]);
    // A bad preset and a bad request are told apart for the caller.
    expect(() => createScheduler({ ...good, type: "euler" as never }, 20)).toThrow(
      expect.objectContaining({ name: "EngineError", code: "invalid_preset" }),
    );
    expect(() => createScheduler(good, 0)).toThrow(expect.objectContaining({ code: "invalid_input" }));
    expect(() => createScheduler(good, 0)).toThrow(EngineError);
  });

  it.each(["pndm", "ddim", "dpmpp2m"] as const)("%s checks each step's arguments", (type) => {
    const s = createScheduler(config(type, "epsilon"), 2);
    const x = new Float32Array(3);
    expect(() => s.step(new Float32Array(2), s.timesteps[0], x)).toThrow(/2 values but the sample has 3/);
    expect(() => s.step(x, s.timesteps[0] + 1, x)).toThrow(`step 0 expects timestep ${s.timesteps[0]}`);
    expect(() => s.step(x, s.timesteps[0], x, new Float32Array(4))).toThrow(/output array has 4 values but the sample has 3/);
    for (const t of s.timesteps) s.step(x, t, x);
    expect(() => s.step(x, s.timesteps[0], x)).toThrow(/all \d steps are done/);
  });

  // The decode loop steps its latents in place and overwrites the model-output array at every step: a scheduler
  // that kept a reference instead of a copy, or read an element after writing it, would drift from fresh arrays.
  it.each(["pndm", "ddim", "dpmpp2m"] as const)("%s stepped in place, with one reused output array, gives the same bits as fresh arrays", (type) => {
    for (const prediction of ["epsilon", "v_prediction"] as const) {
      const fresh = createScheduler(config(type, prediction), 7);
      const reused = createScheduler(config(type, prediction), 7);
      let x: Float32Array = Float32Array.from([0.9, -1.1, 0.4, 1.7, -0.3, 0.05]);
      const inPlace = x.slice();
      const output = new Float32Array(x.length);
      for (const t of fresh.timesteps) {
        const model = (v: number) => 0.8 * Math.sin(1.3 * v + t / 250) + 0.1 * v;
        x = fresh.step(x.map(model), t, x);
        output.set(inPlace.map(model));
        expect(reused.step(output, t, inPlace, inPlace)).toBe(inPlace);
        expect(Array.from(inPlace)).toEqual(Array.from(x));
      }
    }
  });

  it.each(["pndm", "ddim", "dpmpp2m"] as const)("%s steps a concatenated batch element by element", (type) => {
    const one = createScheduler(config(type, "v_prediction"), 6);
    const two = createScheduler(config(type, "v_prediction"), 6);
    const both = createScheduler(config(type, "v_prediction"), 6);
    let a: Float32Array = Float32Array.from([0.3, -1, 0.8]);
    let b: Float32Array = Float32Array.from([1.2, 0.1, -0.4, 0.6]);
    let ab: Float32Array = Float32Array.from([...a, ...b]);
    const model = (x: Float32Array, t: number) => x.map((v, i) => Math.cos(v * (i + 1) + t / 300));
    for (const t of both.timesteps) {
      const outA = model(a, t);
      const outB = model(b, t);
      a = one.step(outA, t, a);
      b = two.step(outB, t, b);
      ab = both.step(Float32Array.from([...outA, ...outB]), t, ab);
      expect(Array.from(ab)).toEqual([...a, ...b]);
    }
  });
});

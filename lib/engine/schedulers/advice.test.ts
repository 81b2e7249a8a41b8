import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { openPreset } from "../index";
import { resolvePresetDir } from "../preset";
import { isMostlyColour } from "../testing";
import { PNDM_MIN_STEPS, schedulerAdvice } from "./advice";
import type { SchedulerType } from "./types";

const QUICK_BUILD = JSON.parse(readFileSync(path.join(resolvePresetDir("shapes"), "preset.json"), "utf8")).provenance.quick !== false;

describe("schedulerAdvice", () => {
  it("warns about PNDM below its minimum steps, naming the count and the alternatives", () => {
    const advice = schedulerAdvice("pndm", 10);
    expect(advice).toContain("at 10");
    expect(advice).toContain("DDIM");
    expect(schedulerAdvice("pndm", PNDM_MIN_STEPS - 1)).not.toBeNull();
  });

  it("is silent from the minimum on and for the other schedulers", () => {
    expect(schedulerAdvice("pndm", PNDM_MIN_STEPS)).toBeNull();
    expect(schedulerAdvice("ddim", 3)).toBeNull();
    expect(schedulerAdvice("dpmpp2m", 3)).toBeNull();
  });

  it("leaves steps that are not a whole number ≥ 1 to the request's validation", () => {
    for (const steps of [0, -3, 2.5, Number.NaN]) expect(schedulerAdvice("pndm", steps)).toBeNull();
  });

  // The base UNet already lost red at 10 PNDM steps; the UNet tuned on caption means (stage `tune`) holds it there in most
  // cells and loses it at 5, which is what this pins.
  it.skipIf(QUICK_BUILD)("is true of the shapes preset: PNDM garbles the colour of “a red circle” at 5 steps, not at the minimum, and DDIM keeps it at 5", async () => {
    const engine = await openPreset("shapes", { providers: ["cpu"], threads: 2 });
    const redCells = async (scheduler: SchedulerType, steps: number) => {
      const result = await engine.run({ input: { kind: "caption", text: "a red circle" }, plan: { kind: "interpolate", lambdas: [0] }, cols: 4, seed: 1, steps, scheduler });
      return result.cells.filter((cell) => isMostlyColour(cell, "red")).length;
    };
    expect(await redCells("pndm", 5)).toBeLessThanOrEqual(1);
    expect(await redCells("pndm", PNDM_MIN_STEPS)).toBeGreaterThanOrEqual(3);
    expect(await redCells("ddim", 5)).toBeGreaterThanOrEqual(3);
  });
});

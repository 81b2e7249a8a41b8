import { describe, expect, it } from "vitest";
import { deltas, fixed, inPairs, median, pairOrder, pairRatios, percentile, positiveInt, spread, summarize, table } from "./bench-stats";

describe("bench stats", () => {
  it("interpolates percentiles between closest ranks", () => {
    expect(percentile([10, 20, 30, 40], 0)).toBe(10);
    expect(percentile([40, 10, 30, 20], 100)).toBe(40);
    expect(percentile([10, 20, 30, 40], 50)).toBe(25);
    expect(percentile([0, 10], 90)).toBeCloseTo(9);
  });

  it("takes medians of odd and even counts without reordering the input", () => {
    const values = [3, 1, 2];
    expect(median(values)).toBe(2);
    expect(values).toEqual([3, 1, 2]);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it("summarizes median, min and max", () => {
    expect(summarize([5, 1, 9])).toEqual({ median: 5, min: 1, max: 9 });
  });

  it("adds quartiles to a summary", () => {
    expect(spread([1, 2, 3, 4, 5])).toEqual({ median: 3, min: 1, max: 5, q1: 2, q3: 4 });
    // Between closest ranks: 25 % of the way from 10 to 20 is rank 0.75.
    expect(spread([40, 10, 30, 20])).toEqual({ median: 25, min: 10, max: 40, q1: 17.5, q3: 32.5 });
    expect(spread([7])).toEqual({ median: 7, min: 7, max: 7, q1: 7, q3: 7 });
  });

  it("alternates which side of a pair runs first", () => {
    expect([0, 1, 2, 3].map(pairOrder)).toEqual([
      ["engine", "reference"],
      ["reference", "engine"],
      ["engine", "reference"],
      ["reference", "engine"],
    ]);
  });

  it("runs the pairs one side at a time in that order and keeps each pair's results together", async () => {
    const log: string[] = [];
    let running = 0;
    const side = (name: string) => async () => {
      running++;
      expect(running).toBe(1);
      log.push(name);
      await Promise.resolve();
      running--;
      return `${name}${log.filter((entry) => entry === name).length}`;
    };
    const pairs = await inPairs(3, side("E"), side("R"));
    expect(log).toEqual(["E", "R", "R", "E", "E", "R"]);
    expect(pairs).toEqual([
      { order: ["engine", "reference"], engine: "E1", reference: "R1" },
      { order: ["reference", "engine"], engine: "E2", reference: "R2" },
      { order: ["engine", "reference"], engine: "E3", reference: "R3" },
    ]);
    expect(await inPairs(0, side("E"), side("R"))).toEqual([]);
  });

  it("divides each pair's engine figure by its own reference figure, not medians by medians", () => {
    const pairs = [
      { engine: 30, reference: 10 },
      { engine: 10, reference: 10 },
      { engine: 12, reference: 3 },
    ];
    expect(pairRatios(pairs)).toEqual([3, 1, 4]);
    // Median of per-pair ratios (3) differs from the ratio of per-side medians (12 / 10): a slow phase stays within its pair.
    expect(median(pairRatios(pairs))).toBe(3);
  });

  it("rejects empty input and out-of-range percentiles", () => {
    expect(() => median([])).toThrow(RangeError);
    expect(() => percentile([1], 101)).toThrow(RangeError);
    expect(() => percentile([1], Number.NaN)).toThrow(RangeError);
  });

  it("turns timestamps into gaps", () => {
    expect(deltas([1, 4, 10])).toEqual([3, 6]);
    expect(deltas([1])).toEqual([]);
  });

  it("formats missing figures as a dash", () => {
    expect(fixed(1.234, 2)).toBe("1.23");
    expect(fixed(undefined, 2)).toBe("–");
    expect(fixed(Number.NaN, 1)).toBe("–");
  });

  it("pads a table: first column left, the rest right", () => {
    expect(table(["x", "value"], [["long name", "1.5"], ["y", "12.25"]])).toBe(
      ["x          value", "---------  -----", "long name    1.5", "y          12.25"].join("\n"),
    );
    expect(() => table(["a", "b"], [["1"]])).toThrow(RangeError);
  });
});

describe("positiveInt", () => {
  it("reads a positive integer flag and names the flag and the value it refuses", () => {
    expect(positiveInt("steps", "20")).toBe(20);
    for (const raw of ["0", "-2", "1.5", "x", ""]) expect(() => positiveInt("steps", raw)).toThrow(`--steps must be a positive integer, got "${raw}"`);
  });
});

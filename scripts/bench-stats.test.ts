import { describe, expect, it } from "vitest";
import { deltas, fixed, median, percentile, summarize, table } from "./bench-stats";

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

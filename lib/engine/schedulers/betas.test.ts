import { describe, expect, it } from "vitest";
import { alphasCumprod, assertTimestepGrid, linspace, roundHalfEven } from "./betas";

const rel = (got: number, want: number) => Math.abs(got / want - 1);

describe("alphasCumprod", () => {
  it("scaled_linear gives Stable Diffusion's ā_0 = 0.99915 and ā_999 = 0.0046601", () => {
    const a = alphasCumprod("scaled_linear", 0.00085, 0.012, 1000);
    expect(a).toHaveLength(1000);
    expect(rel(a[0], 0.99915)).toBeLessThan(1e-5);
    expect(rel(a[999], 0.0046601)).toBeLessThan(1e-5);
    // Midpoint against numpy's float64 cumprod.
    expect(rel(a[499], 0.27766965045646763)).toBeLessThan(1e-9);
  });

  it("linear gives DDPM's schedule (ā_999 ≈ 4.0358e-5)", () => {
    const a = alphasCumprod("linear", 0.0001, 0.02, 1000);
    expect(a[0]).toBeCloseTo(0.9999, 12);
    expect(rel(a[499], 0.07858724288177824)).toBeLessThan(1e-9);
    expect(rel(a[999], 4.035829765375676e-5)).toBeLessThan(1e-9);
  });

  it("rejects an unknown schedule", () => {
    expect(() => alphasCumprod("cosine" as never, 0.1, 0.2, 10)).toThrow(/unknown betaSchedule "cosine"/);
  });
});

describe("numpy-compatible helpers", () => {
  it("linspace pins both ends", () => {
    expect(Array.from(linspace(0, 999, 7))).toEqual([0, 166.5, 333, 499.5, 666, 832.5, 999]);
    expect(Array.from(linspace(3, 5, 1))).toEqual([3]);
  });

  it("roundHalfEven sends ties to the even neighbour like numpy.round", () => {
    expect([0.5, 1.5, 2.5, 166.5, 499.5, 812.5, -1.5, 2.4, 2.6].map(roundHalfEven)).toEqual([
      0, 2, 2, 166, 500, 812, -2, 2, 3,
    ]);
  });

  it("assertTimestepGrid rejects repeats and out-of-range timesteps", () => {
    expect(() => assertTimestepGrid([5, 3, 0], 10, "x")).not.toThrow();
    expect(() => assertTimestepGrid([5, 5, 0], 10, "x")).toThrow(/strictly decreasing/);
    expect(() => assertTimestepGrid([10, 5], 10, "x")).toThrow(/\[0, 9\]/);
    expect(() => assertTimestepGrid([5, -1], 10, "x")).toThrow();
  });
});

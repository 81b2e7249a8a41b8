import { describe, expect, it } from "vitest";
import {
  batchFraction,
  cellMetricGroups,
  dateTime,
  dimensionTicks,
  duration,
  epistemicText,
  etaText,
  fixed,
  level,
  niceCeil,
  percentileText,
  planChips,
  planDensity,
  planFor,
  planSummary,
  progressPercent,
  requestPlan,
  rowLabel,
  rowLabelText,
  significant,
  spread,
  startsAtMean,
} from "./format";

describe("numbers", () => {
  it("prints fixed decimals without negative zero, with a true minus", () => {
    expect(fixed(-0.0001, 2)).toBe("0.00");
    expect(fixed(-1.5, 1)).toBe("−1.5");
    expect(fixed(Number.NaN, 2)).toBe("NaN");
    expect(fixed(Number.POSITIVE_INFINITY, 2)).toBe("∞");
  });

  it("keeps significant digits in plain notation across the engine's magnitudes", () => {
    expect(significant(0.0057123, 3)).toBe("0.00571");
    expect(significant(64, 3)).toBe("64.0");
    expect(significant(-12.345, 4)).toBe("−12.35");
    expect(significant(0, 3)).toBe("0");
    expect(significant(0.0000123, 3)).toBe("1.23e−5");
  });

  it("prints plan levels as typed", () => {
    expect(level(0.1 + 0.2)).toBe("0.3");
    expect(level(1)).toBe("1");
  });
});

describe("plans", () => {
  it("offers coarse and fine plans, the fine one containing every coarse level", () => {
    expect(planFor("interpolate", "coarse")).toEqual({ kind: "interpolate", lambdas: [0, 0.5, 1, 1.5, 2] });
    const fine = planFor("shell", "fine");
    expect(fine.kind === "shell" && fine.quantiles).toHaveLength(9);
    const coarse = planFor("shell", "coarse");
    if (coarse.kind !== "shell" || fine.kind !== "shell") throw new Error("shell plans");
    expect(coarse.quantiles.every((q) => fine.quantiles.includes(q))).toBe(true);
  });

  it("recognises the density of a plan, or none for a custom one", () => {
    expect(planDensity(planFor("interpolate", "fine"))).toBe("fine");
    expect(planDensity({ kind: "shell", quantiles: [0.05, 0.25, 0.5, 0.75, 0.95] })).toBe("coarse");
    expect(planDensity({ kind: "interpolate", lambdas: [0, 3] })).toBeNull();
  });

  it("summarises a plan in one line", () => {
    expect(planSummary({ kind: "interpolate", lambdas: [0, 0.5, 1, 1.5, 2] })).toBe("interpolate · λ 0 … 2 · 5 rows");
    expect(planSummary({ kind: "shell", quantiles: [0.5] })).toBe("shell · q 0.5 · 1 row");
    expect(planSummary(planFor("geodesic", "coarse"))).toBe("geodesic · θ 0 … θ95 · 5 rows");
    expect(planSummary({ kind: "geodesic", fractions: [0, 0.5], tail: 0.9 })).toBe("geodesic · θ 0 … 0.5·θ90 · 2 rows");
  });

  it("offers geodesic plans as even fractions of the tail angle, sent by their row count", () => {
    expect(planFor("geodesic", "coarse")).toEqual({ kind: "geodesic", fractions: [0, 0.25, 0.5, 0.75, 1], tail: 0.95 });
    expect(planDensity(planFor("geodesic", "fine"))).toBe("fine");
    expect(planDensity({ kind: "geodesic", fractions: [0, 0.25, 0.5, 0.75, 1], tail: 0.9 })).toBeNull();
    expect(planDensity({ kind: "geodesic", fractions: [0, 1], tail: 0.95 })).toBeNull();
    expect(requestPlan(planFor("geodesic", "fine"))).toEqual({ kind: "geodesic", rows: 9 });
    const custom = { kind: "geodesic", fractions: [0, 0.6, 1.2], tail: 0.95 } as const;
    expect(requestPlan({ ...custom, fractions: [...custom.fractions] })).toEqual(custom);
    expect(requestPlan(planFor("shell", "coarse"))).toEqual(planFor("shell", "coarse"));
  });

  it("names each plan's rows, and which plans start at the mean", () => {
    expect(planChips(planFor("geodesic", "coarse"))).toEqual(["mean", "0.25·θ95", "0.5·θ95", "0.75·θ95", "θ95"]);
    expect(planChips({ kind: "interpolate", lambdas: [0, 0.5] })).toEqual(["λ 0", "λ 0.5"]);
    expect(startsAtMean(planFor("geodesic", "coarse"))).toBe(true);
    expect(startsAtMean(planFor("interpolate", "fine"))).toBe(true);
    expect(startsAtMean(planFor("shell", "coarse"))).toBe(false);
  });
});

describe("grid labels", () => {
  const cells = [
    { row: 1, q: 0.5 },
    { row: 1, q: 0.7 },
    { row: 0, q: 0 },
  ];

  it("labels λ rows with the average quantile their samples reached, λ = 0 as the mean", () => {
    const label = rowLabel({ kind: "interpolate", lambdas: [0, 1] }, cells, 1);
    expect(label).toEqual({ main: "λ = 1", detail: "q ≈ 0.60" });
    expect(rowLabelText(label)).toBe("λ = 1 · q ≈ 0.60");
    expect(rowLabelText(rowLabel({ kind: "interpolate", lambdas: [0, 1] }, cells, 0))).toBe("λ = 0 · mean");
  });

  it("labels λ rows without a quantile before the run is described", () => {
    expect(rowLabelText(rowLabel({ kind: "interpolate", lambdas: [0, 0.5] }, [], 1))).toBe("λ = 0.5");
  });

  it("labels shell rows by their quantile alone", () => {
    expect(rowLabelText(rowLabel({ kind: "shell", quantiles: [0.05, 0.25] }, cells, 1))).toBe("q = 0.25");
  });

  it("labels geodesic rows by their target angle and average q_dec", () => {
    const geodesic = [
      { row: 1, q: 0.5, angleTarget: 24.08, decoderQuantile: 0.5 },
      { row: 1, q: 0.7, angleTarget: 24.08, decoderQuantile: 0.54 },
    ];
    expect(rowLabelText(rowLabel({ kind: "geodesic", fractions: [0, 1], tail: 0.95 }, geodesic, 1))).toBe("θ = 24.1° · q_dec ≈ 0.52");
    expect(rowLabelText(rowLabel({ kind: "geodesic", fractions: [0, 1], tail: 0.95 }, geodesic, 0))).toBe("θ = 0° · mean");
  });

  const base = { index: 0, row: 0, col: 0, T: 12.5, q: 0.61, nll: -12.3, cosineToMean: 0.98765, l2FromMean: 1.5, image: null };
  const pairs = (group: ReturnType<typeof cellMetricGroups>[number]) => group.metrics.map((m) => [m.label, m.value]);

  it("lists a cell's decoder-side numbers first, then the sampling space's", () => {
    const groups = cellMetricGroups({ ...base, lambda: 0.8, quantileTarget: null, decoderAngle: 24.08, decoderQuantile: 0.5, decoderDistance: 0.2346, angleTarget: 24.08 });
    expect(groups.map((group) => group.space)).toEqual(["decoder", "sampling"]);
    expect(pairs(groups[0])).toEqual([
      ["θ", "24.1°"],
      ["q_dec", "0.50"],
      ["distance", "0.235"],
    ]);
    expect(pairs(groups[1])).toEqual([
      ["λ", "0.8"],
      ["q", "0.610"],
      ["T", "12.50"],
      ["NLL", "−12.30"],
      ["cos to μ", "0.9877"],
      ["‖x − μ‖", "1.500"],
    ]);
  });

  it("lists only the sampling side for runs stored without decoder fields", () => {
    const groups = cellMetricGroups({ ...base, lambda: null, quantileTarget: 0.25 });
    expect(groups.map((group) => group.space)).toEqual(["sampling"]);
    expect(groups[0].metrics[0]).toMatchObject({ label: "q target", value: "0.25" });
  });
});

describe("progress", () => {
  it("reads a percentile as words", () => {
    expect(percentileText(72.4, "text")).toBe("more uncertain than 72% of reference captions");
    expect(percentileText(5, "image")).toBe("more uncertain than 5% of reference images");
    expect(epistemicText(97.4, "text")).toBe("farther from the preset's training data than 97% of held-out captions");
  });

  it("measures progress by evaluations, else cells, and a done run as full", () => {
    const progress = { evaluation: 30, evaluations: 120, cellsDone: 0, cellsTotal: 20, etaSeconds: 3 };
    expect(progressPercent("running", progress)).toBe(25);
    expect(progressPercent("running", { ...progress, evaluation: 0, evaluations: 0, cellsDone: 5 })).toBe(25);
    expect(progressPercent("done", { ...progress, evaluations: 0 })).toBe(100);
  });

  it("places the evaluation count inside the current (0-based) batch", () => {
    expect(batchFraction({ evaluation: 25, evaluations: 60, batch: 1, batches: 3 })).toBe(0.25);
    expect(batchFraction({ evaluation: 0, evaluations: 0, batch: 0, batches: 0 })).toBe(0);
  });

  it("says the time left in words", () => {
    expect(etaText("running", 12.4)).toBe("About 12 s left");
    expect(etaText("running", null)).toBe("Estimating time left…");
    expect(etaText("done", null, 4200)).toBe("Done in 4.2 s");
    expect(etaText("queued", null)).toBe("Waiting in the queue");
  });

  it("formats durations at the right unit", () => {
    expect(duration(420)).toBe("420 ms");
    expect(duration(3210)).toBe("3.2 s");
    expect(duration(125_000)).toBe("2 min 05 s");
  });
});

describe("chart helpers", () => {
  it("finds min, median and max", () => {
    expect(spread([3, 1, 2, 10])).toEqual({ min: 1, median: 2.5, max: 10 });
  });

  it("rounds an axis maximum up to 1, 2, 2.5 or 5 × 10ⁿ", () => {
    expect(niceCeil(0.37)).toBe(0.5);
    expect(niceCeil(2)).toBe(2);
    expect(niceCeil(2.1)).toBe(2.5);
    expect(niceCeil(0)).toBe(1);
  });

  it("spreads dimension ticks from 0 to D − 1", () => {
    expect(dimensionTicks(64)).toEqual([0, 16, 32, 47, 63]);
    expect(dimensionTicks(1024)).toEqual([0, 256, 512, 767, 1023]);
    expect(dimensionTicks(3)).toEqual([0, 1, 2]);
  });
});

it("prints dates in UTC so server and browser agree", () => {
  expect(dateTime("2025-11-28T11:17:00.000Z")).toBe("28 Nov 2025, 11:17 UTC");
});

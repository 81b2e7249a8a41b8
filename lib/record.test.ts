import { describe, expect, it } from "vitest";
import { type CellMetrics, cellFileName, cellMetrics, colLabels, gridTitle, rowLabel, rowLabelChars, rowLabels } from "./record";

const adapter = { lambda: null, quantileTarget: null, T: 1, q: 0.5, nll: -3, cosineToMean: 0.9, l2FromMean: 0.4 };

/** Two columns per row; `extra(row, col)` adds the decoder-side fields where a test wants them. */
function cells(rows: number, q: (row: number, col: number) => number, extra: (row: number, col: number) => Partial<CellMetrics> = () => ({})): CellMetrics[] {
  return Array.from({ length: rows * 2 }, (_, i) => {
    const row = Math.floor(i / 2);
    const col = i % 2;
    return { ...adapter, row, col, q: q(row, col), ...extra(row, col) };
  });
}

describe("rowLabels", () => {
  it("labels geodesic rows by their target angle and the row's average q_dec, the mean row by name", () => {
    const plan = { kind: "geodesic", fractions: [0, 0.5, 1], tail: 0.95 } as const;
    const grid = cells(
      3,
      () => 0.3,
      (row, col) => ({ angleTarget: [0, 12.04, 24.08][row], decoderAngle: [0, 12, 24][row], decoderDistance: row, decoderQuantile: [0, 0.48 + col * 0.04, 0.95][row] }),
    );
    expect(rowLabels(plan, grid)).toEqual(["row 0  θ = 0°     mean", "row 1  θ = 12.0°  q_dec ≈ 0.50", "row 2  θ = 24.1°  q_dec ≈ 0.95"]);
    expect(rowLabel(plan, grid, 1)).toEqual({ main: "θ = 12.0°", detail: "q_dec ≈ 0.50" });
  });

  it("names geodesic rows by their fraction of the tail angle before the run is described", () => {
    const plan = { kind: "geodesic", fractions: [0, 0.25, 1], tail: 0.95 } as const;
    expect(rowLabels(plan, [])).toEqual(["row 0  θ = 0°        mean", "row 1  θ = 0.25·θ95", "row 2  θ = θ95"]);
    expect(rowLabel({ kind: "geodesic", fractions: [0.5], tail: 0.9 }, [], 0)).toEqual({ main: "θ = 0.5·θ90", detail: null });
  });

  it("labels interpolate rows by λ with the row's average likelihood quantile, λ = 0 as the mean", () => {
    const plan = { kind: "interpolate", lambdas: [0, 0.5, 1.5] } as const;
    const grid = cells(3, (row, col) => [0, 0.4 + col * 0.04, 0.95][row]);
    expect(rowLabels(plan, grid)).toEqual(["row 0  λ = 0    mean", "row 1  λ = 0.5  q ≈ 0.42", "row 2  λ = 1.5  q ≈ 0.95"]);
    expect(rowLabel(plan, [], 1)).toEqual({ main: "λ = 0.5", detail: null });
  });

  it("labels shell rows by their exact quantile alone: a shell plan has no mean row", () => {
    const plan = { kind: "shell", quantiles: [0.01, 0.25, 0.99] } as const;
    expect(rowLabels(plan, cells(3, (row) => plan.quantiles[row]))).toEqual(["row 0  q = 0.01", "row 1  q = 0.25", "row 2  q = 0.99"]);
  });

  it("labels runs stored without decoder fields as before, and a geodesic row without q_dec by its angle alone", () => {
    expect(rowLabels({ kind: "interpolate", lambdas: [0, 1] }, cells(2, (row) => row * 0.6))).toEqual(["row 0  λ = 0  mean", "row 1  λ = 1  q ≈ 0.60"]);
    const partial = cells(2, () => 0.2, (row, col) => (col === 0 ? { angleTarget: row * 20, decoderQuantile: 0.5 } : { angleTarget: row * 20 }));
    expect(rowLabel({ kind: "geodesic", fractions: [0, 1], tail: 0.95 }, partial, 1)).toEqual({ main: "θ = 20.0°", detail: null });
  });

  it("keeps labels short enough for the grid PNG's label column", () => {
    const plan = { kind: "geodesic", fractions: [0, 0.25, 0.5, 0.75, 1], tail: 0.95 } as const;
    const grid = cells(5, () => 0.5, (row) => ({ angleTarget: row * 33.3333, decoderQuantile: row / 4.2 }));
    for (const label of rowLabels(plan, grid)) expect([...label].length).toBeLessThanOrEqual(31);
  });
});

describe("rowLabelChars", () => {
  const plans = [
    { kind: "geodesic", fractions: [0, 0.25, 0.5, 0.75, 1], tail: 0.95 },
    { kind: "geodesic", fractions: [0, 1], tail: 0.5 },
    { kind: "interpolate", lambdas: [0, 0.125, 1.5, 10] },
    { kind: "shell", quantiles: [0.01, 0.333, 0.99] },
  ] as const;

  it("covers every label a row can show, before and after its cells, so the label column never changes width", () => {
    for (const plan of plans) {
      const chars = rowLabelChars(plan);
      const rows = plan.kind === "geodesic" ? plan.fractions.length : plan.kind === "interpolate" ? plan.lambdas.length : plan.quantiles.length;
      for (const value of [0, 0.005, 0.333, 0.999, 1]) {
        const grid = cells(rows, () => value, (row) => ({ angleTarget: 179.96 * value, decoderQuantile: value }));
        for (let row = 0; row < rows; row++) {
          for (const label of [rowLabel(plan, [], row), rowLabel(plan, grid, row)]) {
            expect([...label.main].length).toBeLessThanOrEqual(chars);
            expect([...(label.detail ?? "")].length).toBeLessThanOrEqual(chars);
          }
        }
      }
    }
  });

  it("is the widest of those labels, not a padded guess", () => {
    expect(rowLabelChars({ kind: "geodesic", fractions: [0, 0.25, 1], tail: 0.95 })).toBe([..."θ = 0.25·θ95"].length);
    expect(rowLabelChars({ kind: "interpolate", lambdas: [0, 0.5] })).toBe([..."q ≈ 1.00"].length);
    expect(rowLabelChars({ kind: "shell", quantiles: [0.5, 0.125] })).toBe([..."q = 0.125"].length);
  });
});

describe("cellMetrics", () => {
  it("keeps decoder-side fields when present and adds none when absent", () => {
    const old = { ...adapter, row: 0, col: 1 };
    expect(Object.keys(cellMetrics(old)).sort()).toEqual(["T", "col", "cosineToMean", "l2FromMean", "lambda", "nll", "q", "quantileTarget", "row"]);
    const measured = { ...old, lambda: 0.7, decoderAngle: 12.5, decoderDistance: 0.3, decoderQuantile: 0.4, angleTarget: 12.5 };
    expect(cellMetrics(measured)).toEqual(measured);
    expect(cellMetrics({ ...measured, angleTarget: null }).angleTarget).toBeNull();
  });
});

describe("gridTitle", () => {
  const parts = { inputLabel: '"a dog"', uncertainty: 0.0039521, percentile: 36.4, presetName: "shapes", settings: { seed: 0, steps: 10, scheduler: "ddim" as const, guidanceScale: 5 } };

  it("says after the uncertainty when the input is outside the preset", () => {
    expect(gridTitle(parts)).toBe('"a dog" · uncertainty 0.003952 (p36) · shapes · seed 0 · 10 steps ddim · guidance 5');
    expect(gridTitle({ ...parts, outOfDistribution: true })).toBe('"a dog" · uncertainty 0.003952 (p36) · outside the preset · shapes · seed 0 · 10 steps ddim · guidance 5');
  });
});

describe("colLabels", () => {
  it("names one column per sample, counted from 1 as the page and the file names count them", () => {
    expect(colLabels(2)).toEqual(["sample 1", "sample 2"]);
    expect(cellFileName(0, 1)).toBe("row0-sample2.png");
  });

  it("pads row names when the grid has ten rows or more, so labels stay lined up", () => {
    const plan = { kind: "interpolate", lambdas: Array.from({ length: 11 }, (_, i) => i / 10) } as const;
    const labels = rowLabels(plan, []);
    expect(labels[0]).toBe("row 0   λ = 0    mean");
    expect(labels[10]).toBe("row 10  λ = 1");
  });
});

import { describe, expect, it } from "vitest";
import {
  DEFAULT_LAMBDAS,
  DEFAULT_SHELL_QUANTILES,
  type DeviationCell,
  type DeviationGrid,
  type DeviationPlan,
  deviationPresets,
  planGrid,
  validatePlan,
} from "./deviation";
import { EngineError } from "./errors";
import { type GgdDistribution, inverseRegularizedGammaP, likelihoodRadius, radiusShape, sampleGgd } from "./ggd";
import { Rng } from "./random";

/** A float32 distribution like an adapter's: μ ~ N(0, 0.05²), α ~ U[0.01, 0.2], β ~ U[0.3, 3]. */
function makeDistribution(dim: number, seed: number): GgdDistribution {
  const rng = new Rng(seed);
  const dist = { mu: new Float32Array(dim), alpha: new Float32Array(dim), beta: new Float32Array(dim) };
  for (let j = 0; j < dim; j++) {
    dist.mu[j] = 0.05 * rng.normal();
    dist.alpha[j] = 0.01 + 0.19 * rng.uniform();
    dist.beta[j] = 0.3 + 2.7 * rng.uniform();
  }
  return dist;
}

function cellAt(grid: DeviationGrid, row: number, col: number): DeviationCell {
  return grid.cells[row * grid.cols + col];
}

function offsetFromMean(cell: DeviationCell, dist: GgdDistribution): Float64Array {
  return Float64Array.from(cell.embedding, (x, j) => x - dist.mu[j]);
}

function cosine(a: Float64Array, b: Float64Array): number {
  let dot = 0;
  let aa = 0;
  let bb = 0;
  for (let j = 0; j < a.length; j++) {
    dot += a[j] * b[j];
    aa += a[j] * a[j];
    bb += b[j] * b[j];
  }
  return dot / Math.sqrt(aa * bb);
}

const dist = makeDistribution(64, 1);

describe("planGrid, interpolate", () => {
  const plan: DeviationPlan = { kind: "interpolate", lambdas: DEFAULT_LAMBDAS, cols: 6 };
  const grid = planGrid(dist, plan, new Rng(2));

  it("lays out rows × cols cells in row-major order with their positions", () => {
    expect(grid.rows).toBe(5);
    expect(grid.cols).toBe(6);
    expect(grid.cells).toHaveLength(30);
    expect(grid.radiusShape).toBeCloseTo(radiusShape(dist.beta), 10);
    grid.cells.forEach((cell, index) => {
      expect(cell.row).toBe(Math.floor(index / 6));
      expect(cell.col).toBe(index % 6);
      expect(cell.lambda).toBe(DEFAULT_LAMBDAS[cell.row]);
      expect(cell.quantileTarget).toBeNull();
      expect(cell.embedding).toHaveLength(64);
    });
  });

  it("puts the mean exactly on the λ = 0 row", () => {
    for (let col = 0; col < grid.cols; col++) {
      const cell = cellAt(grid, 0, col);
      expect(cell.embedding).toEqual(dist.mu);
      expect(cell.T).toBe(0);
      expect(cell.q).toBe(0);
      expect(cell.l2FromMean).toBe(0);
      expect(cell.cosineToMean).toBeCloseTo(1, 12);
    }
  });

  it("keeps each column on one ray from the mean, moving outward with λ", () => {
    for (let col = 0; col < grid.cols; col++) {
      const unit = cellAt(grid, 2, col);
      const unitOffset = offsetFromMean(unit, dist);
      for (let row = 1; row < grid.rows; row++) {
        const cell = cellAt(grid, row, col);
        expect(cosine(offsetFromMean(cell, dist), unitOffset)).toBeGreaterThan(1 - 1e-6);
        expect(cell.l2FromMean).toBeCloseTo(DEFAULT_LAMBDAS[row] * unit.l2FromMean, 12);
        expect(cell.T).toBeGreaterThan(cellAt(grid, row - 1, col).T);
        expect(cell.nll - cell.T).toBeCloseTo(cellAt(grid, 0, col).nll, 8);
      }
    }
  });

  it("makes λ = 1 cells typical samples: q mostly between 0.001 and 0.999", () => {
    const wide = planGrid(dist, { kind: "interpolate", lambdas: [1], cols: 200 }, new Rng(3));
    const typical = wide.cells.filter((cell) => cell.q > 0.001 && cell.q < 0.999).length;
    expect(typical / wide.cells.length).toBeGreaterThan(0.97);
    // q of a true GGD draw is uniform: its mean is ½ (standard error 0.02 for 200 cells).
    const meanQ = wide.cells.reduce((sum, cell) => sum + cell.q, 0) / wide.cells.length;
    expect(Math.abs(meanQ - 0.5)).toBeLessThan(0.1);
  });

  it("records l2 and cosine that agree with the stored embedding", () => {
    const cell = cellAt(grid, 4, 3);
    const offset = offsetFromMean(cell, dist);
    const l2 = Math.sqrt(offset.reduce((sum, v) => sum + v * v, 0));
    expect(Math.abs(cell.l2FromMean - l2)).toBeLessThan(1e-6 * l2);
    const cos = cosine(Float64Array.from(cell.embedding), Float64Array.from(dist.mu));
    expect(Math.abs(cell.cosineToMean - cos)).toBeLessThan(1e-6);
  });

  it("keeps rows in the order given", () => {
    const reordered = planGrid(dist, { kind: "interpolate", lambdas: [2, 0, 1], cols: 1 }, new Rng(2));
    expect(reordered.cells.map((cell) => cell.lambda)).toEqual([2, 0, 1]);
  });
});

describe("planGrid, shell", () => {
  it("lands every cell on its target quantile (to 1e-9, well inside the required 1e-6), for D = 64 and D = 768", () => {
    for (const d of [dist, makeDistribution(768, 4)]) {
      const grid = planGrid(d, { kind: "shell", quantiles: DEFAULT_SHELL_QUANTILES, cols: 3 }, new Rng(5));
      const k = radiusShape(d.beta);
      for (const cell of grid.cells) {
        expect(cell.lambda).toBeNull();
        expect(cell.quantileTarget).toBe(DEFAULT_SHELL_QUANTILES[cell.row]);
        expect(Math.abs(cell.q - DEFAULT_SHELL_QUANTILES[cell.row])).toBeLessThan(1e-9);
        const radius = inverseRegularizedGammaP(k, DEFAULT_SHELL_QUANTILES[cell.row]);
        expect(Math.abs(cell.T - radius)).toBeLessThan(1e-9 * radius);
      }
    }
  });

  it("uses one direction per column: every row of a column deviates with the same signs", () => {
    const grid = planGrid(dist, { kind: "shell", quantiles: DEFAULT_SHELL_QUANTILES, cols: 4 }, new Rng(6));
    for (let col = 0; col < grid.cols; col++) {
      const signs = (row: number) => Array.from(offsetFromMean(cellAt(grid, row, col), dist), Math.sign);
      for (let row = 1; row < grid.rows; row++) {
        const agreeing = signs(row).filter((s, j) => s === signs(0)[j] || s === 0 || signs(0)[j] === 0).length;
        expect(agreeing).toBe(64);
        expect(cellAt(grid, row, col).l2FromMean).toBeGreaterThan(cellAt(grid, row - 1, col).l2FromMean);
      }
    }
    expect(cellAt(grid, 2, 0).embedding).not.toEqual(cellAt(grid, 2, 1).embedding);
  });
});

describe("planGrid, randomness", () => {
  const plans: DeviationPlan[] = [
    { kind: "interpolate", lambdas: DEFAULT_LAMBDAS, cols: 3 },
    { kind: "shell", quantiles: DEFAULT_SHELL_QUANTILES, cols: 3 },
  ];

  it("is deterministic for a seed and changes with it", () => {
    for (const plan of plans) {
      expect(planGrid(dist, plan, new Rng(7))).toEqual(planGrid(dist, plan, new Rng(7)));
      expect(cellAt(planGrid(dist, plan, new Rng(8)), 1, 0).embedding).not.toEqual(
        cellAt(planGrid(dist, plan, new Rng(7)), 1, 0).embedding,
      );
    }
  });

  it("draws column s from rng.fork(s) alone", () => {
    const grid = planGrid(dist, { kind: "interpolate", lambdas: [1], cols: 3 }, new Rng(9));
    for (let col = 0; col < 3; col++) {
      const base = sampleGgd(dist, new Rng(9).fork(col));
      const radius = likelihoodRadius(base, dist);
      expect(Math.abs(cellAt(grid, 0, col).T - radius)).toBeLessThan(1e-12 * radius);
    }
  });

  it("gives a column the same samples whatever the number of columns", () => {
    for (const plan of plans) {
      const narrow = planGrid(dist, { ...plan, cols: 2 }, new Rng(9));
      const wide = planGrid(dist, { ...plan, cols: 5 }, new Rng(9));
      for (let row = 0; row < narrow.rows; row++) {
        for (let col = 0; col < 2; col++) expect(cellAt(wide, row, col)).toEqual(cellAt(narrow, row, col));
      }
    }
  });
});

describe("plan validation", () => {
  it("accepts the presets and defaults", () => {
    expect(DEFAULT_LAMBDAS).toEqual([0, 0.5, 1, 1.5, 2]);
    for (const plan of [deviationPresets.coarse, deviationPresets.fine]) {
      expect(() => validatePlan(plan)).not.toThrow();
      expect(plan.lambdas[0]).toBe(0);
    }
    expect(() => validatePlan({ kind: "shell", quantiles: DEFAULT_SHELL_QUANTILES, cols: 1 })).not.toThrow();
  });

  it("rejects bad plans with invalid_input and a message naming the problem", () => {
    const bad: Array<[unknown, RegExp]> = [
      [null, /object/],
      [{ kind: "spiral", lambdas: [0], cols: 1 }, /kind/],
      [{ kind: "interpolate", lambdas: [], cols: 1 }, /lambdas/],
      [{ kind: "interpolate", lambdas: [0, -0.5], cols: 1 }, /lambdas\[1\]/],
      [{ kind: "interpolate", lambdas: [Number.NaN], cols: 1 }, /lambdas\[0\]/],
      [{ kind: "interpolate", lambdas: [Number.POSITIVE_INFINITY], cols: 1 }, /lambdas\[0\]/],
      [{ kind: "interpolate", lambdas: ["1"], cols: 1 }, /lambdas\[0\]/],
      // λ = 1e308 overflowed to null metrics and a black cell; the plan's own check holds the request's range.
      [{ kind: "interpolate", lambdas: [0, 1e308], cols: 1 }, /lambdas\[1\] is 1e\+308; each must be a number from 0 to 10/],
      [{ kind: "geodesic", fractions: [2.5], tail: 0.95, cols: 1 }, /fractions\[0\] is 2.5; each must be a number from 0 to 2/],
      [{ kind: "interpolate", lambdas: [0, 1], cols: 0 }, /cols/],
      [{ kind: "interpolate", lambdas: [0, 1], cols: 1.5 }, /cols/],
      [{ kind: "shell", quantiles: [0, 0.5], cols: 1 }, /quantiles\[0\]/],
      [{ kind: "shell", quantiles: [0.5, 1], cols: 1 }, /quantiles\[1\]/],
      [{ kind: "shell", quantiles: [1.2], cols: 1 }, /quantiles\[0\]/],
      [{ kind: "shell", cols: 1 }, /quantiles/],
    ];
    for (const [plan, message] of bad) {
      let thrown: unknown;
      try {
        planGrid(dist, plan as DeviationPlan, new Rng(1));
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(EngineError);
      expect((thrown as EngineError).code).toBe("invalid_input");
      expect((thrown as EngineError).message).toMatch(message);
    }
  });

  it("rejects an invalid distribution with invalid_input", () => {
    const broken = { ...dist, alpha: new Float32Array(64) };
    expect(() => planGrid(broken, deviationPresets.coarse, new Rng(1))).toThrow(
      expect.objectContaining({ code: "invalid_input" }),
    );
  });
});

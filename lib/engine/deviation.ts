import { EngineError } from "./errors";
import {
  drawShellDirection,
  type GgdParams,
  inverseRegularizedGammaP,
  likelihoodRadius,
  negativeLogLikelihood,
  placeOnShell,
  radiusShape,
  regularizedGammaP,
  sampleGgd,
  validateGgdParams,
} from "./ggd";
import type { Rng } from "./random";

/*
 * Deviation plans: which embeddings a grid decodes, one row per deviation
 * level (in the order given; callers list them from the mean outward) and
 * one column per base sample (SCIENCE.md, "Sampling and distance from the mean").
 */

/** Rows at x(λ) = μ + λ (x_s − μ): λ = 0 is the mean, 1 a typical sample, > 1 extrapolates. */
export interface InterpolatePlan {
  readonly kind: "interpolate";
  readonly lambdas: readonly number[];
  readonly cols: number;
}

/** Rows on exact likelihood shells T = P⁻¹(k, q), one per quantile q. */
export interface ShellPlan {
  readonly kind: "shell";
  readonly quantiles: readonly number[];
  readonly cols: number;
}

export type DeviationPlan = InterpolatePlan | ShellPlan;

export const DEFAULT_LAMBDAS: readonly number[] = Object.freeze([0, 0.5, 1, 1.5, 2]);
export const FINE_LAMBDAS: readonly number[] = Object.freeze([0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2]);
export const DEFAULT_SHELL_QUANTILES: readonly number[] = Object.freeze([0.01, 0.25, 0.5, 0.75, 0.99]);

export const deviationPresets: Readonly<Record<"coarse" | "fine", InterpolatePlan>> = Object.freeze({
  coarse: Object.freeze({ kind: "interpolate", lambdas: DEFAULT_LAMBDAS, cols: 4 }),
  fine: Object.freeze({ kind: "interpolate", lambdas: FINE_LAMBDAS, cols: 4 }),
});

export interface DeviationCell {
  readonly row: number;
  readonly col: number;
  /** λ of an interpolate row, null on a shell row. */
  readonly lambda: number | null;
  /** The target quantile of a shell row, null on an interpolate row. */
  readonly quantileTarget: number | null;
  /** Likelihood radius Σ (|x−μ|/α)^β. */
  readonly T: number;
  /** Likelihood quantile P(k, T). */
  readonly q: number;
  readonly nll: number;
  /** cos(x, μ); NaN if x or μ is the zero vector. */
  readonly cosineToMean: number;
  /** ‖x − μ‖₂. */
  readonly l2FromMean: number;
  /**
   * The point to decode, rounded to float32. The metrics above describe the
   * float64 point before rounding, so a shell cell's q is exact.
   */
  readonly embedding: Float32Array;
}

export interface DeviationGrid {
  readonly rows: number;
  readonly cols: number;
  /** k = Σ 1/β: T of a plain sample is Gamma(k, 1). */
  readonly radiusShape: number;
  /** Row-major: cell (row r, col s) is cells[r · cols + s]. */
  readonly cells: readonly DeviationCell[];
}

function invalidPlan(message: string): EngineError {
  return new EngineError("invalid_input", `invalid deviation plan: ${message}`);
}

function validateLevels(levels: unknown, name: string, isAllowed: (v: number) => boolean, allowed: string): void {
  if (!Array.isArray(levels) || levels.length === 0) {
    throw invalidPlan(`${name} must be a non-empty list of ${allowed}`);
  }
  levels.forEach((value: unknown, index) => {
    if (typeof value !== "number" || !isAllowed(value)) {
      throw invalidPlan(`${name}[${index}] is ${String(value)}; each must be ${allowed}`);
    }
  });
}

/** Throws EngineError("invalid_input") saying what is wrong unless `plan` is a usable DeviationPlan. */
export function validatePlan(plan: unknown): asserts plan is DeviationPlan {
  if (typeof plan !== "object" || plan === null) throw invalidPlan("expected an object with a kind");
  const { kind, cols } = plan as { kind?: unknown; cols?: unknown };
  if (typeof cols !== "number" || !Number.isSafeInteger(cols) || cols < 1) {
    throw invalidPlan(`cols is ${String(cols)}; it must be an integer ≥ 1`);
  }
  if (kind === "interpolate") {
    validateLevels((plan as InterpolatePlan).lambdas, "lambdas", (v) => Number.isFinite(v) && v >= 0, "finite numbers ≥ 0");
  } else if (kind === "shell") {
    validateLevels((plan as ShellPlan).quantiles, "quantiles", (v) => v > 0 && v < 1, "numbers strictly between 0 and 1");
  } else {
    throw invalidPlan(`kind is ${String(kind)}; it must be "interpolate" or "shell"`);
  }
}

function measureCell(
  point: Float64Array,
  dist: GgdParams,
  k: number,
  position: Pick<DeviationCell, "row" | "col" | "lambda" | "quantileTarget">,
): DeviationCell {
  let dot = 0;
  let pointNormSquared = 0;
  let meanNormSquared = 0;
  let offsetNormSquared = 0;
  for (let j = 0; j < point.length; j++) {
    const mu = dist.mu[j];
    dot += point[j] * mu;
    pointNormSquared += point[j] * point[j];
    meanNormSquared += mu * mu;
    offsetNormSquared += (point[j] - mu) ** 2;
  }
  const T = likelihoodRadius(point, dist);
  return {
    ...position,
    T,
    q: regularizedGammaP(k, T),
    nll: negativeLogLikelihood(point, dist),
    cosineToMean: dot / Math.sqrt(pointNormSquared * meanNormSquared),
    l2FromMean: Math.sqrt(offsetNormSquared),
    embedding: Float32Array.from(point),
  };
}

/**
 * Plans a grid of embeddings over the distribution `dist`.
 *
 * Randomness: column s draws only from `rng.fork(s)`, so a column's samples
 * do not depend on how many columns the grid has. Give this function a
 * generator of its own (e.g. `root.fork(n)`), not one whose streams also
 * feed the diffusion noise.
 *
 * interpolate: column s draws one GGD sample x_s; its cells lie on the ray
 * μ + λ (x_s − μ), so a column shows one sample pulled toward or pushed
 * past the mean.
 * shell: column s draws one Dirichlet/sign direction and places it on
 * every row's shell T = P⁻¹(k, q). Rows then differ only in radius, which
 * makes a column comparable across quantiles; each cell on its own is an
 * exact draw conditioned on its shell.
 */
export function planGrid(dist: GgdParams, plan: DeviationPlan, rng: Rng): DeviationGrid {
  validatePlan(plan);
  const dim = validateGgdParams(dist);
  const k = radiusShape(dist.beta);
  const rows = plan.kind === "interpolate" ? plan.lambdas.length : plan.quantiles.length;
  const cells = new Array<DeviationCell>(rows * plan.cols);
  const shellRadii = plan.kind === "shell" ? plan.quantiles.map((quantile) => inverseRegularizedGammaP(k, quantile)) : [];

  for (let col = 0; col < plan.cols; col++) {
    const columnRng = rng.fork(col);
    if (plan.kind === "interpolate") {
      const base = sampleGgd(dist, columnRng);
      plan.lambdas.forEach((lambda, row) => {
        const point = new Float64Array(dim);
        for (let j = 0; j < dim; j++) point[j] = dist.mu[j] + lambda * (base[j] - dist.mu[j]);
        cells[row * plan.cols + col] = measureCell(point, dist, k, { row, col, lambda, quantileTarget: null });
      });
    } else {
      const direction = drawShellDirection(dist.beta, columnRng);
      plan.quantiles.forEach((quantile, row) => {
        const point = placeOnShell(dist, direction, shellRadii[row]);
        cells[row * plan.cols + col] = measureCell(point, dist, k, { row, col, lambda: null, quantileTarget: quantile });
      });
    }
  }
  return { rows, cols: plan.cols, radiusShape: k, cells };
}

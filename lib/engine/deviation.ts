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
import { lambdaAtAngle, preDecoder } from "./geometry";
import { PLAN_KINDS, planLevels, type PlanUnion } from "./plan-kinds";
import type { Rng } from "./random";
import { describeRange, FRACTION_RANGE, inRange, LAMBDA_RANGE, type NumberRange, QUANTILE_RANGE } from "./request-ranges";

/*
 * Deviation plans: which embeddings a grid decodes, one row per deviation
 * level (in the order given; callers list them from the mean outward) and
 * one column per base sample (docs/science.md, sections 3 and 4).
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

/**
 * Rows at equal steps of angle in the decoder's space (geometry.ts): row r's cells turn
 * fractions[r] · θ_tail away from the mean's decoder point, where θ_tail is the `tail` quantile of
 * plain samples' decoder angles; each cell lies on its column's ray μ + λ (x_s − μ) at the λ that
 * reaches that angle. Fraction 0 is the mean, 1 the tail.
 */
export interface GeodesicPlan {
  readonly kind: "geodesic";
  readonly fractions: readonly number[];
  readonly tail: number;
  readonly cols: number;
}

export type DeviationPlan = PlanUnion<InterpolatePlan | ShellPlan | GeodesicPlan>;


export const DEFAULT_LAMBDAS: readonly number[] = Object.freeze([0, 0.5, 1, 1.5, 2]);
export const FINE_LAMBDAS: readonly number[] = Object.freeze([0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2]);
export const DEFAULT_SHELL_QUANTILES: readonly number[] = Object.freeze([0.01, 0.25, 0.5, 0.75, 0.99]);
export const DEFAULT_FRACTIONS: readonly number[] = Object.freeze([0, 0.25, 0.5, 0.75, 1]);
/** The geodesic plan's last row by default: as far as 95% of plain samples lie from the mean. */
export const DEFAULT_TAIL = 0.95;

export const deviationPresets: Readonly<Record<"coarse" | "fine", InterpolatePlan>> = Object.freeze({
  coarse: Object.freeze({ kind: "interpolate", lambdas: DEFAULT_LAMBDAS, cols: 4 }),
  fine: Object.freeze({ kind: "interpolate", lambdas: FINE_LAMBDAS, cols: 4 }),
});

export interface DeviationCell {
  readonly row: number;
  readonly col: number;
  /** λ along the column's ray μ + λ (x_s − μ) (interpolate and geodesic rows), null on a shell row. */
  readonly lambda: number | null;
  /** The decoder angle (degrees) a geodesic row aims at, null on other rows. */
  readonly angleTarget: number | null;
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

/** "geodesic", "interpolate" or "shell": the kinds as validatePlan's message lists them. */
const KINDS_TEXT = `${PLAN_KINDS.slice(0, -1)
  .map((kind) => JSON.stringify(kind))
  .join(", ")} or ${JSON.stringify(PLAN_KINDS[PLAN_KINDS.length - 1])}`;

function invalidPlan(message: string): EngineError {
  return new EngineError("invalid_input", `invalid deviation plan: ${message}`);
}

function validateLevels(levels: unknown, name: string, range: NumberRange): void {
  if (!Array.isArray(levels) || levels.length === 0) {
    throw invalidPlan(`${name} must be a non-empty list of ${describeRange(range, true)}`);
  }
  levels.forEach((value: unknown, index) => {
    if (typeof value !== "number" || !inRange(range, value)) {
      throw invalidPlan(`${name}[${index}] is ${String(value)}; each must be ${describeRange(range)}`);
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
    validateLevels((plan as InterpolatePlan).lambdas, "lambdas", LAMBDA_RANGE);
  } else if (kind === "shell") {
    validateLevels((plan as ShellPlan).quantiles, "quantiles", QUANTILE_RANGE);
  } else if (kind === "geodesic") {
    validateLevels((plan as GeodesicPlan).fractions, "fractions", FRACTION_RANGE);
    const { tail } = plan as GeodesicPlan;
    if (typeof tail !== "number" || !inRange(QUANTILE_RANGE, tail)) throw invalidPlan(`tail is ${String(tail)}; it must be ${describeRange(QUANTILE_RANGE)}`);
  } else {
    throw invalidPlan(`kind is ${String(kind)}; it must be ${KINDS_TEXT}`);
  }
}

function measureCell(
  point: Float64Array,
  dist: GgdParams,
  k: number,
  position: Pick<DeviationCell, "row" | "col" | "lambda" | "quantileTarget" | "angleTarget">,
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
 * geodesic: the interpolate plan's rays (the same base sample per column),
 * each cell at the λ that turns its decoder point the row's angle away from
 * the mean's; `decoder` gives the decoder's shift and θ_tail (radians).
 */
export function planGrid(dist: GgdParams, plan: DeviationPlan, rng: Rng, decoder?: { readonly shift: ArrayLike<number>; readonly tailAngle: number }): DeviationGrid {
  validatePlan(plan);
  const dim = validateGgdParams(dist);
  const k = radiusShape(dist.beta);
  const rows = planLevels(plan).length;
  if (plan.kind === "geodesic" && !decoder) throw invalidPlan("a geodesic plan needs the decoder's geometry");
  const cells = new Array<DeviationCell>(rows * plan.cols);
  const shellRadii = plan.kind === "shell" ? plan.quantiles.map((quantile) => inverseRegularizedGammaP(k, quantile)) : [];

  // pre(μ): where every geodesic column's ray starts in the decoder's space.
  const anchor = plan.kind === "geodesic" && decoder ? preDecoder(dist.mu, decoder.shift) : null;
  for (let col = 0; col < plan.cols; col++) {
    const columnRng = rng.fork(col);
    const alongRay = (base: Float64Array, lambda: number) => {
      const point = new Float64Array(dim);
      for (let j = 0; j < dim; j++) point[j] = dist.mu[j] + lambda * (base[j] - dist.mu[j]);
      return point;
    };
    if (plan.kind === "interpolate") {
      const base = sampleGgd(dist, columnRng);
      plan.lambdas.forEach((lambda, row) => {
        cells[row * plan.cols + col] = measureCell(alongRay(base, lambda), dist, k, { row, col, lambda, quantileTarget: null, angleTarget: null });
      });
    } else if (plan.kind === "geodesic" && decoder && anchor) {
      const base = sampleGgd(dist, columnRng);
      const offset = Float64Array.from(base, (v, j) => v - dist.mu[j]);
      plan.fractions.forEach((fraction, row) => {
        const angle = fraction * decoder.tailAngle;
        const { lambda } = lambdaAtAngle(anchor, offset, angle);
        const angleTarget = (angle * 180) / Math.PI;
        cells[row * plan.cols + col] = measureCell(alongRay(base, lambda), dist, k, { row, col, lambda, quantileTarget: null, angleTarget });
      });
    } else if (plan.kind === "shell") {
      const direction = drawShellDirection(dist.beta, columnRng);
      plan.quantiles.forEach((quantile, row) => {
        const point = placeOnShell(dist, direction, shellRadii[row]);
        cells[row * plan.cols + col] = measureCell(point, dist, k, { row, col, lambda: null, quantileTarget: quantile, angleTarget: null });
      });
    }
  }
  return { rows, cols: plan.cols, radiusShape: k, cells };
}

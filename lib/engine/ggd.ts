import { EngineError } from "./errors";
import type { Rng } from "./random";

/*
 * The generalized Gaussian distribution (GGD) of a ProbVLM adapter and the
 * special functions it needs; formulas from docs/science.md, sections 1 to 3.
 *
 * Per dimension j: p(x) = β / (2 α Γ(1/β)) · exp(−(|x − μ|/α)^β).
 * Special functions return NaN outside their domain, like Math.*; functions
 * that take a distribution throw EngineError("invalid_input").
 */

export type NumericVector = Float32Array | Float64Array | readonly number[];

/** A diagonal GGD: per-dimension location μ, scale α > 0 and shape β > 0. */
export interface GgdParams {
  readonly mu: NumericVector;
  readonly alpha: NumericVector;
  readonly beta: NumericVector;
}

/** A GGD as the engine stores it: float32, like the model outputs it came from. */
export interface GgdDistribution extends GgdParams {
  readonly mu: Float32Array;
  readonly alpha: Float32Array;
  readonly beta: Float32Array;
}

/** How raw adapter heads become α and β (preset.json, field `adapter`). */
export interface AdapterHeadConfig {
  readonly alphaEps: number;
  readonly betaEps: number;
  readonly alphaClamp: readonly [number, number];
  readonly betaClamp: readonly [number, number];
}

// ───────────────────────── log-gamma ─────────────────────────

const HALF_LOG_TWO_PI = 0.5 * Math.log(2 * Math.PI);
// Below this, lgamma shifts x upward with Γ(x) = Γ(x + n) / (x (x+1) … (x+n−1)).
const STIRLING_MIN = 10;

// B_2n / (2n (2n−1)) for n = 1..8: the Stirling series coefficients of 1/x^(2n−1).
const STIRLING_COEFFICIENTS = [1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156, -3617 / 122400];

/**
 * ln Γ(x) − [(x − ½) ln x − x + ½ ln 2π] by the Stirling series. For x ≥ 10
 * the first omitted term (n = 9) is below 2e-18, so the error is rounding alone.
 */
function stirlingCorrection(x: number): number {
  const inverseSquare = 1 / (x * x);
  let sum = 0;
  for (let n = STIRLING_COEFFICIENTS.length - 1; n >= 0; n--) sum = sum * inverseSquare + STIRLING_COEFFICIENTS[n];
  return sum / x;
}

/** ln Γ(x) for x > 0: about 1e-15 relative error, or 3e-15 absolute near its zeros at 1 and 2. */
export function lgamma(x: number): number {
  if (!(x > 0)) return Number.NaN;
  if (x === Number.POSITIVE_INFINITY) return x;
  let shifted = x;
  let product = 1;
  while (shifted < STIRLING_MIN) {
    product *= shifted;
    shifted += 1;
  }
  return (shifted - 0.5) * Math.log(shifted) - shifted + HALF_LOG_TWO_PI + stirlingCorrection(shifted) - Math.log(product);
}

/** Γ(x) for x > 0 (Infinity past x ≈ 171.6). */
export function gamma(x: number): number {
  return Math.exp(lgamma(x));
}

// ───────────────────── regularized incomplete gamma ─────────────────────

const MAX_ITERATIONS = 1_000_000;
const TINY = 1e-300;

/** ln(1 + t) − t for t > −1, without the cancellation of the direct form near 0. */
function log1pMinusT(t: number): number {
  if (Math.abs(t) > 0.25) return Math.log1p(t) - t;
  // Σ_{n≥2} (−1)^(n+1) t^n / n
  let power = t;
  let sum = 0;
  for (let n = 2; ; n++) {
    power *= -t;
    const term = power / n;
    sum += term;
    if (Math.abs(term) <= 1e-17 * Math.abs(sum)) return sum;
  }
}

/**
 * ln(x^a e^(−x) / Γ(a + 1)). For large a the direct form subtracts numbers
 * of size ~a·ln a; expanding Γ(a+1) by Stirling around x = a keeps only
 * a·(ln(1+t) − t), t = (x − a)/a, which has no such cancellation.
 */
function logPowerExpOverGamma(a: number, x: number): number {
  if (a < STIRLING_MIN) return a * Math.log(x) - x - lgamma(a + 1);
  return a * log1pMinusT((x - a) / a) - 0.5 * Math.log(2 * Math.PI * a) - stirlingCorrection(a);
}

/** P(a, x) by its power series; converges fast for x < a + 1. */
function lowerSeries(a: number, x: number): number {
  let term = 1;
  let sum = 1;
  for (let n = 1; n < MAX_ITERATIONS; n++) {
    term *= x / (a + n);
    sum += term;
    if (term <= sum * Number.EPSILON) return Math.exp(logPowerExpOverGamma(a, x) + Math.log(sum));
  }
  throw new Error(`incomplete gamma series did not converge for a=${a}, x=${x}`);
}

/** Q(a, x) by its continued fraction (modified Lentz); converges fast for x ≥ a + 1. */
function upperContinuedFraction(a: number, x: number): number {
  let b = x + 1 - a;
  let c = 1 / TINY;
  let d = 1 / b;
  let fraction = d;
  for (let i = 1; i < MAX_ITERATIONS; i++) {
    const numerator = -i * (i - a);
    b += 2;
    d = numerator * d + b;
    if (Math.abs(d) < TINY) d = TINY;
    c = b + numerator / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const delta = d * c;
    fraction *= delta;
    if (Math.abs(delta - 1) <= Number.EPSILON) {
      // x^a e^(−x) / Γ(a) = a · x^a e^(−x) / Γ(a+1)
      return Math.exp(logPowerExpOverGamma(a, x) + Math.log(a) + Math.log(fraction));
    }
  }
  throw new Error(`incomplete gamma continued fraction did not converge for a=${a}, x=${x}`);
}

/** Regularized lower incomplete gamma P(a, x) = γ(a, x)/Γ(a), a > 0, x ≥ 0: the CDF of Gamma(a, 1). */
export function regularizedGammaP(a: number, x: number): number {
  if (!(a > 0) || !(x >= 0) || a === Number.POSITIVE_INFINITY) return Number.NaN;
  if (x === 0) return 0;
  if (x === Number.POSITIVE_INFINITY) return 1;
  return x < a + 1 ? lowerSeries(a, x) : 1 - upperContinuedFraction(a, x);
}

/** Regularized upper incomplete gamma Q(a, x) = 1 − P(a, x), computed directly so small tails keep their digits. */
export function regularizedGammaQ(a: number, x: number): number {
  if (!(a > 0) || !(x >= 0) || a === Number.POSITIVE_INFINITY) return Number.NaN;
  if (x === 0) return 1;
  if (x === Number.POSITIVE_INFINITY) return 0;
  return x < a + 1 ? 1 - lowerSeries(a, x) : upperContinuedFraction(a, x);
}

/**
 * Standard normal quantile, Abramowitz & Stegun 26.2.23 (|error| < 4.5e-4):
 * only a starting point for the Halley iteration below.
 */
function roughNormalQuantile(p: number): number {
  const tail = Math.min(p, 1 - p);
  const t = Math.sqrt(-2 * Math.log(tail));
  const z = t - (2.515517 + t * (0.802853 + t * 0.010328)) / (1 + t * (1.432788 + t * (0.189269 + t * 0.001308)));
  return p < 0.5 ? -z : z;
}

function initialGammaQuantile(a: number, q: number): number {
  // Wilson–Hilferty: (X/a)^(1/3) is nearly normal; good for a ≥ 1 away from the far lower tail.
  if (a >= 1) {
    const cube = 1 - 1 / (9 * a) + roughNormalQuantile(q) / (3 * Math.sqrt(a));
    if (cube > 0) return a * cube ** 3;
  }
  // Far lower tail, or a < 1 with the root below 1: P(a, x) ≈ x^a / Γ(a+1).
  if (a >= 1 || q <= regularizedGammaP(a, 1)) return Math.exp((Math.log(q) + lgamma(a + 1)) / a);
  // Root above 1: Q(a, x) ≈ x^(a−1) e^(−x) / Γ(a); two fixed-point steps from x = 1.
  const logTail = -Math.log(1 - q) - lgamma(a);
  const first = Math.max(1, logTail);
  return Math.max(1, logTail + (a - 1) * Math.log(first));
}

/**
 * Inverse of P in x: the q-quantile of Gamma(a, 1), for any a > 0 (tested
 * from 0.1 to 1e5) and q in [0, 1]. Halley's method on ln x, kept inside a
 * bracket that every evaluation narrows; for q > ½ it solves Q(a, x) = 1 − q
 * so upper quantiles keep their precision.
 */
export function inverseRegularizedGammaP(a: number, q: number): number {
  if (!(a > 0) || !(q >= 0 && q <= 1) || a === Number.POSITIVE_INFINITY) return Number.NaN;
  if (q === 0) return 0;
  if (q === 1) return Number.POSITIVE_INFINITY;
  const useUpper = q > 0.5;
  const target = useUpper ? 1 - q : q;
  const logA = Math.log(a);
  let y = Math.log(initialGammaQuantile(a, q));
  let below = Number.NEGATIVE_INFINITY;
  let above = Number.POSITIVE_INFINITY;
  for (let iteration = 0; iteration < 200; iteration++) {
    const x = Math.exp(y);
    // Increasing in y in both cases.
    const residual = useUpper ? target - regularizedGammaQ(a, x) : regularizedGammaP(a, x) - target;
    if (residual === 0) return x;
    if (residual < 0) below = y;
    else above = y;
    // d/dy P(a, e^y) = x^a e^(−x) / Γ(a); its relative derivative is a − x.
    const slope = Math.exp(logPowerExpOverGamma(a, x) + logA);
    const newtonStep = residual / slope;
    const halleyDenominator = 1 - 0.5 * newtonStep * (a - x);
    const step = halleyDenominator > 0.5 ? newtonStep / halleyDenominator : newtonStep;
    let next = y - step;
    // Halley converges cubically, so once a step is this small the point is as exact as P allows.
    if (Math.abs(step) <= 1e-13 * Math.max(1, Math.abs(y))) return Math.exp(next);
    if (!(next > below && next < above)) {
      if (Number.isFinite(below) && Number.isFinite(above)) next = 0.5 * (below + above);
      else next = Number.isFinite(above) ? above - 1 : below + 1;
    }
    y = next;
  }
  return Math.exp(y);
}

// ───────────────────────── Gamma(k, 1) sampling ─────────────────────────

function requireShape(shape: number): void {
  if (!(shape > 0) || !Number.isFinite(shape)) {
    throw new EngineError("invalid_input", `Gamma shape must be a finite number > 0, got ${shape}`);
  }
}

/** ln G for G ~ Gamma(shape ≥ 1, 1), Marsaglia–Tsang (2000): one normal and one uniform per try. */
function sampleLogGammaShapeAtLeastOne(shape: number, rng: Rng): number {
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const z = rng.normal();
    const base = 1 + c * z;
    if (base <= 0) continue;
    const logV = 3 * Math.log(base);
    const v = base * base * base;
    if (Math.log(rng.uniform()) < 0.5 * z * z + d - d * v + d * logV) return Math.log(d) + logV;
  }
}

/**
 * ln G for G ~ Gamma(shape, 1). For shape < 1, Gamma(k) = Gamma(k+1)·U^(1/k)
 * is done in logs: U^(1/k) underflows to 0 for small k, and callers raise G
 * to 1/β (up to 10), so they want ln G anyway.
 */
export function sampleLogGamma(shape: number, rng: Rng): number {
  requireShape(shape);
  if (shape >= 1) return sampleLogGammaShapeAtLeastOne(shape, rng);
  const logBoosted = sampleLogGammaShapeAtLeastOne(shape + 1, rng);
  return logBoosted + Math.log(rng.uniform()) / shape;
}

/** G ~ Gamma(shape, 1). */
export function sampleGamma(shape: number, rng: Rng): number {
  return Math.exp(sampleLogGamma(shape, rng));
}

// ───────────────────────── the distribution ─────────────────────────

/** Checks that μ, α, β have one common length D ≥ 1, finite values, α > 0, β > 0; returns D. */
export function validateGgdParams(params: GgdParams): number {
  const dim = params.mu.length;
  if (dim < 1) throw new EngineError("invalid_input", "the distribution has no dimensions; μ, α and β need length ≥ 1");
  if (params.alpha.length !== dim || params.beta.length !== dim) {
    throw new EngineError(
      "invalid_input",
      `μ, α and β must have the same length, got ${dim}, ${params.alpha.length} and ${params.beta.length}`,
    );
  }
  for (let j = 0; j < dim; j++) {
    const mu = params.mu[j];
    const alpha = params.alpha[j];
    const beta = params.beta[j];
    if (!Number.isFinite(mu) || !(alpha > 0 && alpha < Infinity) || !(beta > 0 && beta < Infinity)) {
      throw new EngineError(
        "invalid_input",
        `dimension ${j} has μ=${mu}, α=${alpha}, β=${beta}; μ must be finite and α, β finite and > 0`,
      );
    }
  }
  return dim;
}

function commonLength(...vectors: NumericVector[]): number {
  const dim = vectors[0].length;
  for (const v of vectors) {
    if (v.length !== dim) {
      throw new EngineError("invalid_input", `vectors must all have length ${dim}, got one of length ${v.length}`);
    }
  }
  return dim;
}

/**
 * Turns the adapter's raw heads into a distribution (docs/science.md, section 1):
 * α = clamp(1/(one_over_alpha + alphaEps)), β = clamp(beta + betaEps).
 * The eps keep ReLU zeros finite; the clamps keep sampling and Γ(1/β) sane.
 */
export function headsToParams(
  mu: NumericVector,
  oneOverAlpha: NumericVector,
  beta: NumericVector,
  config: AdapterHeadConfig,
): GgdDistribution {
  const dim = mu.length;
  if (oneOverAlpha.length !== dim || beta.length !== dim) {
    throw new EngineError(
      "model_error",
      `adapter heads disagree on the dimension: mu ${dim}, one_over_alpha ${oneOverAlpha.length}, beta ${beta.length}`,
    );
  }
  const clamp = (value: number, [lo, hi]: readonly [number, number]) => Math.min(hi, Math.max(lo, value));
  const out: GgdDistribution = {
    mu: new Float32Array(dim),
    alpha: new Float32Array(dim),
    beta: new Float32Array(dim),
  };
  for (let j = 0; j < dim; j++) {
    if (!Number.isFinite(mu[j]) || !Number.isFinite(oneOverAlpha[j]) || !Number.isFinite(beta[j])) {
      throw new EngineError(
        "model_error",
        `adapter output at dimension ${j} is not finite (mu=${mu[j]}, one_over_alpha=${oneOverAlpha[j]}, beta=${beta[j]})`,
      );
    }
    out.mu[j] = mu[j];
    out.alpha[j] = clamp(1 / (oneOverAlpha[j] + config.alphaEps), config.alphaClamp);
    out.beta[j] = clamp(beta[j] + config.betaEps, config.betaClamp);
  }
  return out;
}

/** ln of the aleatoric variance per dimension: 2 ln α + ln Γ(3/β) − ln Γ(1/β), finite for every α, β > 0. */
export function logAleatoricVariance(params: Pick<GgdParams, "alpha" | "beta">): Float64Array {
  const dim = commonLength(params.alpha, params.beta);
  const logVariance = new Float64Array(dim);
  for (let j = 0; j < dim; j++) {
    const inverseBeta = 1 / params.beta[j];
    logVariance[j] = 2 * Math.log(params.alpha[j]) + lgamma(3 * inverseBeta) - lgamma(inverseBeta);
  }
  return logVariance;
}

/** Aleatoric variance per dimension: α² Γ(3/β) / Γ(1/β) (the ratio in logs, since Γ(3/β) overflows first). */
export function aleatoricVariance(params: Pick<GgdParams, "alpha" | "beta">): Float64Array {
  return logAleatoricVariance(params).map(Math.exp);
}

/** The uncertainty scalar of an input: mean aleatoric variance over dimensions (ProbVLM's choice). */
export function aleatoricUncertainty(params: Pick<GgdParams, "alpha" | "beta">): number {
  const variance = aleatoricVariance(params);
  return variance.reduce((sum, v) => sum + v, 0) / variance.length;
}

/**
 * Percentile (0–100) of `value` among reference values summarised by
 * `quantiles`: sorted, evenly spaced in probability (quantiles[i] at
 * 100·i/(n−1) %). Linear between neighbours, clamped to [0, 100]; a value
 * equal to a run of tied quantiles gets the middle of the run.
 */
export function percentileOf(value: number, quantiles: readonly number[]): number {
  const n = quantiles.length;
  if (n < 2) throw new EngineError("invalid_input", `need at least 2 reference quantiles, got ${n}`);
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(quantiles[i]) || (i > 0 && quantiles[i] < quantiles[i - 1])) {
      throw new EngineError("invalid_input", `reference quantiles must be finite and sorted ascending (index ${i})`);
    }
  }
  if (Number.isNaN(value)) throw new EngineError("invalid_input", "cannot rank NaN against reference quantiles");
  if (value < quantiles[0]) return 0;
  if (value > quantiles[n - 1]) return 100;
  let firstAtLeast = 0;
  while (quantiles[firstAtLeast] < value) firstAtLeast++;
  if (quantiles[firstAtLeast] === value) {
    let lastEqual = firstAtLeast;
    while (lastEqual + 1 < n && quantiles[lastEqual + 1] === value) lastEqual++;
    return (100 * (firstAtLeast + lastEqual)) / 2 / (n - 1);
  }
  const lower = firstAtLeast - 1;
  const fraction = (value - quantiles[lower]) / (quantiles[firstAtLeast] - quantiles[lower]);
  return (100 * (lower + fraction)) / (n - 1);
}

/** k = Σ 1/β_j: the likelihood radius T of a GGD sample is exactly Gamma(k, 1). */
export function radiusShape(beta: NumericVector): number {
  let k = 0;
  for (let j = 0; j < beta.length; j++) k += 1 / beta[j];
  return k;
}

/** Likelihood radius T(x) = Σ_j (|x_j − μ_j| / α_j)^β_j. */
export function likelihoodRadius(x: NumericVector, params: GgdParams): number {
  const dim = commonLength(x, params.mu, params.alpha, params.beta);
  let radius = 0;
  for (let j = 0; j < dim; j++) radius += (Math.abs(x[j] - params.mu[j]) / params.alpha[j]) ** params.beta[j];
  return radius;
}

/** NLL(x) = T(x) + Σ_j [ln(2 α_j) + ln Γ(1/β_j) − ln β_j]: −ln of the density at x. */
export function negativeLogLikelihood(x: NumericVector, params: GgdParams): number {
  let normalizer = 0;
  for (let j = 0; j < params.beta.length; j++) {
    normalizer += Math.log(2 * params.alpha[j]) + lgamma(1 / params.beta[j]) - Math.log(params.beta[j]);
  }
  return likelihoodRadius(x, params) + normalizer;
}

/**
 * One GGD draw. Per dimension, in this order: G ~ Gamma(1/β, 1), then the
 * sign s = ±1 (uniform < ½ → −1); x = μ + α · s · G^(1/β).
 */
export function sampleGgd(params: GgdParams, rng: Rng): Float64Array {
  const dim = commonLength(params.mu, params.alpha, params.beta);
  const x = new Float64Array(dim);
  for (let j = 0; j < dim; j++) {
    const inverseBeta = 1 / params.beta[j];
    const logG = sampleLogGamma(inverseBeta, rng);
    const sign = rng.uniform() < 0.5 ? -1 : 1;
    x[j] = params.mu[j] + params.alpha[j] * sign * Math.exp(logG * inverseBeta);
  }
  return x;
}

/** A direction on the GGD's shells: Dirichlet(1/β_1, …, 1/β_D) weights (as logs) and signs. */
export interface ShellDirection {
  /** ln D_j; Σ_j D_j = 1. */
  readonly logWeights: Float64Array;
  /** s_j = ±1. */
  readonly signs: Int8Array;
}

/**
 * Draws a shell direction. Per dimension, in this order: ln G_j with
 * G_j ~ Gamma(1/β_j, 1), then s_j; D = G / ΣG is normalised in logs
 * because G_j^… underflows for small 1/β_j.
 */
export function drawShellDirection(beta: NumericVector, rng: Rng): ShellDirection {
  const dim = beta.length;
  const logWeights = new Float64Array(dim);
  const signs = new Int8Array(dim);
  let largest = Number.NEGATIVE_INFINITY;
  for (let j = 0; j < dim; j++) {
    logWeights[j] = sampleLogGamma(1 / beta[j], rng);
    signs[j] = rng.uniform() < 0.5 ? -1 : 1;
    largest = Math.max(largest, logWeights[j]);
  }
  let scaledSum = 0;
  for (let j = 0; j < dim; j++) scaledSum += Math.exp(logWeights[j] - largest);
  const logTotal = largest + Math.log(scaledSum);
  for (let j = 0; j < dim; j++) logWeights[j] -= logTotal;
  return { logWeights, signs };
}

/** The point x_j = μ_j + α_j s_j (t · D_j)^(1/β_j), which has T(x) = t exactly. */
export function placeOnShell(params: GgdParams, direction: ShellDirection, radius: number): Float64Array {
  const dim = commonLength(params.mu, params.alpha, params.beta, direction.logWeights);
  const logRadius = Math.log(radius);
  const x = new Float64Array(dim);
  for (let j = 0; j < dim; j++) {
    const magnitude = Math.exp((logRadius + direction.logWeights[j]) / params.beta[j]);
    x[j] = params.mu[j] + params.alpha[j] * direction.signs[j] * magnitude;
  }
  return x;
}

/** An exact sample on the shell of likelihood quantile q: T(x) = P⁻¹(k, q). */
export function sampleShell(params: GgdParams, quantile: number, rng: Rng): Float64Array {
  const radius = inverseRegularizedGammaP(radiusShape(params.beta), quantile);
  return placeOnShell(params, drawShellDirection(params.beta, rng), radius);
}

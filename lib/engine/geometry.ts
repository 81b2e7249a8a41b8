/**
 * The decoder's geometry (docs/science.md, "Deviation where the decoder reads it").
 *
 * The decoder reads an embedding y(x) = pre(x) / ‖pre(x)‖ · r, where pre(x) = x + shift is affine
 * (a caption's gap-shift bridge adds imageMean − textMean; images add nothing) and r is the image
 * norm the decoder was trained at; presets whose adapter works at raw scale hand pre(x) over as is.
 * Either way what the decoder sees of a cell is chiefly its direction, so deviation is measured
 * as the angle θ between y(x) and y(μ), the decoder point of the distribution's mean.
 *
 * Along a column's ray x(λ) = μ + λ d (d = x_s − μ), pre(x(λ)) = a + λ d with a = pre(μ). In the
 * plane of a and d, with d₁ = d·â and d₂ = ‖d − d₁ â‖, the angle is φ(λ) = atan2(λ d₂, ‖a‖ + λ d₁):
 * it grows monotonically from 0 toward φ_max = atan2(d₂, d₁), and the λ that reaches a target
 * angle θ < φ_max is λ = ‖a‖ sin θ / (d₂ cos θ − d₁ sin θ).
 */
import type { Rng } from "./random";
import { type GgdParams, sampleGgd } from "./ggd";

/** Samples whose decoder angles give each grid its reference: the tail angle, each cell's decoder quantile. */
export const REFERENCE_SAMPLES = 256;
/** A target angle beyond a column's reach is placed at this λ (the ray's direction is then within a hair of φ_max). */
export const LAMBDA_CAP = 1000;
const REACH_MARGIN = 1e-6;

function dot(u: ArrayLike<number>, v: ArrayLike<number>): number {
  let sum = 0;
  for (let j = 0; j < u.length; j++) sum += u[j] * v[j];
  return sum;
}

/**
 * The angle between u and v in radians, in [0, π]: 2·atan2(‖û − v̂‖, ‖û + v̂‖), which stays exact for
 * tiny and near-opposite angles where acos of the cosine rounds to 0 or π.
 */
export function angleBetween(u: ArrayLike<number>, v: ArrayLike<number>): number {
  const uLength = Math.sqrt(dot(u, u));
  const vLength = Math.sqrt(dot(v, v));
  let difference = 0;
  let sum = 0;
  for (let j = 0; j < u.length; j++) {
    const a = u[j] / uLength;
    const b = v[j] / vLength;
    difference += (a - b) ** 2;
    sum += (a + b) ** 2;
  }
  return 2 * Math.atan2(Math.sqrt(difference), Math.sqrt(sum));
}

/** pre(x) = x + shift, in float64. */
export function preDecoder(x: ArrayLike<number>, shift: ArrayLike<number>): Float64Array {
  return Float64Array.from(x, (v, j) => v + shift[j]);
}

/** d's components along a = pre(μ) and across it. */
function rayFrame(anchor: ArrayLike<number>, offset: ArrayLike<number>): { anchorNorm: number; along: number; across: number } {
  const anchorNorm = Math.sqrt(dot(anchor, anchor));
  const along = dot(offset, anchor) / anchorNorm;
  const across = Math.sqrt(Math.max(0, dot(offset, offset) - along * along));
  return { anchorNorm, along, across };
}

export interface RayPlacement {
  readonly lambda: number;
  /** False when the target angle lies beyond the column's reach φ_max: the cell sits at LAMBDA_CAP instead. */
  readonly reached: boolean;
}

/** The λ at which the ray a + λ d turns `angle` radians away from a. */
export function lambdaAtAngle(anchor: ArrayLike<number>, offset: ArrayLike<number>, angle: number): RayPlacement {
  if (angle <= 0) return { lambda: 0, reached: true };
  const { anchorNorm, along, across } = rayFrame(anchor, offset);
  const reach = Math.atan2(across, along);
  if (!(anchorNorm > 0) || angle >= reach - REACH_MARGIN) return { lambda: LAMBDA_CAP, reached: false };
  const lambda = (anchorNorm * Math.sin(angle)) / (across * Math.cos(angle) - along * Math.sin(angle));
  return lambda <= LAMBDA_CAP ? { lambda, reached: true } : { lambda: LAMBDA_CAP, reached: false };
}

/** Decoder angles (radians) of `count` plain samples of `dist`, sorted ascending: the reference each grid is measured against. */
export function referenceAngles(dist: GgdParams, shift: ArrayLike<number>, rng: Rng, count = REFERENCE_SAMPLES): Float64Array {
  const anchor = preDecoder(dist.mu, shift);
  const angles = new Float64Array(count);
  for (let i = 0; i < count; i++) angles[i] = angleBetween(preDecoder(sampleGgd(dist, rng), shift), anchor);
  return angles.sort();
}

/** The q-quantile of sorted values, linear between order statistics (numpy's default). */
export function quantileOfSorted(sorted: Float64Array, q: number): number {
  const position = q * (sorted.length - 1);
  const lower = Math.floor(position);
  const upper = Math.min(lower + 1, sorted.length - 1);
  return sorted[lower] + (position - lower) * (sorted[upper] - sorted[lower]);
}

/** The share of sorted reference values strictly below `value`. */
export function shareBelow(sorted: Float64Array, value: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (sorted[mid] < value) low = mid + 1;
    else high = mid;
  }
  return low / sorted.length;
}

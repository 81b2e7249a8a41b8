/**
 * The allowed range of every number in a run request, in one place: the engine's request schema
 * and plan checks, the CLI's flags, the compose form and docs/web-api.md all take theirs from here.
 * Dependency-free, so the CLI's flag parsing and client components can import it (through names.ts).
 *
 * Each bound says what the number means to the models; a number past it was accepted before and
 * came back as black cells or null metrics (guidanceScale 1e308, lambdas [1e308]).
 */

export interface NumberRange {
  readonly min: number;
  readonly max: number;
  /** Only whole numbers. */
  readonly integer?: boolean;
  /** The ends themselves are excluded: a quantile of 0 or 1 is no shell at all. */
  readonly open?: boolean;
}

/**
 * Classifier-free guidance g in ε = ε_u + g (ε_c − ε_u): 0 is the unconditional decoder, 1 no
 * guidance; Stable unCLIP decodes at 10 by default and is used up to about 20. Past that the
 * guided step overshoots: on the shapes preset (10 steps) a grid's columns fade from g = 30 on
 * toward one dark image, reached by g = 100, and at 1e308 the latents overflow to black cells.
 */
export const GUIDANCE_SCALE_RANGE: NumberRange = { min: 0, max: 20 };

/**
 * λ on a column's ray μ + λ (x_s − μ): 0 the mean, 1 a plain sample, 2 the default plan's last row.
 * By λ = 4 every plain sample lies nearer the mean both by likelihood (q = 1) and by decoder angle
 * (q_dec = 1), and by λ = 10 the decoder's angle is within about 6° of its limit, the angle of the
 * column's offset (68.8° of 74.7° for "a red circle" on the shapes preset), so further out only
 * repeats the last picture; λ = 1e308 overflowed.
 */
export const LAMBDA_RANGE: NumberRange = { min: 0, max: 10 };

/** Geodesic fractions of the tail angle: above 2 they ask for angles no column reaches. */
export const FRACTION_RANGE: NumberRange = { min: 0, max: 2 };

/** Shell quantiles and the geodesic tail: shares of plain samples, so strictly inside (0, 1). */
export const QUANTILE_RANGE: NumberRange = { min: 0, max: 1, open: true };

/** Seeds are read as unsigned 64-bit keys (random.ts), but a JSON number is exact only up to 2^53 − 1. */
export const SEED_RANGE: NumberRange = { min: 0, max: Number.MAX_SAFE_INTEGER, integer: true };

/** The preset's numbers that bound a request: its `limits` and its noise schedule's length. */
export interface PresetBounds {
  readonly maxRows: number;
  readonly maxCols: number;
  readonly maxSteps: number;
  /** Noise augmentation's training timesteps; levels run from 0 to one less. */
  readonly noiseTimesteps: number;
}

/** The ranges a preset sets: rows (and levels per plan), columns, diffusion steps and noise levels. */
export function presetRanges({ maxRows, maxCols, maxSteps, noiseTimesteps }: PresetBounds) {
  return {
    rows: { min: 1, max: maxRows, integer: true },
    cols: { min: 1, max: maxCols, integer: true },
    steps: { min: 1, max: maxSteps, integer: true },
    noiseLevel: { min: 0, max: noiseTimesteps - 1, integer: true },
  } as const satisfies Record<string, NumberRange>;
}

export function inRange(range: NumberRange, value: number): boolean {
  if (!Number.isFinite(value) || (range.integer && !Number.isInteger(value))) return false;
  return range.open ? value > range.min && value < range.max : value >= range.min && value <= range.max;
}

/** The range in words, as messages and help texts say it: "an integer from 1 to 9", "a number strictly between 0 and 1". */
export function describeRange(range: NumberRange, plural = false): string {
  const kind = range.integer ? (plural ? "integers" : "an integer") : plural ? "numbers" : "a number";
  return range.open ? `${kind} strictly between ${range.min} and ${range.max}` : `${kind} from ${range.min} to ${range.max}`;
}

/**
 * Small pure helpers for `npm run bench` and `npm run bench:host`: the grid both time, their flag parsing, the order
 * of the paired runs, summary statistics and a plain-text table.
 */

/** The grid both benchmarks decode. The reference script (models/training/bench_reference.py) hard-codes the same levels. */
export const BENCH_CAPTION = "a red shape";
export const BENCH_LAMBDAS: readonly number[] = [0, 0.5, 1, 1.5, 2];

/** A command-line flag's value as a positive integer, or an error that names the flag and what it got. */
export function positiveInt(name: string, raw: string): number {
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer, got "${raw}"`);
  return value;
}

export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

function sorted(values: readonly number[]): number[] {
  if (values.length === 0) throw new RangeError("no values to summarize");
  return [...values].sort((a, b) => a - b);
}

/** The p-th percentile (0–100), linearly interpolated between closest ranks. */
export function percentile(values: readonly number[], p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be within [0, 100], got ${p}`);
  const xs = sorted(values);
  const rank = (p / 100) * (xs.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return xs[lo] + (xs[hi] - xs[lo]) * (rank - lo);
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

export function summarize(values: readonly number[]): Summary {
  const xs = sorted(values);
  return { median: median(xs), min: xs[0], max: xs[xs.length - 1] };
}

/** A summary with the quartiles: q1–q3 is the interquartile range, the middle half of the values. */
export interface Spread extends Summary {
  readonly q1: number;
  readonly q3: number;
}

export function spread(values: readonly number[]): Spread {
  return { ...summarize(values), q1: percentile(values, 25), q3: percentile(values, 75) };
}

export type Side = "engine" | "reference";

/**
 * The order of pair `index`: engine first in even pairs, reference first in odd ones. A load that rises or falls
 * over the benchmark then favours neither side, as it would if every engine grid ran before every reference grid.
 */
export function pairOrder(index: number): readonly [Side, Side] {
  return index % 2 === 0 ? ["engine", "reference"] : ["reference", "engine"];
}

export interface Pair<E, R> {
  readonly order: readonly [Side, Side];
  readonly engine: E;
  readonly reference: R;
}

/** Runs `count` pairs, one side after the other in pairOrder's order, never two at once. */
export async function inPairs<E, R>(count: number, engine: () => Promise<E>, reference: () => Promise<R>): Promise<Pair<E, R>[]> {
  const pairs: Pair<E, R>[] = [];
  for (let index = 0; index < count; index++) {
    const order = pairOrder(index);
    let e: E | undefined;
    let r: R | undefined;
    for (const side of order) {
      if (side === "engine") e = await engine();
      else r = await reference();
    }
    pairs.push({ order, engine: e as E, reference: r as R });
  }
  return pairs;
}

/** Each pair's engine figure over its reference figure (for throughputs: how many times faster the engine was). */
export function pairRatios(pairs: readonly { readonly engine: number; readonly reference: number }[]): number[] {
  return pairs.map(({ engine, reference }) => engine / reference);
}

/** Gaps between consecutive timestamps. */
export function deltas(timestamps: readonly number[]): number[] {
  return timestamps.slice(1).map((t, i) => t - timestamps[i]);
}

/** A fixed number of decimals, or "–" for a missing figure. */
export function fixed(value: number | undefined, digits: number): string {
  return value === undefined || !Number.isFinite(value) ? "–" : value.toFixed(digits);
}

/** Left-aligned first column, right-aligned figures, columns padded to their widest cell. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows];
  if (all.some((row) => row.length !== header.length)) throw new RangeError("every row needs as many cells as the header");
  const widths = header.map((_, c) => Math.max(...all.map((row) => row[c].length)));
  const line = (row: readonly string[]) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

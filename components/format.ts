/*
 * Pure formatting for the pages: numbers, labels, plans and progress. Everything here is
 * deterministic (no locale, no clock) so the server and the browser render the same text.
 */
import type { Cell, Plan, ProgressEvent, RunProgress, RunStatus } from "./api";

/** Fixed decimals; non-finite values as words; never "-0.00". */
export function fixed(value: number, digits: number): string {
  if (!Number.isFinite(value)) return Number.isNaN(value) ? "NaN" : value > 0 ? "∞" : "−∞";
  const text = value.toFixed(digits);
  if (/^-0\.?0*$/.test(text)) return text.slice(1);
  // A true minus sign lines up with digits in tabular figures.
  return text.replace(/^-/, "−");
}

/** `digits` significant digits, plain notation for 1e-4 … 1e6, exponent outside that. */
export function significant(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return fixed(value, 0);
  if (value === 0) return "0";
  const magnitude = Math.floor(Math.log10(Math.abs(value)));
  if (magnitude < -4 || magnitude >= 6) return value.toExponential(digits - 1).replace(/-/g, "−").replace("e+", "e");
  return fixed(value, Math.max(0, digits - 1 - magnitude));
}

/** A plan level as typed by people: 0.5, 1, 0.25 (no float noise such as 0.30000000000000004). */
export function level(value: number): string {
  return String(Number(value.toFixed(4)));
}

export type Density = "coarse" | "fine";
export type PlanKind = Plan["kind"];

/** λ from 0 to 2; the fine plan adds the quarter steps so coarse rows stay comparable. */
const LAMBDAS: Record<Density, number[]> = {
  coarse: [0, 0.5, 1, 1.5, 2],
  fine: [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2],
};

/** Likelihood quantiles 0.05 … 0.95; the fine set contains every coarse level for the same reason. */
const QUANTILES: Record<Density, number[]> = {
  coarse: [0.05, 0.25, 0.5, 0.75, 0.95],
  fine: [0.05, 0.15, 0.25, 0.35, 0.5, 0.65, 0.75, 0.85, 0.95],
};

export function planFor(kind: PlanKind, density: Density): Plan {
  return kind === "interpolate" ? { kind, lambdas: [...LAMBDAS[density]] } : { kind, quantiles: [...QUANTILES[density]] };
}

export const planLevels = (plan: Plan): number[] => (plan.kind === "interpolate" ? plan.lambdas : plan.quantiles);

/** Which of the two offered densities a plan is, or null for a custom plan (made by the CLI or API). */
export function planDensity(plan: Plan): Density | null {
  const levels = planLevels(plan);
  const table = plan.kind === "interpolate" ? LAMBDAS : QUANTILES;
  for (const density of ["coarse", "fine"] as const) {
    if (table[density].length === levels.length && table[density].every((value, i) => Math.abs(value - levels[i]) < 1e-9)) return density;
  }
  return null;
}

/** A one-line description of a plan: "interpolate · λ 0 … 2 · 5 rows". */
export function planSummary(plan: Plan): string {
  const levels = planLevels(plan);
  const symbol = plan.kind === "interpolate" ? "λ" : "q";
  const range = levels.length > 1 ? `${level(levels[0])} … ${level(levels[levels.length - 1])}` : level(levels[0] ?? 0);
  return `${plan.kind} · ${symbol} ${range} · ${levels.length} ${levels.length === 1 ? "row" : "rows"}`;
}

export interface RowLabel {
  /** The row's deviation level: "λ = 1" or "q = 0.25". */
  main: string;
  /** For λ rows, the mean likelihood quantile its samples reached ("q ≈ 0.61"), once the run is described. */
  detail: string | null;
}

/**
 * An interpolate row carries its λ and the mean q of its cells (each column's sample has its own q);
 * a shell row sits on one quantile, so its label is just that.
 */
export function rowLabel(plan: Plan, cells: readonly Pick<Cell, "row" | "q">[], row: number): RowLabel {
  if (plan.kind === "shell") return { main: `q = ${level(plan.quantiles[row])}`, detail: null };
  const qs = cells.filter((cell) => cell.row === row).map((cell) => cell.q);
  const detail = qs.length ? `q ≈ ${fixed(qs.reduce((a, b) => a + b, 0) / qs.length, 2)}` : null;
  return { main: `λ = ${level(plan.lambdas[row])}`, detail };
}

export const rowLabelText = (label: RowLabel) => (label.detail ? `${label.main} · ${label.detail}` : label.main);

/** Each column is one noise draw, the same in every row. */
export const colLabel = (col: number) => `sample ${col + 1}`;

/** A cell's numbers as label/value pairs, in the order a reader compares them. */
export function cellMetrics(cell: Cell): { label: string; value: string; hint: string }[] {
  const target =
    cell.lambda !== null
      ? { label: "λ", value: level(cell.lambda), hint: "interpolation from the mean toward this sample" }
      : { label: "q target", value: level(cell.quantileTarget ?? Number.NaN), hint: "the shell's likelihood quantile" };
  return [
    target,
    { label: "T", value: significant(cell.T, 4), hint: "the sample's radius statistic" },
    { label: "q", value: fixed(cell.q, 3), hint: "likelihood quantile reached" },
    { label: "NLL", value: significant(cell.nll, 4), hint: "negative log-likelihood under the distribution" },
    { label: "cos to mean", value: fixed(cell.cosineToMean, 4), hint: "cosine similarity to the mean embedding" },
    { label: "‖x − μ‖", value: significant(cell.l2FromMean, 4), hint: "distance from the mean embedding" },
  ];
}

/** "more uncertain than 72% of reference captions". */
export function percentileText(percentile: number, modality: "text" | "image"): string {
  return `more uncertain than ${Math.round(percentile)}% of reference ${modality === "text" ? "captions" : "images"}`;
}

/** "3.2 s", "420 ms", "2 min 05 s". */
export function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
  const whole = Math.round(seconds);
  return `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, "0")} s`;
}

/** The run-level progress line under the bar. */
export function etaText(status: RunStatus, etaSeconds: number | null, totalMs: number | null = null): string {
  switch (status) {
    case "queued":
      return "Waiting in the queue";
    case "running":
      if (etaSeconds === null) return "Estimating time left…";
      return etaSeconds < 1 ? "Almost done" : `About ${duration(etaSeconds * 1000)} left`;
    case "done":
      return totalMs === null ? "Done" : `Done in ${duration(totalMs)}`;
    case "failed":
      return "Failed";
    case "cancelled":
      return "Cancelled";
  }
}

/** 0–100: UNet evaluations when known (smooth), else finished cells; a finished run is full. */
export function progressPercent(status: RunStatus, progress: RunProgress): number {
  if (status === "done") return 100;
  const fraction = progress.evaluations > 0 ? progress.evaluation / progress.evaluations : progress.cellsTotal > 0 ? progress.cellsDone / progress.cellsTotal : 0;
  return Math.round(Math.min(1, Math.max(0, fraction)) * 100);
}

/**
 * How far the current UNet batch has denoised, 0–1. Every batch runs the same number of evaluations,
 * so the overall evaluation count places us inside the batch; `batch` is the 0-based batch index.
 */
export function batchFraction(progress: Pick<ProgressEvent, "evaluation" | "evaluations" | "batch" | "batches">): number {
  if (progress.batches <= 0 || progress.evaluations <= 0) return 0;
  const perBatch = progress.evaluations / progress.batches;
  return Math.min(1, Math.max(0, (progress.evaluation - progress.batch * perBatch) / perBatch));
}

/** Minimum, median and maximum, for the chart's readout and its accessible summary. */
export function spread(values: readonly number[]): { min: number; median: number; max: number } {
  if (values.length === 0) return { min: Number.NaN, median: Number.NaN, max: Number.NaN };
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { min: sorted[0], median, max: sorted[sorted.length - 1] };
}

/** A round axis maximum ≥ value: 1, 2, 2.5 or 5 times a power of ten. */
export function niceCeil(value: number): number {
  if (!(value > 0) || !Number.isFinite(value)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  const step = [1, 2, 2.5, 5, 10].find((m) => m * power >= value * (1 - 1e-12)) ?? 10;
  return step * power;
}

/** Evenly spread dimension indexes for the chart's x ticks, always including 0 and D − 1. */
export function dimensionTicks(dim: number, count = 5): number[] {
  if (dim <= 1) return [0];
  const ticks = Array.from({ length: count }, (_, i) => Math.round((i * (dim - 1)) / (count - 1)));
  return [...new Set(ticks)];
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** "28 Nov 2025, 11:17 UTC" — fixed to UTC so server and browser agree. */
export function dateTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]} ${date.getUTCFullYear()}, ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())} UTC`;
}

/** A run's input in a few words, for titles and alt text. */
export function inputTitle(input: { kind: "caption"; text: string } | { kind: "image" }): string {
  return input.kind === "caption" ? `“${input.text}”` : "an uploaded image";
}

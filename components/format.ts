/*
 * Pure formatting for the pages: numbers, labels, plans and progress. Everything here is
 * deterministic (no locale, no clock) so the server and the browser render the same text.
 */
import { PLAN_KINDS, type PlanKind, planLevels, type PlanUnion } from "@/lib/engine/names";
import { cellFileName, rowLabel as sharedRowLabel, rowLabelChars, rowName, sampleName, tailName, type RowLabel } from "@/lib/record";
import type { Cell, Plan, ProgressEvent, RequestPlan, RunProgress, RunStatus } from "./api";

export { cellFileName, rowLabelChars, rowName, tailName };
/** The plan kinds the form offers, default first (one definition, in lib/engine/plan-kinds.ts, through lib/engine/names.ts). */
export { PLAN_KINDS, type PlanKind, planLevels };

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

/** Rows a density gives; geodesic fractions are i/(rows − 1), as the engine spaces them for `rows`. */
const ROWS: Record<Density, number> = { coarse: 5, fine: 9 };

/** The engine's default tail: the last geodesic row is as far as 95% of plain samples lie. */
export const DEFAULT_TAIL = 0.95;

const evenFractions = (rows: number) => (rows === 1 ? [0] : Array.from({ length: rows }, (_, i) => i / (rows - 1)));

/** The return type also checks that the API's Plan names exactly the PLAN_KINDS. */
export function planFor(kind: PlanKind, density: Density): PlanUnion<Plan> {
  if (kind === "geodesic") return { kind, fractions: evenFractions(ROWS[density]), tail: DEFAULT_TAIL };
  return kind === "interpolate" ? { kind, lambdas: [...LAMBDAS[density]] } : { kind, quantiles: [...QUANTILES[density]] };
}


const sameLevels = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((value, i) => Math.abs(value - b[i]) < 1e-9);

/** Which of the two offered densities a plan is, or null for a custom plan (made by the CLI or API). */
export function planDensity(plan: Plan): Density | null {
  if (plan.kind === "geodesic" && Math.abs(plan.tail - DEFAULT_TAIL) > 1e-9) return null;
  for (const density of ["coarse", "fine"] as const) {
    if (sameLevels(planLevels(planFor(plan.kind, density)), planLevels(plan))) return density;
  }
  return null;
}

/**
 * The plan as the form sends it: a geodesic plan with evenly spaced fractions and the default
 * tail by its row count (the engine fills both in), any other plan as it is.
 */
export function requestPlan(plan: Plan): RequestPlan {
  if (plan.kind !== "geodesic") return plan;
  const rows = plan.fractions.length;
  return Math.abs(plan.tail - DEFAULT_TAIL) < 1e-9 && sameLevels(plan.fractions, evenFractions(rows)) ? { kind: "geodesic", rows } : plan;
}

/** One honest line on what each plan's rows are. */
export const PLAN_DESCRIPTIONS: Record<PlanKind, string> = {
  geodesic: "Rows at equal steps of angle in the decoder's space, from the mean out to the 95% tail of the samples.",
  interpolate: "Rows at equal steps λ along the line from the mean (λ = 0) through each column's own sample (λ = 1) and past it.",
  shell: "Rows on shells of equal likelihood, q being the share of plain samples that lie closer; there is no mean row.",
};

/** A plan's rows as short chips: "mean", "0.25·θ95"; "λ 0.5"; "q 0.25". */
export function planChips(plan: Plan): string[] {
  if (plan.kind === "geodesic") return plan.fractions.map((f) => (f === 0 ? "mean" : f === 1 ? tailName(plan.tail) : `${level(f)}·${tailName(plan.tail)}`));
  return plan.kind === "interpolate" ? plan.lambdas.map((v) => `λ ${level(v)}`) : plan.quantiles.map((v) => `q ${level(v)}`);
}

/** Whether the plan's first row is the distribution's mean (a shell plan has no mean row). */
export const startsAtMean = (plan: Plan) => planLevels(plan)[0] === 0 && plan.kind !== "shell";

/** A one-line description of a plan: "interpolate · λ 0 … 2 · 5 rows", "geodesic · θ 0 … θ95 · 5 rows". */
export function planSummary(plan: Plan): string {
  const levels = planLevels(plan);
  const rows = `${levels.length} ${levels.length === 1 ? "row" : "rows"}`;
  if (plan.kind === "geodesic") {
    const angle = (f: number) => (f === 0 ? "0" : f === 1 ? tailName(plan.tail) : `${level(f)}·${tailName(plan.tail)}`);
    const range = levels.length > 1 ? `${angle(levels[0])} … ${angle(levels[levels.length - 1])}` : angle(levels[0] ?? 0);
    return `geodesic · θ ${range} · ${rows}`;
  }
  const symbol = plan.kind === "interpolate" ? "λ" : "q";
  const range = levels.length > 1 ? `${level(levels[0])} … ${level(levels[levels.length - 1])}` : level(levels[0] ?? 0);
  return `${plan.kind} · ${symbol} ${range} · ${rows}`;
}

export type { RowLabel } from "@/lib/record";

/**
 * A row's label, shared with the grid PNG (lib/record.ts): what the row is ("θ = 24.1°", "λ = 1",
 * "q = 0.25"), and "mean" on the mean row or the row's average of a per-cell number ("≈").
 */
export function rowLabel(plan: Plan, cells: readonly Pick<Cell, "row" | "q" | "decoderQuantile" | "angleTarget">[], row: number): RowLabel {
  return sharedRowLabel(plan, cells, row);
}

export const rowLabelText = (label: RowLabel) => (label.detail ? `${label.main} · ${label.detail}` : label.main);

/** Each column is one base sample and noise draw, the same in every row ("sample 3"). */
export const colLabel = sampleName;

/** A cell named as everywhere else (grid PNG, zip, CLI): "row 2 · λ = 1 · q ≈ 0.42 · sample 3". */
export function cellLabel(plan: Plan, cells: readonly Cell[], row: number, col: number): string {
  return `${rowName(row)} · ${rowLabelText(sharedRowLabel(plan, cells, row))} · ${sampleName(col)}`;
}

export interface Metric {
  label: string;
  value: string;
  hint: string;
}

export interface MetricGroup {
  /** "decoder": what the image decoder is given; "sampling": the adapter's space, where samples are drawn. */
  space: "decoder" | "sampling";
  title: string;
  metrics: Metric[];
}

/**
 * A cell's numbers, decoder side first (how far what the decoder is given lies from the mean's),
 * then the sampling side. Runs stored before the decoder side was measured get the sampling side only.
 */
export function cellMetricGroups(cell: Cell): MetricGroup[] {
  const groups: MetricGroup[] = [];
  if (cell.decoderAngle !== undefined) {
    const decoder: Metric[] = [{ label: "θ", value: `${fixed(cell.decoderAngle, 1)}°`, hint: "angle from the mean in the decoder's space" }];
    if (cell.decoderQuantile !== undefined) decoder.push({ label: "q_dec", value: fixed(cell.decoderQuantile, 2), hint: "share of plain samples that lie closer to the mean (at a smaller angle)" });
    if (cell.decoderDistance !== undefined) decoder.push({ label: "distance", value: significant(cell.decoderDistance, 3), hint: "straight-line distance from the mean in the decoder's space" });
    groups.push({ space: "decoder", title: "In the decoder's space", metrics: decoder });
  }
  const sampling: Metric[] = [];
  if (cell.lambda !== null) sampling.push({ label: "λ", value: level(cell.lambda), hint: "position on the line from the mean (0) through this column's sample (1)" });
  if (cell.quantileTarget !== null) sampling.push({ label: "q target", value: level(cell.quantileTarget), hint: "the shell's likelihood quantile" });
  sampling.push(
    { label: "q", value: fixed(cell.q, 3), hint: "likelihood quantile P(k, T): share of plain samples more likely than this point" },
    { label: "T", value: significant(cell.T, 4), hint: "likelihood radius Σ(|x − μ|/α)^β" },
    { label: "NLL", value: significant(cell.nll, 4), hint: "negative log-likelihood under the distribution; lower is more likely" },
    { label: "cos to μ", value: fixed(cell.cosineToMean, 4), hint: "cosine similarity to the mean μ" },
    { label: "‖x − μ‖", value: significant(cell.l2FromMean, 4), hint: "straight-line distance from the mean μ" },
  );
  groups.push({ space: "sampling", title: "Where samples are drawn", metrics: sampling });
  return groups;
}

/** "further from the training data than 97% of held-out captions". */
export function epistemicText(percentile: number, modality: "text" | "image"): string {
  return `farther from the preset's training data than ${Math.round(percentile)}% of held-out ${modality === "text" ? "captions" : "images"}`;
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

import type { InputInfo, NormalizedRunRequest, RunCell } from "./engine/index";
import { planLevels, type PlanUnion } from "./engine/names";
import { fixed, significant } from "./format";

/*
 * The record a run leaves beside its pixels, shared by the CLI and the web app so a grid PNG
 * carries the same "penumbra:run" JSON whichever made it, and the labels drawn on grids.
 */

/** PNG text keyword of the run record. */
export const RUN_KEY = "penumbra:run";

/**
 * Where a cell lies in the decoder's space, measured against the decoder embedding of the
 * distribution's mean. Runs stored before the engine measured these lack them, hence optional.
 */
export interface DecoderCellMetrics {
  /** Degrees between this cell's decoder embedding and the mean's; 0 on the mean row. */
  readonly decoderAngle?: number;
  /** Euclidean distance between those two decoder embeddings. */
  readonly decoderDistance?: number;
  /** 0..1: the share of 256 plain samples of the distribution at a smaller decoder angle; 0 for the mean. */
  readonly decoderQuantile?: number;
  /** The row's target decoder angle in degrees on a geodesic row, else null. */
  readonly angleTarget?: number | null;
}

/** A cell's deviation metrics, without pixels or embedding. */
export type CellMetrics = Omit<RunCell, "rgb" | "width" | "height" | keyof DecoderCellMetrics> & DecoderCellMetrics;

export function cellMetrics(cell: CellMetrics): CellMetrics {
  const { row, col, lambda, quantileTarget, T, q, nll, cosineToMean, l2FromMean, decoderAngle, decoderDistance, decoderQuantile, angleTarget } = cell;
  // Absent decoder fields stay absent (a run stored by an earlier version has none), never undefined keys.
  const decoder = Object.fromEntries(Object.entries({ decoderAngle, decoderDistance, decoderQuantile, angleTarget }).filter(([, value]) => value !== undefined)) as DecoderCellMetrics;
  return { row, col, lambda, quantileTarget, T, q, nll, cosineToMean, l2FromMean, ...decoder };
}

/** How a record names its input: the caption itself, or an image by its file (when there is one) and hash, never its bytes. */
export type RecordInput = { readonly kind: "caption"; readonly text: string } | { readonly kind: "image"; readonly file: string | null; readonly sha256: string };

export type RunSettings = Omit<NormalizedRunRequest, "input">;

export interface ProviderChoice {
  readonly provider: string;
  readonly skipped: readonly { readonly provider: string; readonly reason: string }[];
}

export interface RunRecordSource {
  readonly preset: { readonly name: string; readonly digest: string };
  readonly input: RecordInput;
  readonly settings: RunSettings;
  readonly description: { readonly input: InputInfo; readonly dim: number; readonly uncertainty: number; readonly percentile: number; readonly radiusShape: number };
  /** Extra fields (such as machine-specific model paths) are dropped. */
  readonly providers: Readonly<Record<string, ProviderChoice>>;
  readonly rows: number;
  readonly cols: number;
  readonly imageSize: { readonly width: number; readonly height: number };
  readonly cells: readonly CellMetrics[];
  readonly timings: Readonly<Record<string, number>>;
}

/** The run as plain JSON values. */
export function runRecord(source: RunRecordSource) {
  return {
    preset: { name: source.preset.name, digest: source.preset.digest },
    request: { input: source.input, ...source.settings },
    description: source.description,
    providers: providerChoices(source.providers),
    rows: source.rows,
    cols: source.cols,
    imageSize: source.imageSize,
    cells: source.cells.map(cellMetrics),
    timings: source.timings,
  };
}

export type RunRecord = ReturnType<typeof runRecord>;

/**
 * The record as a PNG's "penumbra:run" text holds it: without the timings, which differ on every
 * run, so the same request writes the same bytes. They stay in the JSON record (the CLI's --json,
 * the zip's run.json, the API).
 */
export function embeddedRecord<Full extends RunRecord>({ timings: _timings, ...record }: Full): Omit<Full, "timings"> {
  return record;
}

/** Each model's provider and the faster ones skipped, without anything else a report carries. */
export function providerChoices(providers: Readonly<Record<string, ProviderChoice>>): Record<string, ProviderChoice> {
  return Object.fromEntries(Object.entries(providers).map(([model, report]) => [model, { provider: report.provider, skipped: report.skipped }]));
}

/**
 * A deviation plan as the labels read it: the engine's normalized plans, including the geodesic
 * plan (rows at fractions of θ_tail, the `tail` quantile of plain samples' decoder angles).
 */
export type LabelPlan = PlanUnion<
  | { readonly kind: "interpolate"; readonly lambdas: readonly number[] }
  | { readonly kind: "shell"; readonly quantiles: readonly number[] }
  | { readonly kind: "geodesic"; readonly fractions: readonly number[]; readonly tail: number }
>;

/** What a row label needs of a cell; the decoder-side fields are absent on runs stored by earlier versions. */
export type LabelCell = Pick<CellMetrics, "row" | "q"> & Pick<DecoderCellMetrics, "decoderQuantile" | "angleTarget">;

export interface RowLabel {
  /** What the row is: "λ = 0.5", "θ = 24.1°", "q = 0.25" (exact: the same for every cell of the row). */
  readonly main: string;
  /**
   * "mean" on the distribution's mean row; otherwise the row's average of a number each cell has
   * its own value of, marked "≈" ("q ≈ 0.42", "q_dec ≈ 0.50"); null when there is none yet.
   */
  readonly detail: string | null;
}

/** A plan level as typed by people: 0.5, 1, 0.25 (no float noise such as 0.30000000000000004). */
const level = (value: number) => String(Number(value.toFixed(4)));

/** "θ95": the plain samples' angle that the tail quantile of them stay within. */
export const tailName = (tail: number) => `θ${level(tail * 100)}`;

function rowMean(cells: readonly LabelCell[], row: number, value: (cell: LabelCell) => number | undefined): number | null {
  const values = cells.filter((cell) => cell.row === row).map(value);
  if (values.length === 0 || values.some((v) => v === undefined)) return null;
  return (values as number[]).reduce((sum, v) => sum + v, 0) / values.length;
}

/**
 * One row's label. A shell row sits on one likelihood quantile, exact for every cell. An
 * interpolate row is a λ, with its cells' average likelihood quantile (each column's sample has
 * its own). A geodesic row is its target decoder angle, with its cells' average q_dec. The
 * distribution's mean row (λ = 0, or fraction 0) says so instead of an average.
 */
export function rowLabel(plan: LabelPlan, cells: readonly LabelCell[], row: number): RowLabel {
  if (plan.kind === "shell") return { main: `q = ${level(plan.quantiles[row])}`, detail: null };
  if (plan.kind === "interpolate") {
    const lambda = plan.lambdas[row];
    const meanQ = rowMean(cells, row, (cell) => cell.q);
    return { main: `λ = ${level(lambda)}`, detail: lambda === 0 ? "mean" : meanQ === null ? null : `q ≈ ${fixed(meanQ, 2)}` };
  }
  const fraction = plan.fractions[row];
  if (fraction === 0) return { main: "θ = 0°", detail: "mean" };
  const target = cells.find((cell) => cell.row === row && typeof cell.angleTarget === "number")?.angleTarget;
  const main = typeof target === "number" ? `θ = ${fixed(target, 1)}°` : `θ = ${fraction === 1 ? "" : `${level(fraction)}·`}${tailName(plan.tail)}`;
  const meanQ = rowMean(cells, row, (cell) => cell.decoderQuantile);
  return { main, detail: meanQ === null ? null : `q_dec ≈ ${fixed(meanQ, 2)}` };
}

/**
 * The most characters any label of this plan can take, before its cells arrive ("θ = 0.25·θ95")
 * and after ("θ = 24.1°", "q_dec ≈ 0.50"), so a page can size the label column once and not move
 * the cells when the numbers come in.
 */
export function rowLabelChars(plan: LabelPlan): number {
  const rows = planLevels(plan).length;
  // Every average is a share printed to two places and every angle is at most 180°, so these
  // cells give each row its longest detail and main text.
  const widest = Array.from({ length: rows }, (_, row) => ({ row, q: 1, decoderQuantile: 1, angleTarget: 180 }));
  let chars = 0;
  for (let row = 0; row < rows; row++) {
    for (const label of [rowLabel(plan, [], row), rowLabel(plan, widest, row)]) {
      chars = Math.max(chars, [...label.main].length, [...(label.detail ?? "")].length);
    }
  }
  return chars;
}

/**
 * Row labels of the grid PNG, lined up in a monospace column: "row 1  λ = 0.5  q ≈ 0.42",
 * "row 2  θ = 24.1°  q_dec ≈ 0.50", "row 0  q = 0.25" (see rowLabel for what each part means).
 */
export function rowLabels(plan: LabelPlan, cells: readonly LabelCell[]): string[] {
  const rows = planLevels(plan).length;
  const labels = Array.from({ length: rows }, (_, row) => rowLabel(plan, cells, row));
  const width = Math.max(...labels.map((label) => [...label.main].length));
  const nameWidth = rowName(rows - 1).length;
  return labels.map(({ main, detail }, row) => {
    const name = rowName(row).padEnd(nameWidth);
    return detail === null ? `${name}  ${main}` : `${name}  ${main.padEnd(width + main.length - [...main].length)}  ${detail}`;
  });
}

export interface GridTitleParts {
  readonly inputLabel: string;
  readonly uncertainty: number;
  readonly percentile: number;
  readonly presetName: string;
  readonly settings: Pick<RunSettings, "seed" | "steps" | "scheduler" | "guidanceScale">;
  /** True when the input is outside what the preset knows: the title says so after the uncertainty. */
  readonly outOfDistribution?: boolean;
}

/** Most telling first: the title wraps and is cut at the grid's width; the record keeps everything. */
export function gridTitle({ inputLabel, uncertainty, percentile, presetName, settings, outOfDistribution = false }: GridTitleParts): string {
  return [
    inputLabel,
    `uncertainty ${significant(uncertainty, 4)} (p${Math.round(percentile)})`,
    ...(outOfDistribution ? ["outside the preset"] : []),
    presetName,
    `seed ${settings.seed}`,
    `${settings.steps} steps ${settings.scheduler}`,
    `guidance ${settings.guidanceScale}`,
  ].join(" · ");
}

/*
 * One naming of grid positions for the page, the grid PNG, the zip and the CLI. Rows count from
 * 0, the top row (the mean, on plans that have one), so a row's number is its step away from the
 * mean; samples are the columns, one base sample each, counted from 1.
 */
export const rowName = (row: number) => `row ${row}`;
export const sampleName = (col: number) => `sample ${col + 1}`;
/** A cell's PNG in a zip or a cells folder: "row2-sample3.png". */
export const cellFileName = (row: number, col: number) => `row${row}-sample${col + 1}.png`;

/** Column labels of a grid: each column is one base sample and noise seed, the same in every row. */
export function colLabels(cols: number): string[] {
  return Array.from({ length: cols }, (_, col) => sampleName(col));
}

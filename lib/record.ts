import type { InputInfo, NormalizedRunRequest, RunCell } from "./engine/index";
import { fixed, significant } from "./format";

/*
 * The record a run leaves beside its pixels, shared by the CLI and the web app so a grid PNG
 * carries the same "penumbra:run" JSON whichever made it, and the labels drawn on grids.
 */

/** PNG text keyword of the run record. */
export const RUN_KEY = "penumbra:run";

/** A cell's deviation metrics, without pixels or embedding. */
export type CellMetrics = Omit<RunCell, "rgb" | "width" | "height">;

export function cellMetrics(cell: CellMetrics): CellMetrics {
  const { row, col, lambda, quantileTarget, T, q, nll, cosineToMean, l2FromMean } = cell;
  return { row, col, lambda, quantileTarget, T, q, nll, cosineToMean, l2FromMean };
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

/** Each model's provider and the faster ones skipped, without anything else a report carries. */
export function providerChoices(providers: Readonly<Record<string, ProviderChoice>>): Record<string, ProviderChoice> {
  return Object.fromEntries(Object.entries(providers).map(([model, report]) => [model, { provider: report.provider, skipped: report.skipped }]));
}

/**
 * Row labels that line up in a monospace column: "λ = 0.5  q ≈ 0.42" (q is
 * the row's mean likelihood quantile, since each column's sample has its own)
 * or "q = 0.25" on shell rows, where every cell sits on the same quantile.
 */
export function rowLabels(plan: NormalizedRunRequest["plan"], cells: readonly Pick<CellMetrics, "row" | "q">[]): string[] {
  if (plan.kind === "shell") return plan.quantiles.map((q) => `q = ${q}`);
  const lambdas = plan.lambdas.map(String);
  const width = Math.max(...lambdas.map((text) => text.length));
  return lambdas.map((lambda, row) => {
    const rowCells = cells.filter((cell) => cell.row === row);
    const meanQ = rowCells.reduce((sum, cell) => sum + cell.q, 0) / rowCells.length;
    return `λ = ${lambda.padEnd(width)}  q ≈ ${fixed(meanQ, 2)}`;
  });
}

export interface GridTitleParts {
  readonly inputLabel: string;
  readonly uncertainty: number;
  readonly percentile: number;
  readonly presetName: string;
  readonly settings: Pick<RunSettings, "seed" | "steps" | "scheduler" | "guidanceScale">;
}

/** Most telling first: the title wraps and is cut at the grid's width; the record keeps everything. */
export function gridTitle({ inputLabel, uncertainty, percentile, presetName, settings }: GridTitleParts): string {
  return [
    inputLabel,
    `uncertainty ${significant(uncertainty, 4)} (p${Math.round(percentile)})`,
    presetName,
    `seed ${settings.seed}`,
    `${settings.steps} steps ${settings.scheduler}`,
    `guidance ${settings.guidanceScale}`,
  ].join(" · ");
}

/** Column labels of a grid: each column is one noise seed, the same in every row. */
export function colLabels(cols: number): string[] {
  return Array.from({ length: cols }, (_, col) => `col ${col}`);
}

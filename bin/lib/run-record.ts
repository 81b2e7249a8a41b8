import { createHash } from "node:crypto";
import type { RunCell, RunResult } from "../../lib/engine/index";
import { fixed, significant } from "./table";

/*
 * What a grid run leaves behind besides pixels: the JSON record (printed by
 * --json and embedded in the PNG as "penumbra:run") and the grid's labels.
 */

/** PNG text keyword of the run record. */
export const RUN_KEY = "penumbra:run";
/** PNG text keyword of one cell's metrics, in --cells-dir files. */
export const CELL_KEY = "penumbra:cell";

/** Where an image input came from: the record names the file and hashes its bytes instead of holding them. */
export interface ImageSource {
  readonly path: string;
  /** ArrayBuffer-backed, as the engine's request schema requires. */
  readonly bytes: Uint8Array<ArrayBuffer>;
}

export type CellMetrics = Omit<RunCell, "rgb" | "width" | "height">;

export function cellMetrics(cell: RunCell): CellMetrics {
  const { row, col, lambda, quantileTarget, T, q, nll, cosineToMean, l2FromMean } = cell;
  return { row, col, lambda, quantileTarget, T, q, nll, cosineToMean, l2FromMean };
}

/** The run without pixel data or machine-specific model paths, as plain JSON values. */
export function runRecord(result: RunResult, image?: ImageSource) {
  const { input, ...settings } = result.request;
  return {
    preset: result.preset,
    request: {
      input:
        input.kind === "caption"
          ? { kind: "caption" as const, text: input.text }
          : { kind: "image" as const, file: image?.path ?? null, sha256: createHash("sha256").update(input.bytes).digest("hex") },
      ...settings,
    },
    description: result.description,
    providers: Object.fromEntries(
      Object.entries(result.providers).map(([model, report]) => [model, { provider: report.provider, skipped: report.skipped }]),
    ),
    rows: result.rows,
    cols: result.cols,
    imageSize: { width: result.cells[0]?.width ?? 0, height: result.cells[0]?.height ?? 0 },
    cells: result.cells.map(cellMetrics),
    timings: result.timings,
  };
}

function inputLabel(result: RunResult, image?: ImageSource): string {
  const { input } = result.request;
  return input.kind === "caption" ? JSON.stringify(input.text) : image?.path ?? "image";
}

/**
 * Row labels that line up in a monospace column: "λ = 0.5  q ≈ 0.42" (q is
 * the row's mean likelihood quantile, since each column's sample has its own)
 * or "q = 0.25" on shell rows, where every cell sits on the same quantile.
 */
export function rowLabels(result: RunResult): string[] {
  const { plan } = result.request;
  if (plan.kind === "shell") return plan.quantiles.map((q) => `q = ${q}`);
  const lambdas = plan.lambdas.map(String);
  const width = Math.max(...lambdas.map((text) => text.length));
  return lambdas.map((lambda, row) => {
    const cells = result.cells.filter((cell) => cell.row === row);
    const meanQ = cells.reduce((sum, cell) => sum + cell.q, 0) / cells.length;
    return `λ = ${lambda.padEnd(width)}  q ≈ ${fixed(meanQ, 2)}`;
  });
}

export function gridLabels(result: RunResult, image?: ImageSource) {
  const { request, description, preset } = result;
  // Most telling first: the title wraps and is cut at the grid's width; the record keeps everything.
  const title = [
    inputLabel(result, image),
    `uncertainty ${significant(description.uncertainty, 4)} (p${Math.round(description.percentile)})`,
    preset.name,
    `seed ${request.seed}`,
    `${request.steps} steps ${request.scheduler}`,
    `guidance ${request.guidanceScale}`,
  ].join(" · ");
  return {
    rows: result.rows,
    cols: result.cols,
    rowLabels: rowLabels(result),
    colLabels: Array.from({ length: result.cols }, (_, col) => `col ${col}`),
    title,
  };
}

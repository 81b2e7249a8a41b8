import { createHash } from "node:crypto";
import type { RunCell, RunResult } from "../../lib/engine/index";
import { cellMetrics, type RecordInput, runRecord as sharedRunRecord } from "../../lib/record";
import type { GridPngInput } from "../../lib/runs/exports";

/*
 * What a grid run leaves behind besides pixels: the JSON record (printed by
 * --json, and embedded in the PNGs as "penumbra:run" less its timings) and what the grid PNG is
 * drawn from, built with the helpers the web app shares (lib/record.ts,
 * lib/runs/exports.ts).
 */

export { cellMetrics, RUN_KEY } from "../../lib/record";
/** PNG text keyword of one cell's metrics, in --cells-dir files. */
export const CELL_KEY = "penumbra:cell";

/** Where an image input came from: the record names the file and hashes its bytes instead of holding them. */
export interface ImageSource {
  readonly path: string;
  /** ArrayBuffer-backed, as the engine's request schema requires. */
  readonly bytes: Uint8Array<ArrayBuffer>;
}

export type CellMetrics = Omit<RunCell, "rgb" | "width" | "height">;

function recordInput(result: RunResult, image?: ImageSource): RecordInput {
  const { input } = result.request;
  return input.kind === "caption"
    ? { kind: "caption", text: input.text }
    : { kind: "image", file: image?.path ?? null, sha256: createHash("sha256").update(input.bytes).digest("hex") };
}

/** The run without pixel data or machine-specific model paths, as plain JSON values. */
export function runRecord(result: RunResult, image?: ImageSource) {
  const { input: _bytes, ...settings } = result.request;
  return sharedRunRecord({
    preset: result.preset,
    input: recordInput(result, image),
    settings,
    description: result.description,
    providers: result.providers,
    rows: result.rows,
    cols: result.cols,
    imageSize: { width: result.cells[0]?.width ?? 0, height: result.cells[0]?.height ?? 0 },
    cells: result.cells.map(cellMetrics),
    timings: result.timings,
  });
}

function inputLabel(result: RunResult, image?: ImageSource): string {
  const { input } = result.request;
  return input.kind === "caption" ? JSON.stringify(input.text) : image?.path ?? "image";
}

/** What the CLI's grid PNG is drawn from: the decoded cells, as the web's is from stored ones. */
export function gridPngInput(result: RunResult, image?: ImageSource): GridPngInput {
  const { request, description, preset } = result;
  return {
    images: result.cells,
    rows: result.rows,
    cols: result.cols,
    plan: request.plan,
    metrics: result.cells,
    title: {
      inputLabel: inputLabel(result, image),
      uncertainty: description.uncertainty,
      percentile: description.percentile,
      outOfDistribution: description.outOfDistribution.flagged,
      presetName: preset.name,
      settings: request,
    },
    record: runRecord(result, image),
  };
}

import sharp from "sharp";
import { composeGrid, type GridCellImage, withPngText } from "../engine/index";
import { cellFileName, colLabels, embeddedRecord, gridTitle, type GridTitleParts, type LabelCell, type LabelPlan, RUN_KEY, rowLabels, type RunRecord } from "../record";
import { type Run, webRunRecord } from "./views";
import { writeZip } from "./zip";

/*
 * A run's downloads. The grid PNG is rendered here for the CLI (from the cells it just decoded)
 * and for the web (from the stored cell PNGs), so both draw and label it alike and embed the
 * record the same way.
 */

/** Reads a stored cell PNG by its sha256. */
export type ReadImage = (sha256: string) => Promise<Uint8Array>;

export interface GridPngInput {
  /** Every cell of the rows × cols grid, all one size. */
  readonly images: readonly GridCellImage[];
  readonly rows: number;
  readonly cols: number;
  /** The deviation plan: each row's label names its level. */
  readonly plan: LabelPlan;
  /** The cells' metrics: each row's label adds the average of its cells' q or q_dec. */
  readonly metrics: readonly LabelCell[];
  readonly title: GridTitleParts;
  /** Embedded as JSON in the PNG's "penumbra:run" text, less its timings (embeddedRecord). */
  readonly record: RunRecord;
}

/** The text entries of a grid PNG, which the CLI's cell PNGs carry too: the same for the same request. */
export function runPngText(record: RunRecord, title: string): Record<string, string> {
  return { [RUN_KEY]: JSON.stringify(embeddedRecord(record)), Title: title, Software: "Penumbra" };
}

/** The labelled grid as PNG, with the record, the title and the software as PNG text. */
export async function renderGridPng(input: GridPngInput): Promise<Buffer> {
  const { images, rows, cols, plan, metrics, record } = input;
  const title = gridTitle(input.title);
  const grid = await composeGrid(images, { rows, cols, rowLabels: rowLabels(plan, metrics), colLabels: colLabels(cols), title });
  return withPngText(grid, runPngText(record, title));
}

/** A done run's grid PNG, drawn from its stored cell PNGs. */
export async function runGridPng(run: Run, readImage: ReadImage): Promise<Buffer> {
  const images = await Promise.all(
    run.cells.map(async (cell) => {
      const { data, info } = await sharp(await readImage(cell.image ?? "")).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      return { row: cell.row, col: cell.col, rgb: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
    }),
  );
  const { input } = run.request;
  return renderGridPng({
    images,
    rows: run.rows,
    cols: run.cols,
    plan: run.request.plan,
    metrics: run.cells,
    title: {
      // The web names an uploaded image by its hash: it has no file name.
      inputLabel: input.kind === "caption" ? JSON.stringify(input.text) : `image ${input.upload.slice(0, 12)}`,
      uncertainty: run.description?.uncertainty ?? Number.NaN,
      percentile: run.description?.percentile ?? Number.NaN,
      outOfDistribution: run.description?.outOfDistribution?.flagged ?? false,
      presetName: run.preset.name,
      settings: run.request,
    },
    record: webRunRecord(run),
  });
}

/** A zip of a done run's cell PNGs (`row<r>-sample<c+1>.png`, lib/record.ts's naming) and its record (`run.json`), dated when the run finished. */
export async function runCellsZip(run: Run, readImage: ReadImage): Promise<Buffer> {
  const entries = await Promise.all(run.cells.map(async (cell) => ({ name: cellFileName(cell.row, cell.col), data: await readImage(cell.image ?? "") })));
  entries.push({ name: "run.json", data: Buffer.from(`${JSON.stringify(webRunRecord(run), null, 2)}\n`) });
  return writeZip(entries, new Date(run.finishedAt ?? run.createdAt));
}

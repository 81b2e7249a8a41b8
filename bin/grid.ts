// npm run grid -- "<caption>" [options]: decode a labelled grid of samples at increasing deviation; see --help.
import { constants } from "node:fs";
import { access, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { type DecodedImage, encodeImage, openPreset, type RunRequest, schedulerAdvice, withPngText } from "../lib/engine/index";
import { cellFileName, gridTitle } from "../lib/record";
import { renderGridPng, runPngText } from "../lib/runs/exports";
import { type GridArgs, parseGridArgs, toRunRequest, UsageError } from "./lib/args";
import { EXIT_OK, runMain } from "./lib/cli";
import { createProgressBar } from "./lib/progress";
import { CELL_KEY, cellMetrics, gridPngInput, type ImageSource } from "./lib/run-record";
import { formatCellTable, formatRunSummary } from "./lib/table";

async function readImage(file: string): Promise<ImageSource> {
  try {
    return { path: file, bytes: new Uint8Array(await readFile(file)) };
  } catch (error) {
    throw new UsageError(`--image: cannot read ${file} (${(error as Error).message})`);
  }
}

async function write(file: string, bytes: Buffer): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, bytes);
}

/** Makes sure a file can be written there before any decoding, so a bad --out fails at once, saying why. */
async function checkWritable(file: string, flag: string): Promise<void> {
  const folder = path.dirname(path.resolve(file));
  try {
    await mkdir(folder, { recursive: true });
    await access(folder, constants.W_OK);
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    const reason = code === "EACCES" || code === "EROFS" ? "permission denied" : code === "ENOTDIR" || code === "EEXIST" ? "a file is in the way of its folder" : (error as Error).message;
    throw new UsageError(`--${flag} ${JSON.stringify(file)} cannot be written (${reason}); give a path in a folder you can write`);
  }
}

async function main(args: GridArgs): Promise<number> {
  await checkWritable(args.out, "out");
  if (args.cellsDir !== undefined) await checkWritable(path.join(args.cellsDir, "cell.png"), "cells-dir");
  let image: ImageSource | undefined;
  let input: RunRequest["input"];
  if (args.input.kind === "image") {
    image = await readImage(args.input.path);
    input = { kind: "image", bytes: image.bytes };
  } else {
    input = args.input;
  }
  const engine = await openPreset(args.preset ?? "shapes");
  const request = toRunRequest(args, input);
  const advice = schedulerAdvice(request.scheduler ?? engine.config.scheduler.type, request.steps ?? engine.config.defaults.steps);
  if (advice) process.stderr.write(`warning: ${advice}\n`);

  // The first Ctrl-C cancels the decode cleanly; the handler is gone after it, so a second one kills.
  const controller = new AbortController();
  const cancel = () => controller.abort();
  process.once("SIGINT", cancel);
  const progress = createProgressBar(process.stderr);
  // With --cells-dir each cell's PNG is encoded as soon as its batch is decoded, beside the next
  // batch's UNet calls, not one by one after the last; awaited below, in order.
  const cellPngs: Promise<Buffer>[] = [];
  const onCell =
    args.cellsDir === undefined
      ? undefined
      : (index: number, cell: DecodedImage) => {
          cellPngs[index] = encodeImage(cell, "png");
          // A failure is thrown where the PNG is awaited; until then it must not count as unhandled.
          cellPngs[index].catch(() => {});
        };
  const result = await engine
    .run(request, { signal: controller.signal, onStep: (step) => progress.update(step), onCell })
    .finally(() => {
      progress.done();
      process.off("SIGINT", cancel);
    });

  const grid = gridPngInput(result, image);
  await write(args.out, await renderGridPng(grid));
  const text = runPngText(grid.record, gridTitle(grid.title));
  const cellFiles: string[] = [];
  if (args.cellsDir !== undefined) {
    for (const [index, cell] of result.cells.entries()) {
      const file = path.join(args.cellsDir, cellFileName(cell.row, cell.col));
      await write(file, withPngText(await cellPngs[index], { ...text, [CELL_KEY]: JSON.stringify(cellMetrics(cell)) }));
      cellFiles.push(file);
    }
  }

  if (args.json) {
    process.stdout.write(`${JSON.stringify({ ...grid.record, files: { grid: args.out, cells: cellFiles } }, null, 2)}\n`);
  } else {
    const written = [args.out, ...(args.cellsDir === undefined ? [] : [`${args.cellsDir}/ (${cellFiles.length} cell PNGs)`])];
    process.stdout.write(`${formatRunSummary(result, image?.path ?? "", written)}\n\n${formatCellTable(result)}\n`);
  }
  return EXIT_OK;
}

runMain(async () => main(parseGridArgs(process.argv.slice(2))));

import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { RunResult } from "../../lib/engine/index";
import { encodeImage, readPngText } from "../../lib/engine/index";
import { embeddedRecord, gridTitle } from "../../lib/record";
import { renderGridPng, runGridPng } from "../../lib/runs/exports";
import { type Run, webRunRecord } from "../../lib/runs/views";
import { interpolateResult, shellResult } from "./fixtures";
import { cellMetrics, gridPngInput, RUN_KEY, runRecord } from "./run-record";

/** `result` as the web stores it once done, its cells' PNGs under `images` (one sha256 per cell, in order). */
function storedRun(result: RunResult, images: readonly string[]): Run {
  const { request, description } = result;
  if (request.input.kind !== "caption") throw new Error("storedRun takes caption runs");
  return {
    id: "0123456789ab",
    status: "done",
    error: null,
    createdAt: "2026-03-14T15:09:00.000Z",
    startedAt: "2026-03-14T15:09:01.000Z",
    finishedAt: "2026-03-14T15:09:27.000Z",
    publishedAt: null,
    preset: result.preset,
    request: { ...request, input: request.input },
    rows: result.rows,
    cols: result.cols,
    imageSize: { width: result.cells[0].width, height: result.cells[0].height },
    description: { ...description, modality: "text", embeddingNorm: 1, alpha: [], beta: [], bridge: null },
    providers: runRecord(result).providers,
    cells: result.cells.map((cell, index) => ({ index, ...cellMetrics(cell), image: images[index] })),
    progress: { evaluation: 0, evaluations: 0, cellsDone: result.cells.length, cellsTotal: result.cells.length, etaSeconds: null },
    timings: { describeMs: 12.4, decodeMs: 1534.2, totalMs: 1549.7 },
  };
}

/** A PNG without its text chunks: the picture alone. */
function withoutText(png: Buffer): Buffer {
  const kept = [png.subarray(0, 8)];
  for (let at = 8; at < png.length; ) {
    const end = at + 12 + png.readUInt32BE(at);
    if (!["tEXt", "zTXt", "iTXt"].includes(png.toString("latin1", at + 4, at + 8))) kept.push(png.subarray(at, end));
    at = end;
  }
  return Buffer.concat(kept);
}

describe("runRecord", () => {
  it("keeps the request, preset, description, providers and cell metrics, without pixels or model paths", () => {
    const result = interpolateResult();
    const record = runRecord(result);
    const json = JSON.stringify(record);
    expect(JSON.parse(json)).toEqual(record);
    expect(record.preset).toEqual(result.preset);
    expect(record.request).toEqual({ ...result.request, input: { kind: "caption", text: 'a "red" shape, maybe' } });
    expect(record.description).toEqual(result.description);
    expect(record.providers.unet).toEqual({ provider: "cuda", skipped: [] });
    expect(record.providers.clipText).toEqual({ provider: "cpu", skipped: [{ provider: "cuda", reason: "no CUDA" }] });
    expect(json).not.toContain("/models/x");
    expect(json).not.toContain("rgb");
    expect(record.imageSize).toEqual({ width: 4, height: 4 });
    expect(record.cells[2]).toEqual({
      row: 1,
      col: 0,
      lambda: 1.5,
      quantileTarget: null,
      angleTarget: null,
      T: 60.25,
      q: 0.99999,
      nll: -50.25,
      cosineToMean: 1 - 60.25 / 200,
      l2FromMean: 1.205,
      decoderAngle: 60.25 / 2,
      decoderDistance: 6.025,
      decoderQuantile: 0.99999 / 2,
    });
    expect(record.timings).toEqual(result.timings);
  });

  it("names an image input by path and hash, never by its bytes", () => {
    const bytes = new Uint8Array([1, 2, 3]);
    const record = runRecord(shellResult(), { path: "photos/cat.png", bytes });
    expect(record.request.input).toEqual({ kind: "image", file: "photos/cat.png", sha256: createHash("sha256").update(bytes).digest("hex") });
    expect(record.request.plan).toEqual({ kind: "shell", quantiles: [0.01, 0.5, 0.99] });
  });
});

describe("gridPngInput", () => {
  it("draws the decoded cells under the input and uncertainty, embedding the record", () => {
    const result = interpolateResult();
    const input = gridPngInput(result);
    expect(input).toMatchObject({ images: result.cells, rows: 2, cols: 2, plan: result.request.plan, metrics: result.cells, record: runRecord(result) });
    expect(gridTitle(input.title)).toBe('"a \\"red\\" shape, maybe" · uncertainty 0.005074 (p46) · shapes · seed 7 · 20 steps pndm · guidance 3');
    expect(gridTitle(gridPngInput(shellResult(), { path: "cat.png", bytes: new Uint8Array() }).title)).toMatch(/^cat\.png · uncertainty 0\.01230 \(p100\) · outside the preset/);
  });

  it("gives the same picture as the web's grid of the same cells stored as PNGs", async () => {
    const result = interpolateResult();
    const pngs = new Map(await Promise.all(result.cells.map(async (cell) => [`${cell.row}${cell.col}`.repeat(32), await encodeImage(cell, "png")] as const)));
    const run = storedRun(result, [...pngs.keys()]);
    const cli = await renderGridPng(gridPngInput(result));
    const web = await runGridPng(run, async (sha256) => pngs.get(sha256) ?? new Uint8Array());
    expect(withoutText(web).equals(withoutText(cli))).toBe(true);
    expect(readPngText(web).Title).toBe(readPngText(cli).Title);
    // Each embeds its own record, less its timings: the web's names the run's id and keeps less of the description.
    expect(JSON.parse(readPngText(web)[RUN_KEY])).toEqual(embeddedRecord(webRunRecord(run)));
    expect(JSON.parse(readPngText(cli)[RUN_KEY])).toEqual(embeddedRecord(runRecord(result)));
  });
});

describe("cellMetrics", () => {
  it("cellMetrics drops only the pixels", () => {
    const cell = interpolateResult().cells[3];
    expect(Object.keys(cellMetrics(cell)).sort()).toEqual([
      "T",
      "angleTarget",
      "col",
      "cosineToMean",
      "decoderAngle",
      "decoderDistance",
      "decoderQuantile",
      "l2FromMean",
      "lambda",
      "nll",
      "q",
      "quantileTarget",
      "row",
    ]);
  });
});

import { existsSync } from "node:fs";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { encodeImage, gridLayout, readPngText } from "../engine/index";
import { RUN_KEY } from "../record";
import { renderGridPng, runCellsZip, runGridPng, runPngText } from "./exports";
import { readZip, unzipTests } from "./testing";
import { type Run, webRunRecord } from "./views";

const WIDTH = 4;
const HEIGHT = 3;
const COLORS = [
  [200, 30, 30],
  [30, 200, 30],
  [30, 30, 200],
  [240, 200, 10],
] as const;

/** A done 2 × 2 geodesic run on a caption; cell i's image is the sha256-like string of i's digit. */
function doneRun(): Run {
  const cell = (index: number) => {
    const row = Math.floor(index / 2);
    return {
      index,
      row,
      col: index % 2,
      lambda: null,
      quantileTarget: null,
      angleTarget: row === 0 ? 0 : 36.5,
      T: 10 + index,
      q: row === 0 ? 0 : 0.9 + index / 100,
      nll: -80 + index,
      cosineToMean: 1 - index / 10,
      l2FromMean: index / 4,
      decoderAngle: row === 0 ? 0 : 36 + index,
      decoderDistance: index / 2,
      decoderQuantile: row === 0 ? 0 : 0.9 + index / 50,
      image: String(index).repeat(64),
    };
  };
  return {
    id: "0123456789ab",
    status: "done",
    error: null,
    createdAt: "2026-03-14T15:09:00.000Z",
    startedAt: "2026-03-14T15:09:01.000Z",
    finishedAt: "2026-03-14T15:09:27.000Z",
    publishedAt: null,
    preset: { name: "shapes", digest: "fedcba9876543210".repeat(4) },
    request: {
      input: { kind: "caption", text: "a red shape" },
      plan: { kind: "geodesic", fractions: [0, 1], tail: 0.95 },
      cols: 2,
      seed: 3,
      steps: 4,
      guidanceScale: 3,
      noiseLevel: 0,
      scheduler: "ddim",
      prompt: "",
    },
    rows: 2,
    cols: 2,
    imageSize: { width: WIDTH, height: HEIGHT },
    description: {
      modality: "text",
      dim: 64,
      uncertainty: 0.00507408,
      logUncertainty: Math.log(0.00507408),
      percentile: 45.74,
      radiusShape: 32.37,
      embeddingNorm: 1,
      alpha: [0.5, 0.25],
      beta: [2, 1.5],
      bridge: null,
      input: { kind: "caption", text: "a red shape", tokens: 5, truncated: false },
      decoder: { sampleAngleMedian: 30.2, tailAngle: 36.5, tailQuantile: 0.95 },
      epistemic: null,
      outOfDistribution: { flagged: true, reasons: ["far away"], unknownWords: [] },
    },
    providers: { unet: { provider: "cpu", skipped: [] } },
    cells: [0, 1, 2, 3].map(cell),
    progress: { evaluation: 0, evaluations: 0, cellsDone: 4, cellsTotal: 4, etaSeconds: null },
    timings: { describeMs: 12.5, decodeMs: 1500, totalMs: 1512.5 },
  };
}

/** Each cell's pixels, as the engine decoded them: one colour per cell. */
function decodedCells(run: Run) {
  return run.cells.map((cell) => ({
    row: cell.row,
    col: cell.col,
    rgb: new Uint8Array(WIDTH * HEIGHT * 3).map((_, i) => COLORS[cell.index][i % 3]),
    width: WIDTH,
    height: HEIGHT,
  }));
}

/** The run's stored cell PNGs, by sha256. */
async function storedImages(run: Run): Promise<(sha256: string) => Promise<Uint8Array>> {
  const decoded = decodedCells(run);
  const pngs = new Map(await Promise.all(run.cells.map(async (cell, i) => [cell.image ?? "", await encodeImage(decoded[i], "png")] as const)));
  return async (sha256) => pngs.get(sha256) ?? Promise.reject(new Error(`no image ${sha256}`));
}

const titleOf = (run: Run) => ({
  inputLabel: '"a red shape"',
  uncertainty: 0.00507408,
  percentile: 45.74,
  outOfDistribution: true,
  presetName: run.preset.name,
  settings: run.request,
});

describe("runGridPng", () => {
  it("is the grid renderGridPng draws from the cells' decoded pixels, as the CLI calls it", async () => {
    const run = doneRun();
    const web = await runGridPng(run, await storedImages(run));
    const direct = await renderGridPng({ images: decodedCells(run), rows: 2, cols: 2, plan: run.request.plan, metrics: run.cells, title: titleOf(run), record: webRunRecord(run) });
    expect(web.equals(direct)).toBe(true);
  });

  it("carries the web record less its timings, the title and the software as PNG text, and each cell's pixels in its place", async () => {
    const run = doneRun();
    const png = await runGridPng(run, await storedImages(run));
    const text = readPngText(png);
    expect(Object.keys(text)).toEqual([RUN_KEY, "Title", "Software"]);
    const { timings: _timings, ...embedded } = webRunRecord(run);
    expect(JSON.parse(text[RUN_KEY])).toEqual(embedded);
    expect(text.Title).toBe('"a red shape" · uncertainty 0.005074 (p46) · outside the preset · shapes · seed 3 · 4 steps ddim · guidance 3');
    expect(text.Software).toBe("Penumbra");

    const layout = gridLayout({ rows: 2, cols: 2, rowLabels: ["row 0  θ = 0°     mean", "row 1  θ = 36.5°  q_dec ≈ 0.95"], colLabels: ["sample 1", "sample 2"], title: text.Title }, WIDTH, HEIGHT);
    const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([layout.width, layout.height]);
    for (const cell of run.cells) {
      const at = ((layout.rowTops[cell.row] + 1) * info.width + layout.columnLefts[cell.col] + 1) * 3;
      expect([...data.subarray(at, at + 3)]).toEqual([...COLORS[cell.index]]);
    }
  });

  it("is the same bytes for the same run however long it took: the timings stay in the JSON record", async () => {
    const run = doneRun();
    const slower: Run = { ...run, finishedAt: "2026-03-14T15:10:27.000Z", timings: { describeMs: 13, decodeMs: 61_500, totalMs: 61_513 } };
    const png = await runGridPng(run, await storedImages(run));
    expect(png.equals(await runGridPng(slower, await storedImages(slower)))).toBe(true);
  });

  it("names an uploaded image by the start of its hash", async () => {
    const run = doneRun();
    const imageRun: Run = { ...run, request: { ...run.request, input: { kind: "image", upload: "ab".repeat(32), width: 8, height: 8, type: "image/png" } } };
    const text = readPngText(await runGridPng(imageRun, await storedImages(run)));
    expect(text.Title).toMatch(/^image abababababab · uncertainty/);
    expect(JSON.parse(text[RUN_KEY]).request.input).toEqual({ kind: "image", file: null, sha256: "ab".repeat(32) });
  });

  it("refuses a run that has no record yet", async () => {
    const run: Run = { ...doneRun(), status: "running", timings: null };
    await expect(runGridPng(run, await storedImages(run))).rejects.toThrow(/has no record before it is done/);
  });
});

describe("runPngText", () => {
  it("holds the record as JSON without its timings, then the title and the software", () => {
    const { timings: _timings, ...embedded } = webRunRecord(doneRun());
    expect(runPngText(webRunRecord(doneRun()), "t")).toEqual({ [RUN_KEY]: JSON.stringify(embedded), Title: "t", Software: "Penumbra" });
  });
});

describe("runCellsZip", () => {
  const standInImage = async (sha256: string) => Buffer.from(`png of ${sha256.slice(0, 1)}`);

  it("holds each cell's stored PNG and run.json, dated when the run finished", async () => {
    const run = doneRun();
    const zip = await runCellsZip(run, standInImage);
    const entries = readZip(zip);
    expect(entries.map((entry) => entry.name)).toEqual(["row0-sample1.png", "row0-sample2.png", "row1-sample1.png", "row1-sample2.png", "run.json"]);
    expect(entries[2].data.toString()).toBe("png of 2");
    expect(JSON.parse(entries[4].data.toString())).toEqual(webRunRecord(run));
    expect(entries[0]).toMatchObject({ time: (15 << 11) | (9 << 5) | 13, date: (46 << 9) | (3 << 5) | 14 });
    if (existsSync("/usr/bin/unzip")) expect(await unzipTests(zip)).toBe(true);
  });

  it("is the same bytes every time for the same run: entries are dated by the run, not by the clock", async () => {
    const first = await runCellsZip(doneRun(), standInImage);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await runCellsZip(doneRun(), standInImage)).equals(first)).toBe(true);
  });
});

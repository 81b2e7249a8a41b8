import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { interpolateResult, shellResult } from "./fixtures";
import { cellMetrics, gridLabels, rowLabels, runRecord } from "./run-record";

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

describe("labels", () => {
  it("aligns λ row labels and shows each row's mean q", () => {
    expect(rowLabels(interpolateResult())).toEqual(["λ = 0    mean", "λ = 1.5  q ≈ 0.95"]);
  });

  it("labels shell rows by their quantile", () => {
    expect(rowLabels(shellResult())).toEqual(["q = 0.01", "q = 0.5", "q = 0.99"]);
  });

  it("titles the grid with the input and uncertainty first", () => {
    const labels = gridLabels(interpolateResult());
    expect(labels).toMatchObject({ rows: 2, cols: 2, colLabels: ["col 0", "col 1"] });
    expect(labels.title).toBe('"a \\"red\\" shape, maybe" · uncertainty 0.005074 (p46) · shapes · seed 7 · 20 steps pndm · guidance 3');
    expect(gridLabels(shellResult(), { path: "cat.png", bytes: new Uint8Array() }).title).toMatch(/^cat\.png · uncertainty 0\.01230 \(p100\)/);
  });

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

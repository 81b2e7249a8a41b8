import { describe, expect, it } from "vitest";
import { runAdapter, scaleForAdapter, summarizeUncertainty, toDecoderSpace } from "./adapter";
import { encodeTexts, loadTokenizer } from "./encoders";
import { EngineError } from "./errors";
import { aleatoricUncertainty } from "./ggd";
import { contractDims } from "./contract";
import { openModel } from "./onnx";
import { type BridgeConfig, loadPreset, resolvePresetDir } from "./preset";

const preset = loadPreset(resolvePresetDir("shapes"));
const { config } = preset;

function norm(x: ArrayLike<number>): number {
  return Math.sqrt(Array.from(x).reduce((s, v) => s + v * v, 0));
}

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  for (let j = 0; j < a.length; j++) dot += a[j] * b[j];
  return dot / (norm(a) * norm(b));
}

describe("input scaling", () => {
  const raw = Float32Array.of(3, 4);
  it("keeps raw embeddings, or scales them to length 1 or 100", () => {
    expect([...scaleForAdapter(raw, "raw")]).toEqual([3, 4]);
    expect([...scaleForAdapter(raw, "l2")]).toEqual([Math.fround(0.6), Math.fround(0.8)]);
    expect([...scaleForAdapter(raw, "l2x100")]).toEqual([60, 80]);
  });

  it("refuses to normalise the zero vector", () => {
    expect(() => scaleForAdapter(new Float32Array(2), "l2")).toThrow(EngineError);
  });
});

describe("decoder space", () => {
  const gapShift: BridgeConfig = { type: "gap-shift", textMean: [1, 0, 0], imageMean: [0, 2, 0], imageNorm: 5 };
  const x = [1, 1, 1];

  it("bridges a caption point by the gap between the means, then restores the image norm", () => {
    const y = toDecoderSpace(x, { modality: "text", bridge: gapShift, inputScale: "l2", rawNorm: 123 });
    // x − textMean + imageMean = [0, 3, 1], scaled to length 5.
    expect(norm(y)).toBeCloseTo(5, 5);
    expect(cosine(y, [0, 3, 1])).toBeCloseTo(1, 6);
  });

  it("gives an image point (or an unbridged caption) the input's own raw norm", () => {
    for (const space of [
      { modality: "image" as const, bridge: gapShift, inputScale: "l2x100" as const, rawNorm: 7 },
      { modality: "text" as const, bridge: { type: "none" } as const, inputScale: "l2" as const, rawNorm: 7 },
    ]) {
      const y = toDecoderSpace(x, space);
      expect(norm(y)).toBeCloseTo(7, 5);
      expect(cosine(y, x)).toBeCloseTo(1, 6);
    }
  });

  it("uses a raw-scale point as it is", () => {
    expect([...toDecoderSpace(x, { modality: "image", bridge: gapShift, inputScale: "raw", rawNorm: 99 })]).toEqual(x);
  });

  it("rejects a bridge of another dimension", () => {
    expect(() => toDecoderSpace([1, 2], { modality: "text", bridge: gapShift, inputScale: "l2", rawNorm: 1 })).toThrow(/bridge has 3 dimensions/);
  });
});

describe("the shapes adapter", () => {
  it("turns a caption into a clamped generalized Gaussian with a ranked uncertainty", async () => {
    const dims = contractDims(config);
    const options = { providers: ["cpu"] as const, threads: 2 };
    const clipText = await openModel("clipText", await preset.filePath("clipText"), dims, options);
    const adapter = await openModel("adapterText", await preset.filePath("adapterText"), dims, options);
    const captions = ["a red circle", "a small blue square at the bottom right on white"];
    const raw = await encodeTexts(clipText, loadTokenizer(preset, config.tokenizer), captions);
    const dists = await runAdapter(adapter, raw.map((r) => scaleForAdapter(r, config.adapter.inputScale.text)), config.adapter);
    expect(dists).toHaveLength(2);
    for (const dist of dists) {
      expect(dist.mu).toHaveLength(64);
      for (let j = 0; j < 64; j++) {
        expect(dist.alpha[j]).toBeGreaterThanOrEqual(Math.fround(config.adapter.alphaClamp[0]));
        expect(dist.alpha[j]).toBeLessThanOrEqual(Math.fround(config.adapter.alphaClamp[1]));
        expect(dist.beta[j]).toBeGreaterThanOrEqual(Math.fround(config.adapter.betaClamp[0]));
        expect(dist.beta[j]).toBeLessThanOrEqual(Math.fround(config.adapter.betaClamp[1]));
      }
      const summary = summarizeUncertainty(dist, config.uncertainty.text);
      expect(summary.uncertainty).toBeCloseTo(aleatoricUncertainty(dist), 12);
      expect(summary.variance).toHaveLength(64);
      expect(summary.percentile).toBeGreaterThanOrEqual(0);
      expect(summary.percentile).toBeLessThanOrEqual(100);
    }
    // One batch gives what two single runs give.
    const [single] = await runAdapter(adapter, [scaleForAdapter(raw[1], config.adapter.inputScale.text)], config.adapter);
    for (let j = 0; j < 64; j++) expect(single.mu[j]).toBeCloseTo(dists[1].mu[j], 5);
  });
});

import { beforeAll, describe, expect, it } from "vitest";
import { loadTokenizer, promptHiddenStates } from "./encoders";
import { EngineError } from "./errors";
import { contractDims, type ModelKey } from "./contract";
import { openModel } from "./onnx";
import { loadPreset, resolvePresetDir } from "./preset";
import { Rng } from "./random";
import { batchPlan, type DecodeOptions, decodeEmbeddings, type DecodeProgress, type UnclipDecoder } from "./unclip";

const preset = loadPreset(resolvePresetDir("shapes"));
const { config } = preset;
const D = config.embedding.dim;

async function open(key: ModelKey) {
  return openModel(key, await preset.filePath(key), contractDims(config), { providers: ["cpu"], threads: 2 });
}

let decoder: UnclipDecoder;
let baseOptions: DecodeOptions;

/** Decoder-space-like embeddings: random directions with the preset's image norm. */
function embeddings(count: number, seed: number): Float32Array[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => {
    const e = new Float32Array(D);
    rng.fillNormal(e);
    const length = Math.hypot(...e);
    return e.map((v) => (v / length) * 0.98);
  });
}

function maxDifference(a: Uint8Array, b: Uint8Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

beforeAll(async () => {
  decoder = {
    unet: await open("unet"),
    vaeDecoder: await open("vaeDecoder"),
    latent: config.latent,
    imageSize: config.image.size,
    normalizer: config.noiseAugmentation,
  };
  const empty = await promptHiddenStates(await open("promptEncoder"), loadTokenizer(preset, config.tokenizer), "");
  baseOptions = {
    steps: 4,
    guidanceScale: config.defaults.guidanceScale,
    noiseLevel: 0,
    scheduler: config.scheduler,
    prompt: { cond: empty, uncond: empty },
    noiseStream: (index) => new Rng(7).fork(index),
    maxBatch: config.limits.maxBatch,
  };
});

describe("decodeEmbeddings", () => {
  it("decodes each embedding to an RGB image of the preset's size, reproducibly", async () => {
    const inputs = embeddings(3, 1);
    const first = await decodeEmbeddings(decoder, inputs, baseOptions);
    const second = await decodeEmbeddings(decoder, inputs, baseOptions);
    expect(first).toHaveLength(3);
    for (const image of first) {
      expect([image.width, image.height, image.rgb.length]).toEqual([64, 64, 64 * 64 * 3]);
    }
    expect(second.map((image) => Buffer.from(image.rgb))).toEqual(first.map((image) => Buffer.from(image.rgb)));
    expect(maxDifference(first[0].rgb, first[1].rgb)).toBeGreaterThan(0);
  });

  it("gives equal noise streams equal images, and splits batches without changing results", async () => {
    const [e] = embeddings(1, 2);
    const sameColumn = { ...baseOptions, noiseStream: () => new Rng(11) };
    const together = await decodeEmbeddings(decoder, [e, e, e], sameColumn);
    expect(Buffer.from(together[1].rgb)).toEqual(Buffer.from(together[0].rgb));
    // maxBatch 2 holds one guided pair: three batches of one instead of one batch of three.
    const steps: DecodeProgress[] = [];
    const apart = await decodeEmbeddings(decoder, [e, e, e], { ...sameColumn, maxBatch: 2, onStep: (p) => steps.push(p) });
    for (let i = 0; i < 3; i++) expect(maxDifference(apart[i].rgb, together[i].rgb)).toBeLessThanOrEqual(1);
    // PNDM runs steps + 1 UNet evaluations per batch.
    expect(steps.map((p) => p.evaluation)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    expect(new Set(steps.map((p) => `${p.evaluations}/${p.batches}`))).toEqual(new Set(["15/3"]));
    // Each step names the embeddings its batch is denoising.
    expect(steps.map((p) => p.activeCells)).toEqual(Array.from({ length: 15 }, (_, i) => [Math.floor(i / 5)]));
  });

  it("skips the unconditional half at guidance 1 with the same result", async () => {
    const inputs = embeddings(2, 3);
    const options = { ...baseOptions, guidanceScale: 1, scheduler: { ...config.scheduler, type: "ddim" as const } };
    const single = await decodeEmbeddings(decoder, inputs, options);
    const pairs = await decodeEmbeddings(decoder, inputs, { ...options, guidanceScale: 1 + 1e-9 });
    for (let i = 0; i < 2; i++) expect(maxDifference(single[i].rgb, pairs[i].rgb)).toBeLessThanOrEqual(1);
  });

  it("reports each image as it is ready", async () => {
    const seen: number[] = [];
    const images = await decodeEmbeddings(decoder, embeddings(3, 4), { ...baseOptions, maxBatch: 4, onCell: (index) => seen.push(index) });
    expect(seen).toEqual([0, 1, 2]);
    expect(images).toHaveLength(3);
  });

  it("decodes the lead cells in a batch of their own, first, with the same images", async () => {
    const inputs = embeddings(3, 4);
    const batchesSeen: number[] = [];
    const seen: number[] = [];
    const led = await decodeEmbeddings(decoder, inputs, {
      ...baseOptions,
      leadBatch: 1,
      onCell: (index) => seen.push(index),
      onStep: (p) => batchesSeen.push(p.batches),
    });
    expect(seen).toEqual([0, 1, 2]);
    expect(new Set(batchesSeen)).toEqual(new Set([2]));
    const together = await decodeEmbeddings(decoder, inputs, baseOptions);
    for (let i = 0; i < 3; i++) expect(maxDifference(led[i].rgb, together[i].rgb)).toBeLessThanOrEqual(1);
  });

  it("stops between UNet calls when cancelled and returns nothing", async () => {
    const controller = new AbortController();
    const cells: number[] = [];
    let evaluations = 0;
    const result = decodeEmbeddings(decoder, embeddings(2, 5), {
      ...baseOptions,
      signal: controller.signal,
      onStep: () => {
        evaluations++;
        controller.abort();
      },
      onCell: (index) => cells.push(index),
    });
    const error = await result.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EngineError);
    expect((error as EngineError).code).toBe("cancelled");
    expect(evaluations).toBe(1);
    expect(cells).toEqual([]);
  });

  it("rejects embeddings of the wrong size and non-finite guidance", async () => {
    await expect(decodeEmbeddings(decoder, [new Float32Array(D - 1)], baseOptions)).rejects.toThrow(/embedding 0 has 63 values/);
    await expect(decodeEmbeddings(decoder, embeddings(1, 6), { ...baseOptions, guidanceScale: Number.NaN })).rejects.toThrow(/guidanceScale/);
  });
});

describe("batchPlan", () => {
  it("splits evenly within the per-call limit", () => {
    expect(batchPlan(20, 16)).toEqual([Array.from({ length: 10 }, (_, i) => i), Array.from({ length: 10 }, (_, i) => 10 + i)]);
    expect(batchPlan(3, 16)).toEqual([[0, 1, 2]]);
  });

  it("puts the lead cells alone in the first batch, then splits the rest evenly", () => {
    const plan = batchPlan(20, 16, 4);
    expect(plan.map((b) => b.length)).toEqual([4, 16]);
    expect(plan.flat()).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(batchPlan(40, 16, 4).map((b) => b.length)).toEqual([4, 12, 12, 12]);
  });

  it("ignores a lead that is zero, covers everything, or exceeds a call", () => {
    expect(batchPlan(4, 16, 4)).toEqual([[0, 1, 2, 3]]);
    expect(batchPlan(6, 16, 0)).toEqual([[0, 1, 2, 3, 4, 5]]);
    expect(batchPlan(40, 16, 20).map((b) => b.length)).toEqual([16, 12, 12]);
  });
});

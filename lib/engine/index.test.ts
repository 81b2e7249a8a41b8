import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import sharp from "sharp";
import { beforeAll, describe, expect, it } from "vitest";
import { MODEL_KEYS } from "./contract";
import { DEFAULT_FRACTIONS, DEFAULT_LAMBDAS, DEFAULT_SHELL_QUANTILES, DEFAULT_TAIL, FINE_LAMBDAS } from "./deviation";
import { encodeImage } from "./images";
import { type Engine, EngineError, openPreset, type RunRequest } from "./index";
import { resolvePresetDir, sha256File } from "./preset";
import { foregroundColour, isMostlyColour } from "./testing";

const SHAPES_DIR = resolvePresetDir("shapes");
const SHAPES_JSON = JSON.parse(readFileSync(path.join(SHAPES_DIR, "preset.json"), "utf8"));
/** The semantic tests only mean something on the trained preset, not on a --quick smoke build. */
const QUICK_BUILD = SHAPES_JSON.provenance.quick !== false;

let engine: Engine;
beforeAll(async () => {
  engine = await openPreset("shapes", { providers: ["cpu"], threads: 2 });
});

/** A small, fast request: 2 rows × 2 columns at 4 steps. */
function smallRequest(overrides: Partial<RunRequest> = {}): RunRequest {
  return { input: { kind: "caption", text: "a red circle" }, plan: { kind: "interpolate", lambdas: [0, 1] }, cols: 2, steps: 4, seed: 5, ...overrides };
}

/** A picture in the style of the shapes world (world.py): a coloured disc on a dark background. */
function shapesPng(): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64" fill="rgb(28,28,34)"/><circle cx="18" cy="18" r="15" fill="rgb(220,35,35)"/></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

async function rejection(promise: Promise<unknown>): Promise<EngineError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(EngineError);
  return error as EngineError;
}

describe("openPreset", () => {
  it("opens the bundled preset and reports where each model runs", () => {
    const providers = engine.providers();
    expect(Object.keys(providers).sort()).toEqual([...MODEL_KEYS].sort());
    for (const key of MODEL_KEYS) expect(providers[key].provider).toBe("cpu");
    expect(engine.config.name).toBe("shapes");
    expect(engine.preset.digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it("refuses an unknown preset, listing the ones there are", async () => {
    const error = await rejection(openPreset("no-such-preset"));
    expect(error.code).toBe("not_found");
    expect(error.message).toContain("shapes");
  });

  it("refuses a preset whose model breaks the contract, naming the file and the tensor", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "penumbra-wrong-unet-"));
    for (const key of MODEL_KEYS) symlinkSync(path.join(SHAPES_DIR, SHAPES_JSON.files[key].path), path.join(dir, SHAPES_JSON.files[key].path));
    symlinkSync(path.join(SHAPES_DIR, "tokenizer"), path.join(dir, "tokenizer"));
    const adapter = path.join(dir, "adapter_text.onnx");
    const config = { ...SHAPES_JSON, files: { ...SHAPES_JSON.files, unet: { path: "adapter_text.onnx", sha256: await sha256File(adapter) } } };
    writeFileSync(path.join(dir, "preset.json"), JSON.stringify(config));
    const error = await rejection(openPreset(dir, { providers: ["cpu"], threads: 2 }));
    expect(error.code).toBe("invalid_preset");
    expect(error.message).toContain(adapter);
    expect(error.message).toContain('missing input "sample"');
  });
});

describe("describe", () => {
  it("gives a caption's distribution, uncertainty and percentile", async () => {
    const description = await engine.describe({ kind: "caption", text: "a red circle" });
    expect(description.input).toEqual({ kind: "caption", text: "a red circle", tokens: 5, truncated: false });
    expect(description.modality).toBe("text");
    expect(description.distribution.mu).toHaveLength(64);
    expect(description.variance).toHaveLength(64);
    expect(description.uncertainty).toBeGreaterThan(0);
    expect(description.percentile).toBeGreaterThanOrEqual(0);
    expect(description.percentile).toBeLessThanOrEqual(100);
    expect(description.decoderSpace.bridge.type).toBe(SHAPES_JSON.bridge.type);
  });

  it("gives an image's distribution, keeping its raw norm for decoding", async () => {
    const description = await engine.describe({ kind: "image", bytes: await shapesPng() });
    expect(description.input).toEqual({ kind: "image", format: "png", width: 64, height: 64 });
    expect(description.modality).toBe("image");
    expect(description.decoderSpace.rawNorm).toBeCloseTo(description.embeddingNorm, 10);
  });

  it("validates its input like a run request", async () => {
    for (const input of [{ kind: "caption", text: " " }, { kind: "caption", text: "x".repeat(301) }, { kind: "image", bytes: "not bytes" }, { kind: "sound" }]) {
      const error = await rejection(engine.describe(input as never));
      expect(error.code).toBe("invalid_input");
    }
  });
});

describe("planGrid", () => {
  it("lays out rows by deviation with metrics and decoder-space embeddings", async () => {
    const description = await engine.describe({ kind: "caption", text: "a blue square" });
    const grid = engine.planGrid(description, { kind: "interpolate", lambdas: [0, 1, 2], cols: 3 }, 9);
    expect([grid.rows, grid.cols, grid.cells.length]).toEqual([3, 3, 9]);
    for (const cell of grid.cells.slice(0, 3)) {
      expect(cell).toMatchObject({ row: 0, lambda: 0, T: 0, cosineToMean: expect.closeTo(1, 6), l2FromMean: 0 });
    }
    const norm = (x: Float32Array) => Math.hypot(...x);
    if (SHAPES_JSON.bridge.type === "gap-shift") {
      for (const cell of grid.cells) expect(norm(cell.decoderEmbedding)).toBeCloseTo(SHAPES_JSON.bridge.imageNorm, 4);
    }
    expect(grid.cells[7].l2FromMean).toBeCloseTo(2 * grid.cells[4].l2FromMean, 4);
  });

  it("enforces the preset's row and column limits", async () => {
    const description = await engine.describe({ kind: "caption", text: "a blue square" });
    expect(() => engine.planGrid(description, { kind: "interpolate", lambdas: [0], cols: 9 }, 0)).toThrow(/9 columns; the limit is 8/);
    expect(() => engine.planGrid(description, { kind: "shell", quantiles: Array(10).fill(0.5), cols: 1 }, 0)).toThrow(/10 rows; the limit is 9/);
  });
});

describe("decodeCells", () => {
  it("decodes a planned grid, conditioning on the prompt when one is given", async () => {
    const description = await engine.describe({ kind: "caption", text: "a green cross" });
    const grid = engine.planGrid(description, { kind: "interpolate", lambdas: [0.5], cols: 1 }, 3);
    const plain = await engine.decodeCells(grid, { steps: 2 });
    const prompted = await engine.decodeCells(grid, { steps: 2, prompt: "a green cross" });
    expect(plain).toHaveLength(1);
    expect(Buffer.from(prompted[0].rgb)).not.toEqual(Buffer.from(plain[0].rgb));
  });

  it("validates its settings against the preset", async () => {
    const description = await engine.describe({ kind: "caption", text: "a green cross" });
    const grid = engine.planGrid(description, { kind: "interpolate", lambdas: [0], cols: 1 }, 3);
    for (const settings of [{ steps: 0 }, { steps: 101 }, { guidanceScale: Number.NaN }, { scheduler: "euler" }, { noiseLevel: -1 }]) {
      const error = await rejection(engine.decodeCells(grid, settings as never));
      expect(error.code).toBe("invalid_input");
      expect(error.message).toContain(Object.keys(settings)[0]);
    }
  });
});

describe("decoder geometry", () => {
  it("measures every cell where the decoder reads it and walks geodesic rows in equal angles", async () => {
    const description = await engine.describe({ kind: "caption", text: "a red shape" });
    const grid = engine.planGrid(description, { kind: "geodesic", fractions: [0, 0.25, 0.5, 0.75, 1], tail: 0.95, cols: 3 }, 4);
    expect(grid.decoder.tailQuantile).toBe(0.95);
    expect(grid.decoder.tailAngle).toBeGreaterThan(grid.decoder.sampleAngleMedian);
    for (const cell of grid.cells) {
      expect(cell.angleTarget).toBeCloseTo([0, 0.25, 0.5, 0.75, 1][cell.row] * grid.decoder.tailAngle, 9);
      // float32 rounding of the decoded point moves its angle by far less than a thousandth of a degree
      expect(cell.decoderAngle).toBeCloseTo(cell.angleTarget!, 3);
      expect(cell.decoderQuantile).toBeGreaterThanOrEqual(0);
    }
    const row = (r: number) => grid.cells.filter((cell) => cell.row === r);
    expect(row(0).every((cell) => cell.lambda === 0 && cell.decoderAngle === 0 && cell.decoderQuantile === 0 && cell.decoderDistance === 0)).toBe(true);
    // The last row sits at the 95% tail of plain samples' angles, so about 0.95 of them lie closer.
    for (const cell of row(4)) expect(cell.decoderQuantile).toBeCloseTo(0.95, 1);
    // Rows further out need larger λ along the same column's ray.
    for (let col = 0; col < 3; col++) {
      const lambdas = [0, 1, 2, 3, 4].map((r) => grid.cells[r * 3 + col].lambda!);
      lambdas.forEach((lambda, i) => i > 0 && expect(lambda).toBeGreaterThan(lambdas[i - 1]));
    }
  });

  it("uses the interpolate plan's rays: a geodesic cell lies on its column's λ ray", async () => {
    const description = await engine.describe({ kind: "caption", text: "a circle" });
    const geodesic = engine.planGrid(description, { kind: "geodesic", fractions: [0.5], tail: 0.95, cols: 2 }, 9);
    const lambdas = geodesic.cells.map((cell) => cell.lambda!);
    const interpolate = engine.planGrid(description, { kind: "interpolate", lambdas, cols: 2 }, 9);
    // Same seed, same base samples: the interpolate cell at the geodesic λ of column 0 is the same point.
    expect(Array.from(interpolate.cells[0].embedding)).toEqual(Array.from(geodesic.cells[0].embedding));
    expect(interpolate.cells[0].decoderAngle).toBeCloseTo(geodesic.cells[0].decoderAngle, 9);
  });
});

describe("out of distribution", () => {
  const REPEATED = "red ".repeat(74).trim();

  it("keeps the uncertainty finite in logs for inputs that drive β to its floor, and flags them", async () => {
    for (const text of [REPEATED, "a small blue star on the right"]) {
      const description = await engine.describe({ kind: "caption", text });
      expect(Number.isFinite(description.uncertainty)).toBe(true);
      expect(Number.isFinite(description.logUncertainty)).toBe(true);
      expect(description.logUncertainty).toBeCloseTo(Math.log(description.uncertainty), 9);
      expect(description.percentile).toBe(100);
      // Beyond the flag quantile of held-out captions (0.99), so the epistemic score alone flags it too.
      expect(description.epistemic!.aboveReference).toBe(true);
      expect(description.epistemic!.percentile).toBeGreaterThanOrEqual(99);
      expect(description.outOfDistribution.flagged).toBe(true);
    }
    const repeated = await engine.describe({ kind: "caption", text: REPEATED });
    expect(repeated.outOfDistribution.reasons.some((reason) => reason.startsWith("74 words, longer than any caption"))).toBe(true);
    const star = await engine.describe({ kind: "caption", text: "a small blue star on the right" });
    expect(star.outOfDistribution.unknownWords).toEqual(["star"]);
  });

  it("names the unknown words of a caption from outside the world, and flags none of an in-world caption", async () => {
    const dog = await engine.describe({ kind: "caption", text: "a photograph of a dog" });
    expect(dog.outOfDistribution).toMatchObject({ flagged: true, unknownWords: ["photograph", "of", "dog"] });
    // The aleatoric scalar alone cannot tell: the dog is "less uncertain" than a vague in-world caption.
    const redShape = await engine.describe({ kind: "caption", text: "a red shape" });
    expect(dog.uncertainty).toBeLessThan(redShape.uncertainty);
    const circle = await engine.describe({ kind: "caption", text: "a red circle at the top left" });
    expect(circle.outOfDistribution).toEqual({ flagged: false, reasons: [], unknownWords: [] });
    expect(circle.epistemic!.score).toBeLessThan(dog.epistemic!.score);
  });

  it("scores images against the training images, with no vocabulary check", async () => {
    const description = await engine.describe({ kind: "image", bytes: await shapesPng() });
    expect(description.vocabulary).toBeNull();
    expect(description.epistemic!.score).toBeGreaterThanOrEqual(0);
    expect(description.outOfDistribution.unknownWords).toEqual([]);
  });
});

describe("run", () => {
  it("fills defaults from the preset and spells the plan out", () => {
    const normalized = engine.normalize({ input: { kind: "caption", text: "a shape" } });
    expect(normalized).toEqual({
      input: { kind: "caption", text: "a shape" },
      plan: { kind: "geodesic", fractions: [...DEFAULT_FRACTIONS], tail: DEFAULT_TAIL },
      cols: 4,
      seed: 0,
      steps: SHAPES_JSON.defaults.steps,
      guidanceScale: SHAPES_JSON.defaults.guidanceScale,
      noiseLevel: SHAPES_JSON.defaults.noiseLevel,
      scheduler: SHAPES_JSON.scheduler.type,
      prompt: "",
    });
    const rows = (plan: RunRequest["plan"]) => engine.normalize({ input: { kind: "caption", text: "x" }, plan }).plan;
    expect(rows({ kind: "interpolate", rows: 5 })).toEqual({ kind: "interpolate", lambdas: [...DEFAULT_LAMBDAS] });
    expect(rows({ kind: "interpolate", rows: 9 })).toEqual({ kind: "interpolate", lambdas: [...FINE_LAMBDAS] });
    expect(rows({ kind: "shell", rows: 5 })).toEqual({ kind: "shell", quantiles: [...DEFAULT_SHELL_QUANTILES] });
    expect(rows({ kind: "shell" })).toEqual({ kind: "shell", quantiles: [...DEFAULT_SHELL_QUANTILES] });
    expect(rows({ kind: "geodesic", rows: 3 })).toEqual({ kind: "geodesic", fractions: [0, 0.5, 1], tail: DEFAULT_TAIL });
    expect(rows({ kind: "geodesic", fractions: [0, 1.5], tail: 0.5 })).toEqual({ kind: "geodesic", fractions: [0, 1.5], tail: 0.5 });
    for (const plan of [{ kind: "geodesic", fractions: [0, 2.5] }, { kind: "geodesic", tail: 1 }, { kind: "geodesic", rows: 3, fractions: [0, 1] }]) {
      expect(() => rows(plan as RunRequest["plan"])).toThrow(/invalid run request: plan/);
    }
  });

  it("runs a caption into a grid of images with per-cell metrics", async () => {
    const result = await engine.run(smallRequest());
    expect(result.preset).toEqual({ name: "shapes", digest: engine.preset.digest });
    expect([result.rows, result.cols, result.cells.length]).toEqual([2, 2, 4]);
    expect(result.request.plan).toEqual({ kind: "interpolate", lambdas: [0, 1] });
    expect(result.description).toMatchObject({ input: { kind: "caption" }, dim: 64 });
    for (const cell of result.cells) {
      expect(cell).toMatchObject({ width: 64, height: 64, quantileTarget: null });
      expect(cell.rgb).toHaveLength(64 * 64 * 3);
      expect(Number.isFinite(cell.nll)).toBe(true);
    }
    expect(result.cells[2]).toMatchObject({ row: 1, col: 0, lambda: 1 });
    expect(result.cells[2].q).toBeGreaterThan(0);
    expect(result.timings.totalMs).toBeGreaterThanOrEqual(result.timings.decodeMs);
    // Row 0 is the mean in both columns; only the diffusion noise differs.
    expect(Buffer.from(result.cells[0].rgb)).not.toEqual(Buffer.from(result.cells[1].rgb));
  });

  it("gives the same bytes for the same request and seed", async () => {
    const request = smallRequest({ plan: { kind: "shell", quantiles: [0.1, 0.9] }, scheduler: "dpmpp2m" });
    const [a, b] = [await engine.run(request), await engine.run(request)];
    expect(a.cells.map((c) => Buffer.from(c.rgb))).toEqual(b.cells.map((c) => Buffer.from(c.rgb)));
    const pngs = (result: typeof a) => Promise.all(result.cells.map((c) => encodeImage(c, "png")));
    expect(await pngs(a)).toEqual(await pngs(b));
    expect(a.cells.map((c) => c.q)).toEqual(b.cells.map((c) => c.q));
    for (const cell of a.cells) expect(cell.q).toBeCloseTo(cell.quantileTarget!, 6);
    const other = await engine.run({ ...request, seed: 6 });
    expect(other.cells.map((c) => Buffer.from(c.rgb))).not.toEqual(a.cells.map((c) => Buffer.from(c.rgb)));
  });

  it("runs an image through describe and decode", async () => {
    const result = await engine.run(smallRequest({ input: { kind: "image", bytes: await shapesPng() } }));
    expect(result.description.input).toEqual({ kind: "image", format: "png", width: 64, height: 64 });
    expect(result.cells).toHaveLength(4);
  });

  it("stops when cancelled", async () => {
    const controller = new AbortController();
    const error = await rejection(engine.run(smallRequest(), { signal: controller.signal, onStep: () => controller.abort() }));
    expect(error.code).toBe("cancelled");
  });

  const truncatedPng = async () => {
    const noise = Buffer.from(Array.from({ length: 64 * 64 * 3 }, (_, i) => (i * 7919) % 251));
    const png = await sharp(noise, { raw: { width: 64, height: 64, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer();
    return png.subarray(0, png.length / 2);
  };

  it.each<[string, () => Promise<RunRequest> | RunRequest, RegExp]>([
    ["an empty caption", () => smallRequest({ input: { kind: "caption", text: "" } }), /caption is empty/],
    ["a blank caption", () => smallRequest({ input: { kind: "caption", text: "  \n " } }), /caption is empty/],
    ["a 5,000-character caption", () => smallRequest({ input: { kind: "caption", text: "a red circle ".repeat(385).slice(0, 5000) } }), /longer than 300/],
    ["bytes that are not an image", () => smallRequest({ input: { kind: "image", bytes: Buffer.from("GIF? no, text") } }), /not a readable image/],
    ["a truncated PNG", async () => smallRequest({ input: { kind: "image", bytes: await truncatedPng() } }), /truncated or corrupt/],
    ["too many rows", () => smallRequest({ plan: { kind: "interpolate", rows: 10 } }), /plan\.rows/],
    ["too many lambdas", () => smallRequest({ plan: { kind: "interpolate", lambdas: Array(10).fill(1) } }), /plan\.lambdas/],
    ["rows and lambdas together", () => smallRequest({ plan: { kind: "interpolate", rows: 2, lambdas: [0, 1] } }), /not both/],
    ["a quantile of 1", () => smallRequest({ plan: { kind: "shell", quantiles: [0.5, 1] } }), /plan\.quantiles\.1/],
    ["a negative lambda", () => smallRequest({ plan: { kind: "interpolate", lambdas: [-1] } }), /plan\.lambdas\.0/],
    ["too many columns", () => smallRequest({ cols: 9 }), /cols/],
    ["zero steps", () => smallRequest({ steps: 0 }), /steps/],
    ["too many steps", () => smallRequest({ steps: 101 }), /steps/],
    ["fractional steps", () => smallRequest({ steps: 2.5 }), /steps/],
    ["a NaN guidance scale", () => smallRequest({ guidanceScale: Number.NaN }), /guidanceScale/],
    ["an infinite noise level", () => smallRequest({ noiseLevel: Infinity }), /noiseLevel/],
    ["a noise level of 1000", () => smallRequest({ noiseLevel: 1000 }), /noiseLevel/],
    ["a NaN seed", () => smallRequest({ seed: Number.NaN }), /seed/],
    ["a NaN lambda", () => smallRequest({ plan: { kind: "interpolate", lambdas: [0, Number.NaN] } }), /lambdas/],
    ["an unknown scheduler", () => smallRequest({ scheduler: "euler" as never }), /scheduler/],
    ["an unknown field", () => ({ ...smallRequest(), stepz: 3 }) as RunRequest, /stepz/],
  ])("rejects %s with invalid_input and no images", async (_, makeRequest, message) => {
    let cells = 0;
    const error = await rejection(engine.run(await makeRequest(), { onCell: () => cells++ }));
    expect(error.code).toBe("invalid_input");
    expect(error.message).toMatch(message);
    expect(cells).toBe(0);
  });
});

describe.skipIf(QUICK_BUILD)("semantics (trained preset only)", () => {
  it("finds a vague caption more uncertain than a precise one", async () => {
    const vague = await engine.describe({ kind: "caption", text: "an object" });
    const precise = await engine.describe({ kind: "caption", text: "a large red circle at the top left on a dark background" });
    expect(vague.uncertainty).toBeGreaterThan(precise.uncertainty);
    expect(vague.percentile).toBeGreaterThan(precise.percentile);
  });

  it("decodes the mean of 'a red circle' to a mostly red foreground", async () => {
    const result = await engine.run({ input: { kind: "caption", text: "a red circle" }, plan: { kind: "interpolate", lambdas: [0] }, cols: 4, seed: 1 });
    const verdicts = result.cells.map((cell) => foregroundColour(cell.rgb, cell.width));
    expect(result.cells.filter((cell) => isMostlyColour(cell, "red")).length, JSON.stringify(verdicts)).toBeGreaterThanOrEqual(3);
  });
});

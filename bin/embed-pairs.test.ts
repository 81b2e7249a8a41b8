import { execFile, execFileSync } from "node:child_process";
import { appendFileSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Engine, openPreset } from "../lib/engine/index";
import { type CocoFixture, writeCocoFixture } from "./lib/coco-fixture";
import { checkpointDirFor, embedPairs, type EmbedPairsOptions, type EmbedPairsResult, formatEmbedPairsSummary } from "./lib/embed-pairs";
import { runCli } from "./lib/fixtures";

/*
 * embed-pairs end to end on the bundled shapes preset: 12 drawn images (PNG, JPEG, WebP of three
 * sizes), 3 captions each, plus a corrupt file, a missing file and an image without captions.
 */

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const PYTHON = "/usr/bin/python3";
const BATCH = 4;

let dir: string;
let fixture: CocoFixture;
let engine: Engine;
/** The uninterrupted run every other run is compared with. */
let reference: { result: EmbedPairsResult; bytes: Buffer };

function options(out: string, extra: Partial<EmbedPairsOptions> = {}): EmbedPairsOptions {
  return { preset: "shapes", captions: fixture.captionsFile, images: fixture.imagesDir, out, batch: BATCH, checkpointEvery: BATCH, openOptions: { providers: ["cpu"] }, ...extra };
}

/** The pairs file as numpy loads it: shapes, dtypes and values. */
function loadWithNumpy(file: string): Record<string, { shape: number[]; dtype: string; values: number[] }> {
  const script = [
    "import json, sys, numpy as np",
    "with np.load(sys.argv[1]) as d:",
    "    print(json.dumps({k: {'shape': list(d[k].shape), 'dtype': str(d[k].dtype), 'values': d[k].ravel().tolist()} for k in d.files}))",
  ].join("\n");
  return JSON.parse(execFileSync(PYTHON, ["-c", script, file], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 }));
}

function row(values: readonly number[], index: number, dim: number): number[] {
  return values.slice(index * dim, (index + 1) * dim);
}

function expectClose(actual: readonly number[], expected: Float32Array): void {
  expect(actual).toHaveLength(expected.length);
  const worst = Math.max(...actual.map((value, i) => Math.abs(value - expected[i])));
  expect(worst).toBeLessThan(1e-5);
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "penumbra-embed-pairs-"));
  fixture = await writeCocoFixture(path.join(dir, "coco"), { images: 12, captionsPerImage: 3, brokenImages: true, uncaptionedImage: true });
  engine = await openPreset("shapes", { providers: ["cpu"] });
  const out = path.join(dir, "reference.npz");
  const result = await embedPairs(options(out));
  reference = { result, bytes: readFileSync(out) };
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("embed-pairs", () => {
  it("pairs every caption of every readable image, skips the corrupt and missing ones, and removes its checkpoint", () => {
    const { result } = reference;
    expect(result).toMatchObject({
      status: "complete",
      images: 14,
      imagesWithoutCaptions: 1,
      captions: 40,
      imagesDone: 14,
      imagesEmbedded: 12,
      pairs: 36,
      skippedImages: 2,
      droppedCaptions: 4,
      resumedAt: 0,
      dim: 64,
      batch: BATCH,
    });
    expect(result.skippedNamed).toEqual([
      { fileName: "corrupt.jpg", reason: "the bytes are not a readable image; send PNG, JPEG or WebP" },
      { fileName: "missing.jpg", reason: "missing" },
    ]);
    expect(existsSync(checkpointDirFor(result.out))).toBe(false);
    const summary = formatEmbedPairsSummary(result);
    expect(summary).toContain("36 pairs from 12 images, 64-dimensional, preset shapes");
    expect(summary).toContain("skipped 2 images (their 4 captions dropped): corrupt.jpg (the bytes are not a readable image; send PNG, JPEG or WebP), missing.jpg (missing)");
  });

  it("writes the arrays train_adapter.py reads, equal to what the engine's describe embeds for each image and caption", async () => {
    const arrays = loadWithNumpy(reference.result.out);
    const dim = 64;
    expect(Object.keys(arrays)).toEqual(["image_embeds", "text_embeds", "image_ids", "caption_index"]);
    expect(arrays.image_embeds).toMatchObject({ shape: [36, dim], dtype: "float32" });
    expect(arrays.text_embeds).toMatchObject({ shape: [36, dim], dtype: "float32" });
    expect(arrays.image_ids).toMatchObject({ shape: [36], dtype: "int64" });

    // Pairs follow the captions file: image by image, each image's captions in order.
    const expectedIds = fixture.images.flatMap((image) => image.captions.map(() => image.id));
    expect(arrays.image_ids.values).toEqual(expectedIds);
    const annotationText = fixture.json.annotations.map((annotation) => annotation.caption);
    const captions = arrays.caption_index.values.map((index) => annotationText[index]);
    expect(captions).toEqual(fixture.images.flatMap((image) => image.captions));

    let pair = 0;
    for (const image of fixture.images) {
      const bytes = readFileSync(path.join(fixture.imagesDir, image.fileName));
      const { embedding: imageEmbedding } = await engine.describe({ kind: "image", bytes });
      for (const caption of image.captions) {
        expectClose(row(arrays.image_embeds.values, pair, dim), imageEmbedding);
        const { embedding: textEmbedding } = await engine.describe({ kind: "caption", text: caption });
        expectClose(row(arrays.text_embeds.values, pair, dim), textEmbedding);
        pair++;
      }
    }
  });

  it("continues after --stop-after, Ctrl-C and a crash mid-batch, and ends with the same bytes as an uninterrupted run", async () => {
    const out = path.join(dir, "resumed.npz");
    const checkpointDir = checkpointDirFor(out);

    const stopped = await embedPairs(options(out, { stopAfter: 4 }));
    expect(stopped).toMatchObject({ status: "interrupted", imagesDone: 4, pairs: 9 });
    expect(existsSync(out)).toBe(false);
    expect(JSON.parse(readFileSync(path.join(checkpointDir, "state.json"), "utf8"))).toMatchObject({ imagesDone: 4, pairs: 9, skippedImages: 1 });
    expect(formatEmbedPairsSummary(stopped)).toContain("stopped after 4 of 14 images (9 pairs so far)");

    // Ctrl-C: the signal fires during a batch; the run finishes that batch, commits and stops.
    const controller = new AbortController();
    const interrupted = await embedPairs(options(out, { signal: controller.signal, onProgress: () => controller.abort() }));
    expect(interrupted).toMatchObject({ status: "interrupted", resumedAt: 4, imagesDone: 8 });

    // A crash after appending but before committing leaves bytes past the checkpoint; they are cut off.
    appendFileSync(path.join(checkpointDir, "text_embeds.f32"), Buffer.alloc(64 * 4 * 3, 0x7f));
    appendFileSync(path.join(checkpointDir, "image_ids.i64"), Buffer.alloc(8 * 3, 0x7f));

    const finished = await embedPairs(options(out));
    expect(finished).toMatchObject({ status: "complete", resumedAt: 8, pairs: 36, skippedImages: 2, droppedCaptions: 4 });
    expect(finished.thisRun).toMatchObject({ images: 6 });
    expect(readFileSync(out).equals(reference.bytes)).toBe(true);
    expect(existsSync(checkpointDir)).toBe(false);
  });

  it("refuses to continue a checkpoint made from another captions file or batch size, saying what differs", async () => {
    const out = path.join(dir, "mismatch.npz");
    await embedPairs(options(out, { stopAfter: 4 }));

    const changed = path.join(dir, "changed.json");
    writeFileSync(changed, JSON.stringify({ ...fixture.json, annotations: fixture.json.annotations.map((a, i) => (i === 0 ? { ...a, caption: "edited" } : a)) }));
    await expect(embedPairs(options(out, { captions: changed }))).rejects.toThrow(
      /cannot continue the checkpoint in .*mismatch\.npz\.partial: the captions file changed since the checkpoint was made .*Re-run with the same inputs, or delete/,
    );
    await expect(embedPairs(options(out, { batch: 2 }))).rejects.toThrow(/made with --batch 4, this run asks for 2; pass --batch 4 to continue it/);
  });

  it("opens a preset that has only its CLIP towers (as exported, before the adapter) and continues a checkpoint of the same encoders", async () => {
    // What lib/engine/encoder-preset.ts reads, and nothing else: no adapter, bridge, uncertainty, UNet or VAE.
    const shapes = path.join(REPO_ROOT, "models", "shapes");
    const config = JSON.parse(readFileSync(path.join(shapes, "preset.json"), "utf8"));
    const encodersOnly = (name: string, change: (preset: typeof config) => void = () => {}) => {
      const presetDir = path.join(dir, name);
      mkdirSync(presetDir, { recursive: true });
      cpSync(path.join(shapes, "tokenizer"), path.join(presetDir, "tokenizer"), { recursive: true });
      for (const key of ["clipText", "clipImage"]) copyFileSync(path.join(shapes, config.files[key].path), path.join(presetDir, config.files[key].path));
      const { adapter, bridge, uncertainty, ...rest } = structuredClone(config);
      rest.files = { clipText: config.files.clipText, clipImage: config.files.clipImage };
      change(rest);
      writeFileSync(path.join(presetDir, "preset.json"), JSON.stringify(rest));
      return presetDir;
    };
    const exported = encodersOnly("exported");
    const out = path.join(dir, "exported.npz");
    await embedPairs(options(out, { stopAfter: 4 }));
    const finished = await embedPairs(options(out, { preset: exported }));
    expect(finished).toMatchObject({ status: "complete", resumedAt: 4, pairs: 36 });
    expect(readFileSync(out).equals(reference.bytes)).toBe(true);

    const otherOut = path.join(dir, "other-space.npz");
    await embedPairs(options(otherOut, { stopAfter: 4 }));
    const recoloured = encodersOnly("recoloured", (preset) => {
      preset.image.clip.mean = [0.4, 0.4, 0.4];
    });
    await expect(embedPairs(options(otherOut, { preset: recoloured }))).rejects.toThrow(/the checkpoint was made with preset shapes \(encoders [0-9a-f]{12}…\), not with shapes \(encoders [0-9a-f]{12}…\)/);
  });

  it("checks a tower's external weights against provenance.fileHashes and refuses changed ones", async () => {
    // The image tower re-saved with its weights in a file beside the graph, as exports over 2 GB are.
    const shapes = path.join(REPO_ROOT, "models", "shapes");
    const presetDir = path.join(dir, "external");
    cpSync(shapes, presetDir, { recursive: true });
    const resave = "import onnx, sys; m = onnx.load(sys.argv[1]); onnx.save_model(m, sys.argv[1], save_as_external_data=True, all_tensors_to_one_file=True, location='clip_image.onnx.data', size_threshold=0)";
    execFileSync(PYTHON, ["-c", resave, path.join(presetDir, "clip_image.onnx")]);
    const sha256 = (file: string) => execFileSync("sha256sum", [path.join(presetDir, file)], { encoding: "utf8" }).split(" ")[0];
    const config = JSON.parse(readFileSync(path.join(presetDir, "preset.json"), "utf8"));
    config.files.clipImage.sha256 = sha256("clip_image.onnx");
    config.provenance.fileHashes = { "clip_image.onnx.data": sha256("clip_image.onnx.data") };
    writeFileSync(path.join(presetDir, "preset.json"), JSON.stringify(config));

    const out = path.join(dir, "external.npz");
    await embedPairs(options(out, { preset: presetDir }));
    expect(readFileSync(out).equals(reference.bytes)).toBe(true);

    appendFileSync(path.join(presetDir, "clip_image.onnx.data"), Buffer.from([0]));
    await expect(embedPairs(options(path.join(dir, "tampered.npz"), { preset: presetDir }))).rejects.toThrow(
      /weights file .*clip_image\.onnx\.data of files\.clipImage has sha256 [0-9a-f]{64}, but provenance\.fileHashes says/,
    );
  });

  it("runs as a command: a malformed captions file is a usage error, --stop-after exits 130 naming the checkpoint", async () => {
    const malformed = path.join(dir, "malformed.json");
    writeFileSync(malformed, JSON.stringify({ images: [{ id: 1, name: "a.jpg" }], annotations: [] }));
    const usage = await runCli("embed-pairs.ts", ["--preset", "shapes", "--captions", malformed, "--images", fixture.imagesDir, "--out", path.join(dir, "cli.npz")]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("images.0.file_name: Invalid input: expected string");

    const out = path.join(dir, "cli.npz");
    const stopped = await runCli("embed-pairs.ts", ["--preset", "shapes", "--captions", fixture.captionsFile, "--images", fixture.imagesDir, "--out", out, "--batch", "4", "--stop-after", "4"]);
    expect(stopped.code).toBe(130);
    expect(stopped.stderr).toContain(`checkpoint: ${out}.partial; run the same command again to continue`);
  });

  it("makes a file the adapter trainer accepts", async () => {
    const checkpoint = path.join(dir, "adapter");
    const outcome = await new Promise<{ code: number; output: string }>((resolve) => {
      execFile(
        PYTHON,
        ["-m", "models.training.train_adapter", "--pairs", reference.result.out, "--out", checkpoint, "--steps", "3", "--batch", "16", "--threads", "1"],
        { cwd: REPO_ROOT },
        (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, output: stdout + stderr }),
      );
    });
    expect(outcome.output).toContain("adapter[exact] step 2/3");
    expect(outcome.code).toBe(0);
    expect(existsSync(path.join(checkpoint, "adapter.pt"))).toBe(true);
  });
});

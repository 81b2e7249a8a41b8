import { execFile, spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MODEL_KEYS, type TensorMetadata } from "./contract";
import { readOnnxHeader } from "./onnx-header";
import { resolvePresetDir, sha256File } from "./preset";
import { checkPreset } from "./preset-check";
import { makeSyntheticPreset } from "./synthetic-preset";

const SHAPES_DIR = resolvePresetDir("shapes");
const REPO_ROOT = path.resolve(import.meta.dirname, "..", "..");
const root = mkdtempSync(path.join(tmpdir(), "penumbra-preset-check-"));
const syntheticL = path.join(root, "synthetic-unclip-l");
const syntheticH = path.join(root, "synthetic-unclip-h");
let copies = 0;

beforeAll(() => Promise.all([makeSyntheticPreset(syntheticL, "l"), makeSyntheticPreset(syntheticH, "h")]), 120_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A fresh copy of a preset folder (without the shapes preset's torch twins and report, which the check does not read). */
function copyOf(dir: string): string {
  const copy = path.join(root, `copy-${++copies}`);
  cpSync(dir, copy, { recursive: true, filter: (source) => !/[\\/](torch|report)$/.test(source) });
  return copy;
}

function editJson(dir: string, edit: (config: Record<string, any>) => void): void {
  const file = path.join(dir, "preset.json");
  const config = JSON.parse(readFileSync(file, "utf8"));
  edit(config);
  writeFileSync(file, JSON.stringify(config, null, 2));
}

describe("checkPreset on good presets", () => {
  it("passes the bundled shapes preset with a summary", async () => {
    const check = await checkPreset(SHAPES_DIR);
    expect(check.problems).toEqual([]);
    expect(check.summary).toMatch(/^shapes \(Shapes \(bundled\)\): fine\nD = 64, images 64×64, latents 4×16×16/);
    expect(check.summary).toMatch(/\nout-of-distribution records: a corpus of \d+ words, epistemic banks of \d+ captions and \d+ images\n/);
    // Trained here, not exported from a checkpoint: there are no source modules to check it against.
    expect(check.summary).toMatch(/\nparity: no record \(python3 -m models\.export\.parity --preset .* compares the graphs with the modules they were exported from\)$/);
  });

  it.each([
    ["l", syntheticL, 768],
    ["h", syntheticH, 1024],
  ])("passes the synthetic real-size preset unclip-%s", async (_variant, dir, dim) => {
    const check = await checkPreset(dir);
    expect(check.problems).toEqual([]);
    expect(check.summary).toContain(`D = ${dim}, images 768×768, latents 4×96×96, CLIP input 224×224`);
    expect(check.summary).toContain("unet inputs: sample float16, timestep int64, encoder_hidden_states float16, class_labels float16");
  });
});

describe("checkPreset and the parity record", () => {
  /** A parity record as models/export/parity.py writes it, for the copy's current UNet and VAE graphs. */
  async function writeParity(dir: string, passed: boolean): Promise<void> {
    const config = JSON.parse(readFileSync(path.join(dir, "preset.json"), "utf8"));
    const graphs: Record<string, string> = {};
    for (const key of ["unet", "vaeDecoder"]) graphs[config.files[key].path] = await sha256File(path.join(dir, config.files[key].path));
    const check = (ok: boolean, relativeDifference: number | null) => ({ passed: ok, problems: ok ? [] : ["differs by 0.3 of the output's range, over the tolerance 0.0001"], relativeDifference, tolerance: 1e-4 });
    const record = { version: 1, checkedAt: "2026-12-02T20:00:00+00:00", precision: "fp32", graphs, checks: { unet: check(passed, passed ? 2.5e-6 : 0.3), vaeDecoder: check(true, null) }, passed };
    writeFileSync(path.join(dir, "parity.json"), JSON.stringify(record));
  }

  it("reports a passing record for the very files it checked", async () => {
    const dir = copyOf(SHAPES_DIR);
    await writeParity(dir, true);
    const check = await checkPreset(dir);
    expect(check.problems).toEqual([]);
    expect(check.summary).toMatch(/\nparity: passed on 2026-12-02T20:00:00\+00:00, largest difference 2\.5e-6 of an output's range, for these very files$/);
  });

  it("refuses a preset whose last parity check failed, saying which output", async () => {
    const dir = copyOf(SHAPES_DIR);
    await writeParity(dir, false);
    expect((await checkPreset(dir)).problems).toEqual([
      "parity.json: the last parity check failed (2026-12-02T20:00:00+00:00): unet: differs by 0.3 of the output's range, over the tolerance 0.0001",
    ]);
  });

  it("refuses a record made for other files, and one that is not a record", async () => {
    const dir = copyOf(SHAPES_DIR);
    await writeParity(dir, true);
    const unet = path.join(dir, "unet.onnx");
    writeFileSync(unet, Buffer.concat([readFileSync(unet), Buffer.from([0])]));
    const stale = await checkPreset(dir);
    expect(stale.problems.filter((problem) => problem.startsWith("parity.json"))).toEqual([
      expect.stringMatching(/^parity\.json: recorded for other files: unet\.onnx changed since it was checked; run parity again/),
    ]);
    writeFileSync(path.join(dir, "parity.json"), JSON.stringify({ version: 1, passed: "yes" }));
    expect((await checkPreset(dir)).problems.filter((problem) => problem.startsWith("parity.json"))).toEqual(
      expect.arrayContaining([expect.stringMatching(/^parity\.json: passed: /), expect.stringMatching(/^parity\.json: graphs: /)]),
    );
  });
});

describe("checkPreset on broken copies", () => {
  it("names a file whose bytes no longer match the sha256 in preset.json", async () => {
    const dir = copyOf(SHAPES_DIR);
    const actual = await sha256File(path.join(dir, "vae_decoder.onnx"));
    const recorded = "0".repeat(64);
    editJson(dir, (config) => (config.files.vaeDecoder.sha256 = recorded));
    expect((await checkPreset(dir)).problems).toEqual([
      `files.vaeDecoder: vae_decoder.onnx has sha256 ${actual}, but preset.json says ${recorded} (the file changed or preset.json is stale)`,
    ]);
  });

  it("checks the epistemic banks' size and sha256, and names a missing one", async () => {
    const truncated = copyOf(SHAPES_DIR);
    const bank = path.join(truncated, "epistemic_text.f32");
    writeFileSync(bank, readFileSync(bank).subarray(0, 1024));
    const shortHash = await sha256File(bank);
    const { count, bank: entry } = JSON.parse(readFileSync(path.join(truncated, "preset.json"), "utf8")).epistemic.text;
    expect((await checkPreset(truncated)).problems).toEqual([
      `epistemic.text.bank: epistemic_text.f32 has 1024 bytes; count ${count} × D 64 float32 values need ${count * 64 * 4}`,
      `epistemic.text.bank: epistemic_text.f32 has sha256 ${shortHash}, but preset.json says ${entry.sha256} (the file changed or preset.json is stale)`,
    ]);
    const gone = copyOf(SHAPES_DIR);
    unlinkSync(path.join(gone, "epistemic_image.f32"));
    expect((await checkPreset(gone)).problems).toEqual(["epistemic.image.bank: epistemic_image.f32 is missing"]);
  });

  it("names a missing model file, and only that", async () => {
    const dir = copyOf(SHAPES_DIR);
    unlinkSync(path.join(dir, "clip_image.onnx"));
    expect((await checkPreset(dir)).problems).toEqual(["files.clipImage: clip_image.onnx is missing"]);
  });

  it("names a missing tokenizer file", async () => {
    const dir = copyOf(syntheticL);
    unlinkSync(path.join(dir, "tokenizer", "merges.txt"));
    const { problems } = await checkPreset(dir);
    expect(problems).toEqual(["tokenizer.merges: tokenizer/merges.txt is missing", "promptTokenizer.merges: tokenizer/merges.txt is missing"]);
  });

  it("says a noise-augmentation normalizer of the wrong length disagrees with D, and still checks the files", async () => {
    const dir = copyOf(SHAPES_DIR);
    editJson(dir, (config) => config.noiseAugmentation.std.pop());
    unlinkSync(path.join(dir, "unet.onnx"));
    expect((await checkPreset(dir)).problems).toEqual([
      "preset.json: noiseAugmentation.std: needs embedding.dim = 64 values, has 63",
      "files.unet: unet.onnx is missing",
      "D disagrees: embedding.dim is 64, but noiseAugmentation.std is 63 values (D = 63)",
    ]);
  });

  it("says a UNet exported for another D has the wrong class_labels width", async () => {
    // unclip-h's folder with unclip-l's UNet (class_labels 1536 = 2·768 instead of 2048), hashed as if shipped on purpose.
    const dir = copyOf(syntheticH);
    cpSync(path.join(syntheticL, "unet.onnx"), path.join(dir, "unet.onnx"));
    const hash = await sha256File(path.join(dir, "unet.onnx"));
    editJson(dir, (config) => (config.files.unet.sha256 = hash));
    expect((await checkPreset(dir)).problems).toEqual([
      'files.unet: unet.onnx: input "class_labels" is float16 [batch,1536], expected float32 or float16 with shape [B,twoD=2048]',
      "D disagrees: embedding.dim is 1024, but unet.onnx class_labels is 1536 wide (D = 768)",
    ]);
  });

  it("names a file that is not an ONNX model, and invalid preset.json fields", async () => {
    const dir = copyOf(SHAPES_DIR);
    writeFileSync(path.join(dir, "adapter_text.onnx"), "not a model\n");
    const hash = await sha256File(path.join(dir, "adapter_text.onnx"));
    editJson(dir, (config) => {
      config.files.adapterText.sha256 = hash;
      config.scheduler.predictionType = "sample";
    });
    const { problems } = await checkPreset(dir);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^preset\.json: scheduler\.predictionType: /);
    editJson(dir, (config) => (config.scheduler.predictionType = "v_prediction"));
    expect((await checkPreset(dir)).problems).toEqual([expect.stringMatching(/^files\.adapterText: adapter_text\.onnx is not a readable ONNX model: /)]);
  });

  it("checks weights kept in an external data file against the exporter's fileHashes, and names it when missing", async () => {
    const dir = copyOf(SHAPES_DIR);
    // What real UNets over 2 GB look like: the graph in unet.onnx, the weights beside it.
    const externalize = `import onnx, sys; m = onnx.load(sys.argv[1]); onnx.save_model(m, sys.argv[1], save_as_external_data=True, location="unet.onnx_data", size_threshold=0)`;
    const result = spawnSync("/usr/bin/python3", ["-c", externalize, path.join(dir, "unet.onnx")], { encoding: "utf8" });
    expect(result.status, result.stderr).toBe(0);
    const graphHash = await sha256File(path.join(dir, "unet.onnx"));
    const weightsHash = await sha256File(path.join(dir, "unet.onnx_data"));
    // models/export records every file's hash in provenance.fileHashes, external weights included.
    editJson(dir, (config) => {
      config.files.unet.sha256 = graphHash;
      config.provenance.fileHashes = { "unet.onnx": graphHash, "unet.onnx_data": weightsHash };
    });
    expect(readOnnxHeader(path.join(dir, "unet.onnx")).externalData).toEqual(["unet.onnx_data"]);
    expect((await checkPreset(dir)).problems).toEqual([]);

    const weights = readFileSync(path.join(dir, "unet.onnx_data"));
    weights[weights.length - 1] ^= 0xff;
    writeFileSync(path.join(dir, "unet.onnx_data"), weights);
    const changed = await sha256File(path.join(dir, "unet.onnx_data"));
    expect((await checkPreset(dir)).problems).toEqual([
      `provenance.fileHashes: unet.onnx_data has sha256 ${changed}, but preset.json says ${weightsHash} (the file changed or preset.json is stale)`,
    ]);

    unlinkSync(path.join(dir, "unet.onnx_data"));
    expect((await checkPreset(dir)).problems).toEqual(["files.unet: unet.onnx keeps weights in unet.onnx_data, which is missing"]);
    editJson(dir, (config) => (config.provenance.fileHashes = { "unet.onnx_data": "not a hash" }));
    expect((await checkPreset(dir)).problems).toEqual([
      "files.unet: unet.onnx keeps weights in unet.onnx_data, which is missing",
      "preset.json: provenance.fileHashes.unet.onnx_data: must be 64 lowercase hex digits",
    ]);
  });

  it("reports a folder without preset.json", async () => {
    expect((await checkPreset(root)).problems).toEqual([`no preset.json in ${root}`]);
  });
});

describe("readOnnxHeader", () => {
  // onnxruntime may replace a dim the file leaves symbolic by the size its shape inference found; every
  // name, type and rank must agree, and every size the file fixes.
  it.each(MODEL_KEYS)("reads the signature onnxruntime reads for the shapes preset's %s", async (key) => {
    const config = JSON.parse(readFileSync(path.join(SHAPES_DIR, "preset.json"), "utf8"));
    const file = path.join(SHAPES_DIR, config.files[key].path);
    const session = await ort.InferenceSession.create(file, { executionProviders: ["cpu"], logSeverityLevel: 3 });
    const header = readOnnxHeader(file);
    const compare = (fromFile: readonly TensorMetadata[], fromOrt: readonly ort.InferenceSession.ValueMetadata[]) => {
      expect(fromFile.map(({ name, type, shape }) => ({ name, type, rank: shape.length }))).toEqual(
        fromOrt.map((value) => ({ name: value.name, type: value.isTensor ? value.type : "non-tensor", rank: value.isTensor ? value.shape.length : 0 })),
      );
      fromFile.forEach(({ shape }, i) => {
        const ortShape = (fromOrt[i] as { shape: readonly (number | string)[] }).shape;
        shape.forEach((dim, d) => typeof dim === "number" && expect(ortShape[d]).toBe(dim));
      });
    };
    compare(header.inputs, session.inputMetadata);
    compare(header.outputs, session.outputMetadata);
    expect(header.inputs[0].shape.length).toBeGreaterThan(0);
    expect(header.externalData).toEqual([]);
    await session.release();
  });
});

describe("npm run preset:check", () => {
  const run = promisify(execFile);
  const cli = (dir: string) =>
    run(path.join(REPO_ROOT, "node_modules", ".bin", "tsx"), [path.join(REPO_ROOT, "bin", "preset-check.ts"), dir], { cwd: REPO_ROOT }).then(
      ({ stdout }) => ({ code: 0, stdout }),
      (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
    );

  it("exits 0 with a summary on a good preset and 1 with one line per problem on a broken one", async () => {
    const broken = copyOf(SHAPES_DIR);
    unlinkSync(path.join(broken, "clip_text.onnx"));
    editJson(broken, (config) => config.bridge.textMean.push(0));
    const [good, bad] = await Promise.all([cli(syntheticH), cli(broken)]);
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(/^synthetic-unclip-h \(.*\): fine\n/);
    expect(bad.code).toBe(1);
    expect(bad.stdout.trim().split("\n")).toEqual([
      "preset.json: bridge.textMean: needs embedding.dim = 64 values, has 65",
      "files.clipText: clip_text.onnx is missing",
      "D disagrees: embedding.dim is 64, but bridge.textMean is 65 values (D = 65)",
    ]);
    expect((bad as { stderr: string }).stderr).toContain(`3 problems in ${broken}`);
  }, 60_000);
});

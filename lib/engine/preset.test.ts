import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { EngineError } from "./errors";
import { MODEL_KEYS } from "./contract";
import { listPresets, loadPreset, modelsDir, presetSchema, resolvePresetDir, sha256File } from "./preset";

const SHAPES_DIR = resolvePresetDir("shapes");
const SHAPES_JSON = JSON.parse(readFileSync(path.join(SHAPES_DIR, "preset.json"), "utf8"));

/** A preset folder in a temp dir: the shapes files linked in, preset.json edited by `edit`. */
function presetCopy(edit: (config: typeof SHAPES_JSON) => void = () => {}): string {
  const dir = mkdtempSync(path.join(tmpdir(), "penumbra-preset-"));
  const config = structuredClone(SHAPES_JSON);
  edit(config);
  for (const key of MODEL_KEYS) symlinkSync(path.join(SHAPES_DIR, SHAPES_JSON.files[key].path), path.join(dir, SHAPES_JSON.files[key].path));
  symlinkSync(path.join(SHAPES_DIR, "tokenizer"), path.join(dir, "tokenizer"));
  writeFileSync(path.join(dir, "preset.json"), JSON.stringify(config));
  return dir;
}

function expectEngineError(fn: () => unknown, code: string, ...fragments: string[]): void {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(EngineError);
    expect((error as EngineError).code).toBe(code);
    for (const fragment of fragments) expect((error as EngineError).message).toContain(fragment);
    return;
  }
  throw new Error("expected an EngineError");
}

async function expectRejection(promise: Promise<unknown>, code: string, ...fragments: string[]): Promise<void> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(EngineError);
  expect((error as EngineError).code).toBe(code);
  for (const fragment of fragments) expect((error as EngineError).message).toContain(fragment);
}

describe("preset schema", () => {
  it("accepts the bundled shapes preset", () => {
    const result = presetSchema.safeParse(SHAPES_JSON);
    expect(result.error?.issues ?? []).toEqual([]);
    expect(result.data?.embedding.dim).toBe(64);
    expect(Object.keys(result.data?.files ?? {}).sort()).toEqual([...MODEL_KEYS].sort());
  });

  it("accepts an optional promptTokenizer and a bridge of type none", () => {
    const config = { ...structuredClone(SHAPES_JSON), promptTokenizer: { ...SHAPES_JSON.tokenizer, pad: 0 }, bridge: { type: "none" } };
    expect(presetSchema.safeParse(config).success).toBe(true);
  });

  it.each([
    ["a bridge of the wrong dimension", (c: typeof SHAPES_JSON) => c.bridge.textMean.pop(), "bridge.textMean"],
    ["a file path that leaves the folder", (c: typeof SHAPES_JSON) => (c.files.unet.path = "../unet.onnx"), "files.unet.path"],
    ["a malformed sha256", (c: typeof SHAPES_JSON) => (c.files.vaeDecoder.sha256 = "abc"), "files.vaeDecoder.sha256"],
    ["unsorted uncertainty quantiles", (c: typeof SHAPES_JSON) => c.uncertainty.text.reverse(), "uncertainty.text"],
    ["an unknown input scale", (c: typeof SHAPES_JSON) => (c.adapter.inputScale.text = "l1"), "adapter.inputScale.text"],
    ["a missing limit", (c: typeof SHAPES_JSON) => delete c.limits.maxRows, "limits.maxRows"],
    ["default steps above the limit", (c: typeof SHAPES_JSON) => (c.defaults.steps = 1000), "defaults.steps"],
    ["a default guidance scale outside a request's range", (c: typeof SHAPES_JSON) => (c.defaults.guidanceScale = 25), "defaults.guidanceScale"],
  ])("rejects %s, naming the field", (_, edit, field) => {
    const dir = presetCopy(edit);
    expectEngineError(() => loadPreset(dir), "invalid_preset", path.join(dir, "preset.json"), field);
  });

  it("rejects a preset.json that is not JSON", () => {
    const dir = presetCopy();
    writeFileSync(path.join(dir, "preset.json"), "{ not json");
    expectEngineError(() => loadPreset(dir), "invalid_preset", "not valid JSON");
  });
});

describe("finding presets", () => {
  const saved = process.env.PENUMBRA_MODELS_DIR;
  afterEach(() => {
    if (saved === undefined) delete process.env.PENUMBRA_MODELS_DIR;
    else process.env.PENUMBRA_MODELS_DIR = saved;
  });

  it("resolves a name to models/<name> at the repository root", () => {
    delete process.env.PENUMBRA_MODELS_DIR;
    expect(resolvePresetDir("shapes")).toBe(path.join(modelsDir(), "shapes"));
    expect(path.basename(modelsDir())).toBe("models");
    expect(listPresets()).toContain("shapes");
  });

  it("resolves a folder path as given", () => {
    const dir = presetCopy();
    expect(resolvePresetDir(dir)).toBe(dir);
  });

  it("says which presets exist when the name is unknown", () => {
    delete process.env.PENUMBRA_MODELS_DIR;
    expectEngineError(() => resolvePresetDir("no-such-preset"), "not_found", '"no-such-preset"', "shapes");
    expectEngineError(() => resolvePresetDir("/nowhere/at/all"), "not_found", "/nowhere/at/all");
  });

  it("looks in PENUMBRA_MODELS_DIR when it is set", () => {
    const root = mkdtempSync(path.join(tmpdir(), "penumbra-models-"));
    symlinkSync(presetCopy(), path.join(root, "mine"));
    process.env.PENUMBRA_MODELS_DIR = root;
    expect(listPresets()).toEqual(["mine"]);
    expect(resolvePresetDir("mine")).toBe(path.join(root, "mine"));
    expectEngineError(() => resolvePresetDir("shapes"), "not_found", "available: mine");
  });
});

describe("loading and verifying files", () => {
  const saved = process.env.PENUMBRA_CACHE_DIR;
  let cacheDir: string;
  beforeEach(() => {
    cacheDir = mkdtempSync(path.join(tmpdir(), "penumbra-cache-"));
    process.env.PENUMBRA_CACHE_DIR = cacheDir;
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.PENUMBRA_CACHE_DIR;
    else process.env.PENUMBRA_CACHE_DIR = saved;
  });

  it("digests preset.json and hands out verified model paths", async () => {
    const preset = loadPreset(SHAPES_DIR);
    expect(preset.digest).toBe(await sha256File(path.join(SHAPES_DIR, "preset.json")));
    expect(preset.config.name).toBe("shapes");
    for (const key of MODEL_KEYS) expect(await preset.filePath(key)).toBe(path.join(SHAPES_DIR, SHAPES_JSON.files[key].path));
    expect(preset.resolve(preset.config.tokenizer.vocab)).toBe(path.join(SHAPES_DIR, "tokenizer", "vocab.json"));
  });

  it("refuses a file whose sha256 differs from preset.json, naming the file", async () => {
    const dir = presetCopy((c) => (c.files.unet.sha256 = "0".repeat(64)));
    await expectRejection(loadPreset(dir).filePath("unet"), "invalid_preset", path.join(dir, "unet.onnx"), "0".repeat(64));
  });

  it("refuses a preset whose file is missing", async () => {
    const dir = presetCopy((c) => (c.files.unet.path = "gone.onnx"));
    await expectRejection(loadPreset(dir).filePath("unet"), "invalid_preset", "gone.onnx", "missing");
  });

  it("verifies weights kept beside a graph against provenance.fileHashes, and refuses unhashed or changed ones", async () => {
    const dir = presetCopy();
    const graph = path.join(dir, "unet.onnx");
    const weights = path.join(dir, "unet.onnx_data");
    unlinkSync(graph);
    // How exports over 2 GB are stored: the graph in unet.onnx, its weights in a file beside it.
    const externalize = `import onnx, sys; m = onnx.load(sys.argv[1]); onnx.save_model(m, sys.argv[2], save_as_external_data=True, location="unet.onnx_data", size_threshold=0)`;
    const result = spawnSync("/usr/bin/python3", ["-c", externalize, path.join(SHAPES_DIR, "unet.onnx"), graph], { encoding: "utf8" });
    expect(result.status, result.stderr).toBe(0);
    const graphHash = await sha256File(graph);
    const weightsHash = await sha256File(weights);
    const writeConfig = (fileHashes: Record<string, string>) => {
      const config = structuredClone(SHAPES_JSON);
      config.files.unet.sha256 = graphHash;
      config.provenance.fileHashes = fileHashes;
      writeFileSync(path.join(dir, "preset.json"), JSON.stringify(config));
    };

    writeConfig({ "unet.onnx_data": weightsHash });
    expect(await loadPreset(dir).filePath("unet")).toBe(graph);
    writeConfig({});
    await expectRejection(loadPreset(dir).filePath("unet"), "invalid_preset", "unet.onnx_data", "no sha256 in provenance.fileHashes");
    writeConfig({ "unet.onnx_data": "0".repeat(64) });
    await expectRejection(loadPreset(dir).filePath("unet"), "invalid_preset", weights, weightsHash, "0".repeat(64));
    unlinkSync(weights);
    writeConfig({ "unet.onnx_data": weightsHash });
    await expectRejection(loadPreset(dir).filePath("unet"), "invalid_preset", weights, "missing");
  });

  it("does not rehash an unchanged file in a later open, and rehashes once it changes", async () => {
    const dir = presetCopy();
    // A real copy, not a link: the test touches its mtime.
    const file = path.join(dir, "adapter_text.onnx");
    unlinkSync(file);
    copyFileSync(path.join(SHAPES_DIR, "adapter_text.onnx"), file);
    await loadPreset(dir).filePath("adapterText");
    const [cacheName] = await readdir(cacheDir);
    const cachePath = path.join(cacheDir, cacheName);
    const cache = JSON.parse(await readFile(cachePath, "utf8")) as Record<string, string>;
    const entries = Object.keys(cache).filter((key) => key.startsWith(`${file}|`));
    expect(entries).toHaveLength(1);
    expect(cache[entries[0]]).toBe(SHAPES_JSON.files.adapterText.sha256);

    // A cached digest is believed without reading the file: plant a fake one and expect it accepted.
    const fake = "f".repeat(64);
    writeFileSync(cachePath, JSON.stringify({ ...cache, [entries[0]]: fake }));
    const config = structuredClone(SHAPES_JSON);
    config.files.adapterText.sha256 = fake;
    writeFileSync(path.join(dir, "preset.json"), JSON.stringify(config));
    expect(await loadPreset(dir).filePath("adapterText")).toBe(file);

    // A new mtime makes the cached digest stale, so the file is hashed again and the fake exposed.
    const later = new Date(Date.now() + 5_000);
    utimesSync(file, later, later);
    await expectRejection(loadPreset(dir).filePath("adapterText"), "invalid_preset", file, fake);
  });
});

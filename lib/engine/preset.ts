/**
 * Model presets (docs/model-contract.md): finding a preset folder, validating its preset.json, and
 * handing out the paths of its files only after their sha256 matched what preset.json says.
 */
import { createHash } from "node:crypto";
import { createReadStream, existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { MODEL_KEYS, type ModelKey } from "./contract";
import { EngineError } from "./errors";
import { OnnxHeaderError, readOnnxHeader } from "./onnx-header";
import { SCHEDULER_TYPES } from "./schedulers";
import { GUIDANCE_SCALE_RANGE } from "./request-ranges";

// ───────────────────────── schema ─────────────────────────

const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();
const positive = z.number().positive();

/** A path inside the preset folder: relative and never climbing out of it. */
const relativePath = z
  .string()
  .min(1)
  .refine((p) => !path.isAbsolute(p) && !path.posix.isAbsolute(p) && !p.split(/[\\/]/).includes(".."), {
    message: "must be a path inside the preset folder (relative, without '..')",
  });

const tokenizerSchema = z.object({
  vocab: relativePath,
  merges: relativePath,
  contextLength: z.number().int().min(2),
  bos: nonNegativeInt,
  eos: nonNegativeInt,
  pad: nonNegativeInt,
});

const fileSchema = z.object({
  path: relativePath,
  sha256: z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lowercase hex digits"),
});

/** models/training/ood.py: the caption corpus's words and the longest caption, in words. */
const corpusSchema = z.object({
  vocabulary: z.array(z.string()),
  maxWords: nonNegativeInt,
  captions: nonNegativeInt,
});

/** models/training/ood.py: a bank of unit-length training inputs and reference quantiles of the score over held-out inputs. */
const epistemicModalitySchema = z.object({
  bank: fileSchema,
  count: positiveInt,
  neighbours: positiveInt,
  flagQuantile: z.number().gt(0).lt(1),
  quantiles: z.array(z.number()).min(2),
  referenceCount: positiveInt,
});

const clampSchema = z.tuple([positive, positive]).refine(([lo, hi]) => lo <= hi, { message: "must be [low, high] with low ≤ high" });
const inputScaleSchema = z.enum(["raw", "l2", "l2x100"]);
const rgbTriple = z.tuple([z.number(), z.number(), z.number()]);

const bridgeSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("gap-shift"), textMean: z.array(z.number()), imageMean: z.array(z.number()), imageNorm: positive }),
  z.object({ type: z.literal("none") }),
]);

/** preset.json's fields without the checks that relate them (sizes agree with embedding.dim and the like). */
export const presetFieldsSchema = z.object({
  name: z.string().min(1),
  title: z.string(),
  description: z.string(),
  version: z.string(),
  embedding: z.object({ dim: positiveInt, space: z.string().min(1) }),
  tokenizer: tokenizerSchema,
  /** The prompt encoder's tokenizer where it differs from the CLIP tower's (SD 2.x pads with 0). */
  promptTokenizer: tokenizerSchema.optional(),
  image: z.object({
    size: positiveInt,
    clip: z.object({
      size: positiveInt,
      mean: rgbTriple,
      std: z.tuple([positive, positive, positive]),
      resize: z.literal("shortest-side-bicubic"),
    }),
  }),
  noiseAugmentation: z.object({
    schedule: z.literal("squaredcos_cap_v2"),
    trainTimesteps: z.number().int().min(2),
    mean: z.array(z.number()),
    std: z.array(positive),
  }),
  scheduler: z.object({
    type: z.enum(SCHEDULER_TYPES),
    betaSchedule: z.enum(["scaled_linear", "linear"]),
    betaStart: positive,
    betaEnd: positive,
    trainTimesteps: z.number().int().min(2),
    predictionType: z.enum(["v_prediction", "epsilon"]),
    stepsOffset: nonNegativeInt,
    timestepSpacing: z.enum(["leading", "trailing", "linspace"]),
  }),
  latent: z.object({ channels: positiveInt, downsample: positiveInt, scalingFactor: positive }),
  // A default is handed to requests unchecked (zod does not parse defaults), so it is held to the request's range here.
  defaults: z.object({ steps: positiveInt, guidanceScale: z.number().min(GUIDANCE_SCALE_RANGE.min).max(GUIDANCE_SCALE_RANGE.max), noiseLevel: nonNegativeInt }),
  limits: z.object({
    maxImageSide: positiveInt,
    maxBatch: positiveInt,
    maxRows: positiveInt,
    maxCols: positiveInt,
    maxSteps: positiveInt,
    maxCaptionLength: positiveInt,
  }),
  provenance: z.looseObject({ quick: z.boolean().optional() }),
  files: z.object(Object.fromEntries(MODEL_KEYS.map((key) => [key, fileSchema])) as Record<ModelKey, typeof fileSchema>),
  adapter: z.object({
    alphaEps: positive,
    betaEps: positive,
    alphaClamp: clampSchema,
    betaClamp: clampSchema,
    inputScale: z.object({ text: inputScaleSchema, image: inputScaleSchema }),
    objective: z.string().optional(),
  }),
  bridge: bridgeSchema,
  uncertainty: z.object({ text: z.array(z.number()).min(2), image: z.array(z.number()).min(2) }),
  /** The adapter's training captions' vocabulary (docs/presets.md); older presets lack it and get no vocabulary check. */
  corpus: corpusSchema.optional(),
  /** Banks of training inputs and reference quantiles of the epistemic score; older presets lack it. */
  epistemic: z.object({ text: epistemicModalitySchema, image: epistemicModalitySchema }).optional(),
});

export const presetSchema = presetFieldsSchema.superRefine((preset, ctx) => {
  const dim = preset.embedding.dim;
  const needDim = (values: readonly number[], where: (string | number)[]) => {
    if (values.length !== dim) ctx.addIssue({ code: "custom", path: where, message: `needs embedding.dim = ${dim} values, has ${values.length}` });
  };
  needDim(preset.noiseAugmentation.mean, ["noiseAugmentation", "mean"]);
  needDim(preset.noiseAugmentation.std, ["noiseAugmentation", "std"]);
  if (preset.bridge.type === "gap-shift") {
    needDim(preset.bridge.textMean, ["bridge", "textMean"]);
    needDim(preset.bridge.imageMean, ["bridge", "imageMean"]);
  }
  const sorted = (q: readonly number[]) => q.every((v, i) => i === 0 || v >= q[i - 1]);
  for (const modality of ["text", "image"] as const) {
    if (!sorted(preset.uncertainty[modality])) {
      ctx.addIssue({ code: "custom", path: ["uncertainty", modality], message: "reference quantiles must be sorted ascending" });
    }
    if (preset.epistemic && !sorted(preset.epistemic[modality].quantiles)) {
      ctx.addIssue({ code: "custom", path: ["epistemic", modality, "quantiles"], message: "reference quantiles must be sorted ascending" });
    }
  }
  if (preset.image.size % preset.latent.downsample !== 0) {
    ctx.addIssue({ code: "custom", path: ["latent", "downsample"], message: `must divide image.size ${preset.image.size}` });
  }
  if (preset.defaults.steps > preset.limits.maxSteps) {
    ctx.addIssue({ code: "custom", path: ["defaults", "steps"], message: `exceeds limits.maxSteps ${preset.limits.maxSteps}` });
  }
  if (preset.defaults.noiseLevel >= preset.noiseAugmentation.trainTimesteps) {
    ctx.addIssue({ code: "custom", path: ["defaults", "noiseLevel"], message: `must be below noiseAugmentation.trainTimesteps` });
  }
  if (preset.scheduler.betaStart > preset.scheduler.betaEnd) {
    ctx.addIssue({ code: "custom", path: ["scheduler", "betaEnd"], message: "must be ≥ betaStart" });
  }
});

export type PresetConfig = z.infer<typeof presetSchema>;
export type InputScale = z.infer<typeof inputScaleSchema>;
export type BridgeConfig = z.infer<typeof bridgeSchema>;
export type TokenizerFiles = z.infer<typeof tokenizerSchema>;
export type CorpusRecord = z.infer<typeof corpusSchema>;
export type EpistemicRecord = z.infer<typeof epistemicModalitySchema>;

/** "a.b: message; c: message", for errors a person reads. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.length ? issue.path.join(".") : "(root)"}: ${issue.message}`).join("; ");
}

// ───────────────────────── finding presets ─────────────────────────

const PRESET_FILE = "preset.json";
const PRESET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** The repository root: the nearest folder above this file that has a package.json. */
function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, "package.json"))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new EngineError("not_found", "cannot find the repository root above lib/engine; set PENUMBRA_MODELS_DIR");
    dir = parent;
  }
  return dir;
}

/** Where named presets live: PENUMBRA_MODELS_DIR, else models/ at the repository root. */
export function modelsDir(): string {
  const override = process.env.PENUMBRA_MODELS_DIR;
  return override ? path.resolve(override) : path.join(repoRoot(), "models");
}

/** Names of the presets under modelsDir(): its subfolders that hold a preset.json, sorted. */
export function listPresets(): string[] {
  const root = modelsDir();
  let entries: string[];
  try {
    entries = readdirSync(root);
  } catch {
    return [];
  }
  return entries.filter((name) => PRESET_NAME.test(name) && existsSync(path.join(root, name, PRESET_FILE))).sort();
}

/**
 * A preset folder from a name ("shapes" → models/shapes) or a path (anything with a slash or
 * starting with "."). Throws not_found listing the available names when there is no such preset.
 */
export function resolvePresetDir(nameOrDir: string): string {
  const looksLikePath = path.isAbsolute(nameOrDir) || /[\\/]/.test(nameOrDir) || nameOrDir.startsWith(".");
  if (looksLikePath) {
    const dir = path.resolve(nameOrDir);
    if (!existsSync(path.join(dir, PRESET_FILE))) throw new EngineError("not_found", `no ${PRESET_FILE} in ${dir}`);
    return dir;
  }
  const dir = path.join(modelsDir(), nameOrDir);
  if (!PRESET_NAME.test(nameOrDir) || !existsSync(path.join(dir, PRESET_FILE))) {
    const available = listPresets();
    throw new EngineError(
      "not_found",
      `unknown preset ${JSON.stringify(nameOrDir)}; available: ${available.length ? available.join(", ") : `none (no preset folders in ${modelsDir()})`}`,
    );
  }
  return dir;
}

// ───────────────────────── loading and verifying ─────────────────────────

export interface Preset {
  readonly dir: string;
  readonly config: PresetConfig;
  /** sha256 of preset.json's bytes; since preset.json lists every file's sha256, it identifies the whole preset. */
  readonly digest: string;
  /** Absolute path of a model file, after its sha256 has been checked (once per process). */
  filePath(key: ModelKey): Promise<string>;
  /** Absolute path of any other file named in preset.json (tokenizer files), relative to the folder. */
  resolve(relative: string): string;
}

/** Reads and validates `dir`/preset.json. Files are hashed lazily, by filePath. */
export function loadPreset(dir: string): Preset {
  const jsonPath = path.join(dir, PRESET_FILE);
  let bytes: Buffer;
  try {
    bytes = readFileSync(jsonPath);
  } catch (cause) {
    throw new EngineError("not_found", `cannot read ${jsonPath}`, { cause });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString("utf8"));
  } catch (cause) {
    throw new EngineError("invalid_preset", `${jsonPath} is not valid JSON`, { cause });
  }
  const result = presetSchema.safeParse(parsed);
  if (!result.success) throw new EngineError("invalid_preset", `${jsonPath}: ${describeIssues(result.error)}`);
  const config = result.data;
  const verified = new Map<ModelKey, Promise<string>>();
  return {
    dir,
    config,
    digest: createHash("sha256").update(bytes).digest("hex"),
    resolve: (relative) => path.join(dir, relative),
    filePath(key) {
      let pending = verified.get(key);
      if (!pending) {
        pending = verifyModelFile(dir, config.files[key], key, config.provenance).then(({ file }) => file);
        verified.set(key, pending);
      }
      return pending;
    },
  };
}

export interface VerifiedModelFile {
  /** Absolute path of the graph. */
  readonly file: string;
  /** sha256 of each external weight file, by its path relative to the preset folder. */
  readonly externalHashes: Readonly<Record<string, string>>;
}

/**
 * A model's graph checked against its `files` entry and, since models over 2 GB keep their weights
 * in files beside the graph that `files` cannot name, each such file against the sha256 the
 * exporter records in provenance.fileHashes; a weight file without one is refused.
 */
export async function verifyModelFile(
  dir: string,
  entry: { readonly path: string; readonly sha256: string },
  key: ModelKey,
  provenance: Readonly<Record<string, unknown>>,
): Promise<VerifiedModelFile> {
  const file = path.join(dir, entry.path);
  await verifyHash(file, entry.sha256, `preset file ${file} (files.${key})`, "preset.json says");
  let external: readonly string[];
  try {
    external = readOnnxHeader(file).externalData;
  } catch (error) {
    if (error instanceof OnnxHeaderError) return { file, externalHashes: {} }; // not ONNX: opening the session says so in the contract's words
    throw error;
  }
  const recorded = (provenance.fileHashes ?? {}) as Record<string, unknown>;
  const externalHashes: Record<string, string> = {};
  for (const name of external) {
    const weights = path.join(path.dirname(file), name);
    const relative = path.relative(dir, weights).split(path.sep).join("/");
    const expected = recorded[relative];
    if (typeof expected !== "string") {
      throw new EngineError("invalid_preset", `preset file ${file} (files.${key}) keeps its weights in ${relative}, which has no sha256 in provenance.fileHashes`);
    }
    externalHashes[relative] = await verifyHash(weights, expected, `weights file ${weights} of files.${key}`, "provenance.fileHashes says");
  }
  return { file, externalHashes };
}

/** A data file named in preset.json (not a model), its sha256 checked against the entry: its absolute path. */
export async function verifiedDataFile(dir: string, entry: { readonly path: string; readonly sha256: string }, what: string): Promise<string> {
  const file = path.join(dir, entry.path);
  await verifyHash(file, entry.sha256, `preset file ${file} (${what})`, "preset.json says");
  return file;
}

async function verifyHash(file: string, expected: string, what: string, source: string): Promise<string> {
  let info;
  try {
    info = await stat(file);
  } catch (cause) {
    throw new EngineError("invalid_preset", `${what} is missing`, { cause });
  }
  const actual = await cachedSha256(file, info.size, info.mtimeMs);
  if (actual !== expected) throw new EngineError("invalid_preset", `${what} has sha256 ${actual}, but ${source} ${expected}`);
  return actual;
}

// The hash cache: model files reach gigabytes, so a file whose path, size and mtime are unchanged
// is not hashed again by later processes. One small JSON file, rewritten whole by rename.

function cacheFile(): string {
  return path.join(process.env.PENUMBRA_CACHE_DIR || path.join(tmpdir(), "penumbra"), "sha256-cache.json");
}

function cacheKey(file: string, size: number, mtimeMs: number): string {
  return `${file}|${size}|${mtimeMs}`;
}

async function readCache(location: string): Promise<Record<string, string>> {
  try {
    const parsed: unknown = JSON.parse(await readFile(location, "utf8"));
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, string>) : {};
  } catch {
    // Missing or corrupt: start over, the cache is only an optimisation.
    return {};
  }
}

async function cachedSha256(file: string, size: number, mtimeMs: number): Promise<string> {
  const location = cacheFile();
  const key = cacheKey(file, size, mtimeMs);
  const known = (await readCache(location))[key];
  if (typeof known === "string") return known;
  const digest = await sha256File(file);
  try {
    // Re-read so entries written meanwhile by other processes survive; drop stale entries of this file.
    const cache = await readCache(location);
    for (const existing of Object.keys(cache)) if (existing.startsWith(`${file}|`)) delete cache[existing];
    cache[key] = digest;
    await mkdir(path.dirname(location), { recursive: true });
    const temporary = `${location}.${process.pid}.${Date.now()}.tmp`;
    await writeFile(temporary, JSON.stringify(cache));
    await rename(temporary, location);
  } catch {
    // A read-only cache folder only costs a rehash next time.
  }
  return digest;
}

export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    createReadStream(file)
      .on("data", (chunk) => hash.update(chunk))
      .on("error", (cause) => reject(new EngineError("invalid_preset", `cannot read ${file}`, { cause })))
      .on("end", () => resolve(hash.digest("hex")));
  });
}


/**
 * `npm run preset:check <dir>`: everything that can be wrong with a preset folder, found without
 * running a model, each problem one plain sentence. The engine stops at the first problem when it
 * opens a preset; this lists them all, so an exporter can fix a folder in one pass.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { contractDims, contractProblems, MODEL_KEYS, type ModelKey, type TensorMetadata } from "./contract";
import { type OnnxHeader, readOnnxHeader } from "./onnx-header";
import { type PresetConfig, presetFieldsSchema, presetSchema, sha256File } from "./preset";
import { ClipTokenizer } from "./tokenizer";

export interface PresetCheck {
  readonly dir: string;
  /** One sentence per problem; empty when the preset is fine. */
  readonly problems: readonly string[];
  /** A short description of a preset without problems (what it is, its sizes, its files). */
  readonly summary?: string;
}

function issueLines(error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }): string[] {
  return error.issues.map((issue) => `preset.json: ${issue.path.length ? issue.path.map(String).join(".") : "(root)"}: ${issue.message}`);
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The fixed size of a tensor's last dimension, or undefined when it is dynamic or the tensor is missing. */
function lastWidth(tensors: readonly TensorMetadata[], name: string): number | undefined {
  const size = tensors.find((tensor) => tensor.name === name)?.shape.at(-1);
  return typeof size === "number" && size > 0 ? size : undefined;
}

/**
 * Every place that fixes the embedding width D, with the D it implies, so one line can say which
 * disagree with embedding.dim (the UNet's class_labels hold [noise-augmented embedding, level embedding], 2·D wide).
 */
function widthsOfD(config: PresetConfig, headers: Partial<Record<ModelKey, OnnxHeader>>): { where: string; d: number; shown: string }[] {
  const found: { where: string; d: number; shown: string }[] = [];
  const vector = (where: string, values: readonly number[]) => found.push({ where, d: values.length, shown: `${values.length} values` });
  vector("noiseAugmentation.mean", config.noiseAugmentation.mean);
  vector("noiseAugmentation.std", config.noiseAugmentation.std);
  if (config.bridge.type === "gap-shift") {
    vector("bridge.textMean", config.bridge.textMean);
    vector("bridge.imageMean", config.bridge.imageMean);
  }
  const tensor = (key: ModelKey, kind: "inputs" | "outputs", name: string) => {
    const header = headers[key];
    const width = header && lastWidth(header[kind], name);
    if (width === undefined) return;
    const file = path.basename(config.files[key].path);
    if (key === "unet") found.push({ where: `${file} class_labels`, d: width / 2, shown: `${width} wide` });
    else found.push({ where: `${file} ${name}`, d: width, shown: `${width} wide` });
  };
  tensor("clipText", "outputs", "text_embeds");
  tensor("clipImage", "outputs", "image_embeds");
  for (const key of ["adapterText", "adapterImage"] as const) {
    tensor(key, "inputs", "embedding");
    for (const head of ["mu", "one_over_alpha", "beta"]) tensor(key, "outputs", head);
  }
  tensor("unet", "inputs", "class_labels");
  return found;
}

function tokenizerProblems(dir: string, config: PresetConfig): string[] {
  const problems: string[] = [];
  const tokenizers = [["tokenizer", config.tokenizer] as const, ...(config.promptTokenizer ? [["promptTokenizer", config.promptTokenizer] as const] : [])];
  for (const [field, files] of tokenizers) {
    const missing = (["vocab", "merges"] as const).filter((part) => !existsSync(path.join(dir, files[part])));
    for (const part of missing) problems.push(`${field}.${part}: ${files[part]} is missing`);
    if (missing.length) continue;
    try {
      ClipTokenizer.fromFiles(path.join(dir, files.vocab), path.join(dir, files.merges), files);
    } catch (error) {
      problems.push(`${field}: cannot be loaded: ${errorMessage(error)}`);
    }
  }
  return problems;
}

/**
 * The exporter's record of every file's sha256 (models/export), external weight files included, which
 * `files` cannot name: provenance is free-form in the schema, so its shape is checked here.
 */
const fileHashesSchema = z.record(
  z.string().refine((p) => !path.isAbsolute(p) && !p.split(/[\\/]/).includes(".."), { message: "must be a path inside the preset folder" }),
  z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lowercase hex digits"),
);

/**
 * What `python3 -m models.export.parity` writes beside preset.json: the graphs it checked (by
 * sha256) against the modules they came from, and the verdict.
 */
export const PARITY_RECORD = "parity.json";
const parityRecordSchema = z.looseObject({
  version: z.literal(1),
  checkedAt: z.string(),
  graphs: fileHashesSchema,
  checks: z.record(z.string(), z.looseObject({ passed: z.boolean(), problems: z.array(z.string()), relativeDifference: z.number().nullable() })),
  passed: z.boolean(),
});

/** The parity record's problems (a failed or stale record), or the summary line it earns; no record is no problem. */
async function parityReport(dir: string, hashOf: (relative: string) => Promise<string>): Promise<{ problems: string[]; line: string }> {
  const file = path.join(dir, PARITY_RECORD);
  const how = `python3 -m models.export.parity --preset ${dir} compares the graphs with the modules they were exported from`;
  if (!existsSync(file)) return { problems: [], line: `parity: no record (${how})` };
  let record: z.infer<typeof parityRecordSchema>;
  try {
    const parsed = parityRecordSchema.safeParse(JSON.parse(readFileSync(file, "utf8")));
    if (!parsed.success) return { problems: issueLines(parsed.error).map((line) => line.replace(/^preset\.json/, PARITY_RECORD)), line: "" };
    record = parsed.data;
  } catch (error) {
    return { problems: [`${PARITY_RECORD} is not valid JSON: ${errorMessage(error)}`], line: "" };
  }
  const changed: string[] = [];
  for (const [relative, sha256] of Object.entries(record.graphs)) {
    if (!existsSync(path.join(dir, relative)) || (await hashOf(relative)) !== sha256) changed.push(relative);
  }
  if (changed.length) return { problems: [`${PARITY_RECORD}: recorded for other files: ${changed.join(", ")} changed since it was checked; run parity again (${how})`], line: "" };
  if (!record.passed) {
    const failed = Object.entries(record.checks).filter(([, check]) => !check.passed).map(([key, check]) => `${key}: ${check.problems.join("; ")}`);
    return { problems: [`${PARITY_RECORD}: the last parity check failed (${record.checkedAt}): ${failed.join("; ")}`], line: "" };
  }
  const largest = Math.max(...Object.values(record.checks).map((check) => check.relativeDifference ?? 0));
  return { problems: [], line: `parity: passed on ${record.checkedAt}, largest difference ${largest.toExponential(1)} of an output's range, for these very files` };
}

/** One hashing per file, however many entries of preset.json name it. */
function hasher(dir: string): (relative: string) => Promise<string> {
  const hashes = new Map<string, Promise<string>>();
  return (relative) => {
    const key = path.normalize(relative);
    let pending = hashes.get(key);
    if (!pending) {
      pending = sha256File(path.join(dir, key));
      hashes.set(key, pending);
    }
    return pending;
  };
}

async function hashProblem(where: string, relative: string, expected: string, hashOf: (relative: string) => Promise<string>): Promise<string[]> {
  const actual = await hashOf(relative);
  return actual === expected ? [] : [`${where}: ${relative} has sha256 ${actual}, but preset.json says ${expected} (the file changed or preset.json is stale)`];
}

/** Checks the preset folder `dir`: preset.json, every file it names, hashes, ONNX signatures and the embedding width. */
export async function checkPreset(dir: string): Promise<PresetCheck> {
  const jsonPath = path.join(dir, "preset.json");
  if (!existsSync(jsonPath)) return { dir, problems: [`no preset.json in ${dir}`] };
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(jsonPath, "utf8"));
  } catch (error) {
    return { dir, problems: [`preset.json is not valid JSON: ${errorMessage(error)}`] };
  }
  const problems: string[] = [];
  const full = presetSchema.safeParse(parsed);
  let config: PresetConfig;
  if (full.success) {
    config = full.data;
  } else {
    problems.push(...issueLines(full.error));
    // Fields that only disagree with each other (a vector of the wrong length) still let the files be checked.
    const fields = presetFieldsSchema.safeParse(parsed);
    if (!fields.success) return { dir, problems };
    config = fields.data;
  }

  problems.push(...tokenizerProblems(dir, config));
  const dims = contractDims(config);
  const headers: Partial<Record<ModelKey, OnnxHeader>> = {};
  const hashOf = hasher(dir);
  const hashChecks: Promise<string[]>[] = [];
  /** Files already reported missing, so a second record of the same file does not repeat it. */
  const missing = new Set<string>();
  for (const key of MODEL_KEYS) {
    const { path: relative, sha256 } = config.files[key];
    const file = path.join(dir, relative);
    if (!existsSync(file)) {
      problems.push(`files.${key}: ${relative} is missing`);
      missing.add(path.normalize(relative));
      continue;
    }
    hashChecks.push(hashProblem(`files.${key}`, relative, sha256, hashOf));
    let header: OnnxHeader;
    try {
      header = readOnnxHeader(file);
    } catch (error) {
      problems.push(`files.${key}: ${relative} is not a readable ONNX model: ${errorMessage(error)}`);
      continue;
    }
    headers[key] = header;
    problems.push(...contractProblems(key, header, dims, `files.${key}: ${relative}`));
    for (const location of header.externalData) {
      const weights = path.join(path.dirname(file), location);
      if (existsSync(weights)) continue;
      problems.push(`files.${key}: ${relative} keeps weights in ${location}, which is missing`);
      missing.add(path.relative(dir, weights));
    }
  }
  if (config.provenance.fileHashes !== undefined) {
    const recorded = fileHashesSchema.safeParse(config.provenance.fileHashes);
    if (!recorded.success) {
      problems.push(...recorded.error.issues.map((issue) => `preset.json: provenance.fileHashes${issue.path.map((p) => `.${String(p)}`).join("")}: ${issue.message}`));
    } else {
      for (const [relative, sha256] of Object.entries(recorded.data)) {
        if (missing.has(path.normalize(relative))) continue;
        if (!existsSync(path.join(dir, relative))) problems.push(`provenance.fileHashes: ${relative} is missing`);
        else hashChecks.push(hashProblem("provenance.fileHashes", relative, sha256, hashOf));
      }
    }
  }
  const dim = config.embedding.dim;
  for (const modality of ["text", "image"] as const) {
    const record = config.epistemic?.[modality];
    if (!record) continue;
    const where = `epistemic.${modality}.bank`;
    const file = path.join(dir, record.bank.path);
    if (!existsSync(file)) {
      problems.push(`${where}: ${record.bank.path} is missing`);
      continue;
    }
    const expected = record.count * dim * 4;
    const size = statSync(file).size;
    if (size !== expected) problems.push(`${where}: ${record.bank.path} has ${size} bytes; count ${record.count} × D ${dim} float32 values need ${expected}`);
    hashChecks.push(hashProblem(where, record.bank.path, record.bank.sha256, hashOf));
  }
  for (const found of await Promise.all(hashChecks)) problems.push(...found);
  const parity = await parityReport(dir, hashOf);
  problems.push(...parity.problems);

  const disagreeing = widthsOfD(config, headers).filter((width) => width.d !== dim);
  if (disagreeing.length) {
    problems.push(`D disagrees: embedding.dim is ${dim}, but ${disagreeing.map((w) => `${w.where} is ${w.shown} (D = ${w.d})`).join(", ")}`);
  }
  if (problems.length) return { dir, problems };

  const modelFiles = MODEL_KEYS.flatMap((key) => {
    const file = path.join(dir, config.files[key].path);
    return [file, ...(headers[key]?.externalData ?? []).map((location) => path.join(path.dirname(file), location))];
  });
  const bytes = [...new Set(modelFiles)].reduce((sum, file) => sum + statSync(file).size, 0);
  const unetInputs = headers.unet?.inputs.map((input) => `${input.name} ${input.type}`).join(", ");
  const side = config.image.size;
  const latentSide = side / config.latent.downsample;
  return {
    dir,
    problems,
    summary: [
      `${config.name} (${config.title}): fine`,
      `D = ${dim}, images ${side}×${side}, latents ${config.latent.channels}×${latentSide}×${latentSide}, CLIP input ${config.image.clip.size}×${config.image.clip.size}`,
      `${MODEL_KEYS.length} models, ${(bytes / 2 ** 20).toFixed(1)} MiB with their external weights, every sha256 matches and every signature meets the contract`,
      `unet inputs: ${unetInputs}`,
      config.epistemic
        ? `out-of-distribution records: ${config.corpus ? `a corpus of ${config.corpus.vocabulary.length} words` : "no corpus"}, epistemic banks of ${config.epistemic.text.count} captions and ${config.epistemic.image.count} images`
        : "out-of-distribution records: none (runs get no epistemic score)",
      parity.line,
    ].join("\n"),
  };
}

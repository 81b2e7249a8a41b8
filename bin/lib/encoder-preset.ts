import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import type { ContractDims, ModelSession, OpenOptions } from "../../lib/engine/onnx";
import { openModel } from "../../lib/engine/onnx";
import { OnnxHeaderError, readOnnxHeader } from "../../lib/engine/onnx-header";
import { describeIssues, presetSchema, resolvePresetDir, sha256File } from "../../lib/engine/preset";
import { ClipTokenizer } from "../../lib/engine/tokenizer";

/*
 * The CLIP half of a preset, opened the way the engine opens it (its schema pieces, hash checks,
 * tokenizer and onnxruntime sessions) but without requiring the rest: embed-pairs runs on a freshly
 * exported preset before it has an adapter, bridge or uncertainty references, which is exactly what
 * the pairs it writes are for (docs/real-presets.md, "Two steps").
 */

const presetFields = presetSchema.shape;

export const encoderPresetSchema = z.object({
  name: presetFields.name,
  embedding: presetFields.embedding,
  tokenizer: presetFields.tokenizer,
  image: z.object({ clip: presetFields.image.shape.clip }),
  limits: presetFields.limits.pick({ maxImageSide: true, maxBatch: true }),
  files: z.object({ clipText: presetFields.files.shape.clipText, clipImage: presetFields.files.shape.clipImage }),
  provenance: presetFields.provenance,
});

export type EncoderPresetConfig = z.infer<typeof encoderPresetSchema>;

export interface PresetEncoders {
  readonly dir: string;
  readonly config: EncoderPresetConfig;
  /**
   * sha256 over everything the embeddings depend on: the towers' graphs, external weights and
   * tokenizer files (by their sha256) and the preprocessing settings. Training the adapter rewrites preset.json but not
   * this, so pairs made before and after it belong to the same space.
   */
  readonly digest: string;
  readonly text: ModelSession;
  readonly image: ModelSession;
  readonly tokenizer: ClipTokenizer;
}

function invalidPreset(message: string): Error {
  return new Error(`invalid preset: ${message}`);
}

async function sha256OrMissing(file: string, what: string): Promise<string> {
  try {
    return await sha256File(file);
  } catch {
    throw invalidPreset(`${what} ${file} is missing or unreadable`);
  }
}

/**
 * A tower's graph checked against files.<key>, and its external weight files (models over 2 GB keep
 * them beside the graph) against provenance.fileHashes, as the engine's loadPreset checks them.
 * Returns the graph's path and the weight files' hashes by path relative to the preset.
 */
async function verifiedTower(dir: string, config: EncoderPresetConfig, key: "clipText" | "clipImage"): Promise<{ file: string; weights: Record<string, string> }> {
  const entry = config.files[key];
  const file = path.join(dir, entry.path);
  const actual = await sha256OrMissing(file, `preset file (files.${key})`);
  if (actual !== entry.sha256) throw invalidPreset(`preset file ${file} (files.${key}) has sha256 ${actual}, but preset.json says ${entry.sha256}`);
  let external: readonly string[];
  try {
    external = readOnnxHeader(file).externalData;
  } catch (error) {
    if (error instanceof OnnxHeaderError) return { file, weights: {} }; // not ONNX: opening the session says so in the contract's words
    throw error;
  }
  const recorded = (config.provenance.fileHashes ?? {}) as Record<string, unknown>;
  const weights: Record<string, string> = {};
  for (const name of external) {
    const weightsFile = path.join(path.dirname(file), name);
    const relative = path.relative(dir, weightsFile).split(path.sep).join("/");
    const expected = recorded[relative];
    if (typeof expected !== "string") throw invalidPreset(`${file} (files.${key}) keeps its weights in ${relative}, which has no sha256 in provenance.fileHashes`);
    const weightsHash = await sha256OrMissing(weightsFile, `external weights of files.${key}`);
    if (weightsHash !== expected) throw invalidPreset(`external weights ${weightsFile} of files.${key} have sha256 ${weightsHash}, but provenance.fileHashes says ${expected}`);
    weights[relative] = weightsHash;
  }
  return { file, weights };
}

/** Opens a preset's CLIP text and image towers and tokenizer; the other models need not exist yet. */
export async function openPresetEncoders(nameOrDir: string, openOptions?: OpenOptions): Promise<PresetEncoders> {
  const dir = resolvePresetDir(nameOrDir);
  const jsonPath = path.join(dir, "preset.json");
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(jsonPath, "utf8"));
  } catch (error) {
    throw invalidPreset(`cannot read ${jsonPath} as JSON (${(error as Error).message})`);
  }
  const parsed = encoderPresetSchema.safeParse(json);
  if (!parsed.success) throw invalidPreset(`${jsonPath}: ${describeIssues(parsed.error)}`);
  const config = parsed.data;

  const { tokenizer: files } = config;
  const tokenizer = ClipTokenizer.fromFiles(path.join(dir, files.vocab), path.join(dir, files.merges), {
    pad: files.pad,
    bos: files.bos,
    eos: files.eos,
    contextLength: files.contextLength,
  });
  // Only the CLIP towers are opened, and their contract reads D, contextLength and clipSize; the
  // decoder's sizes (latent, image side, prompt encoder) are not this preset subset's to give.
  const dims: ContractDims = {
    D: config.embedding.dim,
    twoD: 2 * config.embedding.dim,
    contextLength: files.contextLength,
    promptContextLength: files.contextLength,
    clipSize: config.image.clip.size,
    latentChannels: 0,
    latentSide: 0,
    imageSide: 0,
  };
  const textTower = await verifiedTower(dir, config, "clipText");
  const imageTower = await verifiedTower(dir, config, "clipImage");
  const text = await openModel("clipText", textTower.file, dims, openOptions);
  const image = await openModel("clipImage", imageTower.file, dims, openOptions);

  const tokenizerFiles = [files.vocab, files.merges].map((file) => createHash("sha256").update(readFileSync(path.join(dir, file))).digest("hex"));
  const digest = createHash("sha256")
    .update(
      JSON.stringify({
        embedding: config.embedding,
        tokenizer: files,
        tokenizerFiles,
        clip: config.image.clip,
        files: config.files,
        weights: { clipText: textTower.weights, clipImage: imageTower.weights },
      }),
    )
    .digest("hex");
  return { dir, config, digest, text, image, tokenizer };
}

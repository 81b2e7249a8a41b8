import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import type { ContractDims } from "./contract";
import { type ModelSession, type OpenOptions, openModel } from "./onnx";
import { describeIssues, presetSchema, resolvePresetDir, verifyModelFile } from "./preset";
import { ClipTokenizer } from "./tokenizer";

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
  const textTower = await verifyModelFile(dir, config.files.clipText, "clipText", config.provenance);
  const imageTower = await verifyModelFile(dir, config.files.clipImage, "clipImage", config.provenance);
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
        weights: { clipText: textTower.externalHashes, clipImage: imageTower.externalHashes },
      }),
    )
    .digest("hex");
  return { dir, config, digest, text, image, tokenizer };
}

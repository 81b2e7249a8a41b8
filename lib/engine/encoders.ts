/**
 * The frozen encoders: captions → CLIP text embeddings, image bytes → CLIP pixel tensors →
 * image embeddings, and prompt strings → the prompt encoder's hidden states for the UNet.
 */
import sharp, { type Metadata } from "sharp";
import { EngineError } from "./errors";
import type { ModelSession, Output } from "./onnx";
import type { Preset, PresetConfig, TokenizerFiles } from "./preset";
import { ClipTokenizer } from "./tokenizer";

export function loadTokenizer(preset: Preset, files: TokenizerFiles): ClipTokenizer {
  return ClipTokenizer.fromFiles(preset.resolve(files.vocab), preset.resolve(files.merges), {
    pad: files.pad,
    bos: files.bos,
    eos: files.eos,
    contextLength: files.contextLength,
  });
}

/** Equal-length rows laid back to back: the data of a [B, …] input. */
export function stackRows(rows: readonly Float32Array[]): Float32Array {
  const width = rows[0]?.length ?? 0;
  const batch = new Float32Array(rows.length * width);
  rows.forEach((row, i) => batch.set(row, i * width));
  return batch;
}

/** Row b of a [B, …] output, as its own array. */
export function rowsOf(output: Output): Float32Array[] {
  const batch = output.dims[0];
  const width = output.data.length / batch;
  return Array.from({ length: batch }, (_, b) => output.data.slice(b * width, (b + 1) * width));
}

/** CLIP text embeddings (the projection output, not normalised), one per text. */
export async function encodeTexts(session: ModelSession, tokenizer: ClipTokenizer, texts: readonly string[]): Promise<Float32Array[]> {
  const { ids } = tokenizer.encodeBatch(texts);
  const outputs = await session.run({ input_ids: { data: ids, dims: [texts.length, tokenizer.contextLength] } });
  return rowsOf(outputs.text_embeds);
}

/** The prompt encoder's last_hidden_state for one prompt: [1, contextLength, H]. */
export async function promptHiddenStates(session: ModelSession, tokenizer: ClipTokenizer, prompt: string): Promise<Output> {
  const ids = tokenizer.encodeForModel(prompt);
  const outputs = await session.run({ input_ids: { data: ids, dims: [1, tokenizer.contextLength] } });
  return outputs.last_hidden_state;
}

// ───────────────────────── images ─────────────────────────

export const IMAGE_FORMATS = ["png", "jpeg", "webp"] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

export interface ImageInfo {
  readonly format: ImageFormat;
  readonly width: number;
  readonly height: number;
}

export interface PreprocessedImage {
  /** [3, S, S] float32, channel-major: (pixel/255 − mean)/std. */
  readonly pixels: Float32Array;
  readonly info: ImageInfo;
}

type ClipPreprocessing = PresetConfig["image"]["clip"];

function invalidImage(message: string, cause?: unknown): EngineError {
  return new EngineError("invalid_input", message, cause === undefined ? undefined : { cause });
}

/**
 * CLIP preprocessing as Hugging Face's CLIPImageProcessor does it: RGB (alpha dropped, as PIL's
 * convert("RGB")), shortest side resized to S with the long side floored, centre crop S×S with
 * the offset floored, /255, (x − mean)/std. Bicubic is sharp's "cubic" kernel, a Catmull-Rom
 * spline: the same a = −0.5 cubic as PIL's BICUBIC ("mitchell" is a smoother B = C = 1/3 filter).
 * EXIF orientation is ignored, as by the reference.
 *
 * Only PNG, JPEG and WebP are accepted; an image whose header declares a side above `maxSide` is
 * refused before any pixel is decoded.
 */
export async function preprocessImage(bytes: Uint8Array, clip: ClipPreprocessing, maxSide: number): Promise<PreprocessedImage> {
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) throw invalidImage("image is empty; send PNG, JPEG or WebP bytes");
  let header: Metadata;
  try {
    // Reads the header only, so no pixel limit is needed yet: the size check below comes first.
    header = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (cause) {
    throw invalidImage("the bytes are not a readable image; send PNG, JPEG or WebP", cause);
  }
  const format = header.format as string;
  if (!(IMAGE_FORMATS as readonly string[]).includes(format)) {
    throw invalidImage(`unsupported image format ${format}; send PNG, JPEG or WebP`);
  }
  const { width, height } = header;
  if (!width || !height) throw invalidImage("the image header has no size");
  if (width > maxSide || height > maxSide) {
    throw invalidImage(`the image is ${width}×${height}; this preset accepts images up to ${maxSide} pixels on each side`);
  }

  // Two passes, because sharp resizes before it drops alpha (premultiplying colours by it), while
  // the reference drops alpha first: decode to RGB at full size, then resize and crop those bytes.
  let rgb: Buffer;
  try {
    // Warnings too: a JPEG whose header claims more pixels than its data holds decodes (as grey) with only a warning.
    rgb = await sharp(bytes, { limitInputPixels: maxSide * maxSide, failOn: "warning" }).removeAlpha().toColourspace("srgb").raw().toBuffer();
  } catch (cause) {
    throw invalidImage(`the ${format} image is truncated or corrupt`, cause);
  }
  const S = clip.size;
  if (width !== S || height !== S) {
    const scale = S / Math.min(width, height);
    const resizedWidth = width <= height ? S : Math.floor(width * scale);
    const resizedHeight = width <= height ? Math.floor(height * scale) : S;
    let pipeline = sharp(rgb, { raw: { width, height, channels: 3 } });
    if (resizedWidth !== width || resizedHeight !== height) pipeline = pipeline.resize(resizedWidth, resizedHeight, { fit: "fill", kernel: "cubic" });
    rgb = await pipeline
      .extract({ left: Math.floor((resizedWidth - S) / 2), top: Math.floor((resizedHeight - S) / 2), width: S, height: S })
      .raw()
      .toBuffer();
  }

  const pixels = new Float32Array(3 * S * S);
  for (let c = 0; c < 3; c++) {
    const mean = clip.mean[c];
    const std = clip.std[c];
    for (let i = 0; i < S * S; i++) pixels[c * S * S + i] = (rgb[i * 3 + c] / 255 - mean) / std;
  }
  return { pixels, info: { format: format as ImageFormat, width, height } };
}

/** CLIP image embeddings for preprocessed [3, S, S] images, one per image. */
export async function encodeImages(session: ModelSession, images: readonly Float32Array[], size: number): Promise<Float32Array[]> {
  const outputs = await session.run({ pixel_values: { data: stackRows(images), dims: [images.length, 3, size, size] } });
  return rowsOf(outputs.image_embeds);
}

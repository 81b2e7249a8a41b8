/**
 * The Stable unCLIP decoder (diffusers' StableUnCLIPImg2ImgPipeline; docs/science.md, section 7):
 * image embeddings → noise-augmented class labels → classifier-free-guided denoising with a
 * scheduler → VAE → RGB bytes. Cells are decoded in batches as large as the preset allows.
 */
import { EngineError } from "./errors";
import { classLabels, type EmbeddingNormalizer, noiseAugment } from "./noise-augmentation";
import type { Feed, ModelSession, Output } from "./onnx";
import type { Rng } from "./random";
import { createScheduler, type SchedulerConfig } from "./schedulers";

export interface UnclipDecoder {
  readonly unet: ModelSession;
  readonly vaeDecoder: ModelSession;
  readonly latent: { readonly channels: number; readonly downsample: number; readonly scalingFactor: number };
  /** Side of the decoded image in pixels. */
  readonly imageSize: number;
  readonly normalizer: EmbeddingNormalizer;
}

/** Prompt encoder hidden states [1, L, H]: `cond` for the prompt, `uncond` for "". */
export interface PromptStates {
  readonly cond: Output;
  readonly uncond: Output;
}

export interface DecodeProgress {
  /** UNet evaluations done, over all batches. */
  readonly evaluation: number;
  readonly evaluations: number;
  /** The batch being denoised (0-based) and how many there are. */
  readonly batch: number;
  readonly batches: number;
  /** The embeddings (indices into the decoded list) in the batch being denoised. */
  readonly activeCells: readonly number[];
}

export interface DecodedImage {
  /** Row-major RGB, height × width × 3. */
  readonly rgb: Uint8Array;
  readonly width: number;
  readonly height: number;
}

export interface DecodeOptions {
  readonly steps: number;
  readonly guidanceScale: number;
  /** Noise augmentation level, 0 … trainTimesteps − 1. */
  readonly noiseLevel: number;
  /** The preset's scheduler config, with the type the run asked for. */
  readonly scheduler: SchedulerConfig;
  readonly prompt: PromptStates;
  /**
   * A fresh generator for embedding i's diffusion noise: first its initial latents, then its
   * noise-augmentation ε. Cells given equal streams get equal noise (a grid column).
   */
  readonly noiseStream: (index: number) => Rng;
  /** UNet batch limit, counting both halves of a guidance pair. */
  readonly maxBatch: number;
  /**
   * Decode the first `leadBatch` embeddings (a grid's mean row) in a batch of their own, so they are
   * ready first; the rest follow in even batches. 0 or absent: even batches throughout.
   */
  readonly leadBatch?: number;
  readonly signal?: AbortSignal;
  readonly onStep?: (progress: DecodeProgress) => void;
  /** Called as each image is ready; the promise still resolves only when all are. */
  readonly onCell?: (index: number, image: DecodedImage) => void;
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new EngineError("cancelled", "the decode was cancelled");
}

/** `times` copies of `block`, back to back. */
function repeat(block: Float32Array, times: number): Float32Array {
  const out = new Float32Array(block.length * times);
  for (let i = 0; i < times; i++) out.set(block, i * block.length);
  return out;
}

function concat(...parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((sum, p) => sum + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** The UNet's timestep in the form its export declares: a scalar, [1], or one per batch row. */
function timestepFeed(unet: ModelSession, t: number, batch: number): Feed {
  const { shape } = unet.input("timestep");
  if (shape.length === 0) return { data: Float32Array.of(t), dims: [] };
  if (shape[0] === 1) return { data: Float32Array.of(t), dims: [1] };
  return { data: new Float32Array(batch).fill(t), dims: [batch] };
}

/** VAE output in [−1, 1], [B, 3, H, W] → B images of RGB bytes via (x/2 + ½) clamped to [0, 1]. */
function toImages(sample: Output): DecodedImage[] {
  const [batch, channels, height, width] = sample.dims;
  const plane = height * width;
  return Array.from({ length: batch }, (_, b) => {
    const rgb = new Uint8Array(plane * 3);
    const base = b * channels * plane;
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < plane; i++) {
        const value = Math.min(1, Math.max(0, sample.data[base + c * plane + i] / 2 + 0.5));
        rgb[i * 3 + c] = Math.round(value * 255);
      }
    }
    return { rgb, width, height };
  });
}

/** Even batches of at most `perCall`: 20 cells at 16 per call run as 10 + 10, not 16 + 4. */
function evenBatches(start: number, count: number, perCall: number): number[][] {
  const batches = Math.ceil(count / perCall);
  const size = Math.ceil(count / Math.max(1, batches));
  return Array.from({ length: batches }, (_, b) =>
    Array.from({ length: Math.min(size, count - b * size) }, (_, i) => start + b * size + i),
  );
}

/** The embedding indices of each UNet batch, in decoding order. */
export function batchPlan(count: number, perCall: number, leadBatch = 0): number[][] {
  const lead = Math.min(Math.max(0, Math.floor(leadBatch)), perCall, count);
  if (lead === 0 || lead === count) return evenBatches(0, count, perCall);
  return [evenBatches(0, lead, perCall)[0], ...evenBatches(lead, count - lead, perCall)];
}

/**
 * Decodes image embeddings (decoder space, each of length D) into images. All or nothing: a
 * cancelled or failed decode returns no images (onCell may already have seen some).
 */
export async function decodeEmbeddings(decoder: UnclipDecoder, embeddings: readonly Float32Array[], options: DecodeOptions): Promise<DecodedImage[]> {
  const { guidanceScale, maxBatch } = options;
  if (!Number.isFinite(guidanceScale) || guidanceScale < 0) {
    throw new EngineError("invalid_input", `guidanceScale must be a finite number ≥ 0, got ${guidanceScale}`);
  }
  if (!Number.isSafeInteger(maxBatch) || maxBatch < 1) throw new EngineError("invalid_input", `maxBatch must be an integer ≥ 1, got ${maxBatch}`);
  const D = decoder.normalizer.mean.length;
  embeddings.forEach((e, i) => {
    if (e.length !== D) throw new EngineError("invalid_input", `embedding ${i} has ${e.length} values; the decoder reads ${D}`);
  });
  // Guidance 1 gives ε = ε_c exactly, so the unconditional half would be wasted work.
  const guided = guidanceScale !== 1;
  const perCall = Math.max(1, Math.floor(maxBatch / (guided ? 2 : 1)));
  const plan = batchPlan(embeddings.length, perCall, options.leadBatch);
  const batches = plan.length;
  const evaluationsPerBatch = createScheduler(options.scheduler, options.steps).timesteps.length;
  const evaluations = batches * evaluationsPerBatch;

  const images: DecodedImage[] = [];
  for (let batch = 0; batch < batches; batch++) {
    const indices = plan[batch];
    const decoded = await decodeBatch(decoder, embeddings, indices, guided, options, (done) =>
      options.onStep?.({ evaluation: batch * evaluationsPerBatch + done, evaluations, batch, batches, activeCells: indices }),
    );
    decoded.forEach((image, i) => {
      images.push(image);
      options.onCell?.(indices[i], image);
    });
  }
  return images;
}

async function decodeBatch(
  decoder: UnclipDecoder,
  embeddings: readonly Float32Array[],
  indices: readonly number[],
  guided: boolean,
  options: DecodeOptions,
  onEvaluation: (done: number) => void,
): Promise<DecodedImage[]> {
  const { channels, downsample, scalingFactor } = decoder.latent;
  const side = decoder.imageSize / downsample;
  const latentSize = channels * side * side;
  const D = decoder.normalizer.mean.length;
  const n = indices.length;
  const scheduler = createScheduler(options.scheduler, options.steps);

  const rows = guided ? 2 * n : n;
  const half = n * latentSize;
  // One array, rewritten in place at every step, holds the UNet's sample: with guidance, CFG batch
  // order [uncond, cond], both halves the same latents. The cond half is the scheduler's state and
  // is stepped in place; the uncond half is copied from it before each evaluation.
  const sample = decoder.unet.reusableFeed("sample", [rows, channels, side, side]);
  const latents = sample.values.subarray(guided ? half : 0);
  const augmentationNoise = new Float32Array(n * D);
  const batchEmbeddings = new Float32Array(n * D);
  indices.forEach((index, i) => {
    const rng = options.noiseStream(index);
    const cellLatents = latents.subarray(i * latentSize, (i + 1) * latentSize);
    rng.fillNormal(cellLatents);
    for (let k = 0; k < latentSize; k++) cellLatents[k] *= scheduler.initNoiseSigma;
    rng.fillNormal(augmentationNoise.subarray(i * D, (i + 1) * D));
    batchEmbeddings.set(embeddings[index], i * D);
  });

  const conditioned = classLabels(noiseAugment(batchEmbeddings, D, options.noiseLevel, decoder.normalizer, augmentationNoise), options.noiseLevel, D);
  const { cond, uncond } = options.prompt;
  const [, contextLength, hidden] = cond.dims;
  // Unconditional rows have all-zero class labels and the "" prompt.
  const labels = guided ? concat(new Float32Array(conditioned.length), conditioned) : conditioned;
  const hiddenStates = guided ? concat(repeat(uncond.data, n), repeat(cond.data, n)) : repeat(cond.data, n);
  // The same for every step of the batch: converted to the UNet's input types once.
  const staticFeeds = {
    encoder_hidden_states: decoder.unet.prepare("encoder_hidden_states", { data: hiddenStates, dims: [rows, contextLength, hidden] }),
    class_labels: decoder.unet.prepare("class_labels", { data: labels, dims: [rows, 2 * D] }),
  };
  // Where a float16 prediction is converted, every step; a float32 one arrives in onnxruntime's own array.
  const prediction = { out_sample: new Float32Array(rows * latentSize) };

  for (const [done, t] of scheduler.timesteps.entries()) {
    throwIfAborted(options.signal);
    if (guided) sample.values.copyWithin(0, half);
    const outputs = await decoder.unet.run({ ...staticFeeds, sample, timestep: timestepFeed(decoder.unet, t, rows) }, prediction);
    const predicted = outputs.out_sample.data;
    if (guided) {
      // ε = ε_u + g·(ε_c − ε_u), written over ε_u: each element is read before it is overwritten.
      const g = options.guidanceScale;
      for (let i = 0; i < half; i++) predicted[i] = predicted[i] + g * (predicted[half + i] - predicted[i]);
    }
    scheduler.step(predicted.subarray(0, half), t, latents, latents);
    onEvaluation(done + 1);
  }

  throwIfAborted(options.signal);
  const scaled = Float32Array.from(latents, (v) => v / scalingFactor);
  const outputs = await decoder.vaeDecoder.run({ latent_sample: { data: scaled, dims: [n, channels, side, side] } });
  return toImages(outputs.sample);
}

// Stable unCLIP's noise augmentation of the image embedding (diffusers'
// StableUnCLIPImg2ImgPipeline.noise_image_embeddings): normalise, noise to
// level n on a squaredcos_cap_v2 schedule, unnormalise, and append a
// sinusoidal embedding of n. The caller brings the noise ε from its own
// seeded generator, so a run stays reproducible.

import { EngineError } from "./errors";

/** The embedding normaliser of a preset (contract field `noiseAugmentation`). */
export interface EmbeddingNormalizer {
  readonly mean: ArrayLike<number>;
  readonly std: ArrayLike<number>;
  /** Length of the noise schedule; Stable unCLIP uses 1000. */
  readonly trainTimesteps?: number;
}

const DEFAULT_TRAIN_TIMESTEPS = 1000;

/**
 * ā_n of the squaredcos_cap_v2 ("Glide cosine") schedule:
 * β_i = min(1 − ā(i+1/N)/ā(i/N), 0.999) with ā(t) = cos²(((t + 0.008)/1.008)·π/2),
 * multiplied up in float64 (the published constants are float64 values).
 */
export function cosineAlphasCumprod(trainTimesteps = DEFAULT_TRAIN_TIMESTEPS): Float64Array {
  const alphaBar = (t: number) => Math.cos((((t + 0.008) / 1.008) * Math.PI) / 2) ** 2;
  const out = new Float64Array(trainTimesteps);
  let product = 1;
  for (let i = 0; i < trainTimesteps; i++) {
    const beta = Math.min(1 - alphaBar((i + 1) / trainTimesteps) / alphaBar(i / trainTimesteps), 0.999);
    product *= 1 - beta;
    out[i] = product;
  }
  return out;
}

/**
 * Noises a batch of embeddings (B×D, row-major) to `level`:
 * x = (e − mean)/std; x = √ā·x + √(1−ā)·ε; return x·std + mean.
 * Level 0 still adds a little noise (√(1−ā_0) ≈ 0.0064), as in diffusers.
 */
export function noiseAugment(
  embedding: Float32Array,
  D: number,
  level: number,
  normalizer: EmbeddingNormalizer,
  noise: Float32Array,
): Float32Array<ArrayBuffer> {
  const trainTimesteps = normalizer.trainTimesteps ?? DEFAULT_TRAIN_TIMESTEPS;
  if (!Number.isInteger(level) || level < 0 || level >= trainTimesteps) {
    throw new EngineError(
      "invalid_input",
      `noise augmentation: level must be an integer from 0 to ${trainTimesteps - 1}, got ${level}`,
    );
  }
  if (!Number.isInteger(D) || D < 1 || embedding.length % D !== 0) {
    throw new Error(`noise augmentation: embedding of ${embedding.length} values is not a batch of D = ${D}`);
  }
  if (noise.length !== embedding.length) {
    throw new Error(`noise augmentation: noise has ${noise.length} values, embedding ${embedding.length}`);
  }
  const { mean, std } = normalizer;
  if (mean.length !== D || std.length !== D) {
    throw new EngineError(
      "invalid_preset",
      `noise augmentation: mean and std need ${D} values, got ${mean.length} and ${std.length}`,
    );
  }
  for (let j = 0; j < D; j++) {
    if (!(std[j] > 0) || !Number.isFinite(std[j])) {
      throw new EngineError("invalid_preset", `noise augmentation: std[${j}] = ${std[j]} must be positive and finite`);
    }
  }
  const a = cosineAlphasCumprod(trainTimesteps)[level];
  const signal = Math.sqrt(a);
  const noiseScale = Math.sqrt(1 - a);
  const out = new Float32Array(embedding.length);
  for (let i = 0; i < embedding.length; i++) {
    const j = i % D;
    const x = (embedding[i] - mean[j]) / std[j];
    out[i] = (signal * x + noiseScale * noise[i]) * std[j] + mean[j];
  }
  return out;
}

/**
 * diffusers' get_timestep_embedding(n, D, flip_sin_to_cos=True,
 * downscale_freq_shift=0): [cos(n·f_i)…, sin(n·f_i)…] with
 * f_i = exp(−ln(10000)·i/(D/2)), i < ⌊D/2⌋; odd D gets a trailing 0.
 * Computed in float64 (diffusers uses float32, which differs by ~n·2⁻²⁴).
 */
export function timestepEmbedding(level: number, D: number): Float32Array<ArrayBuffer> {
  if (!Number.isInteger(D) || D < 2) throw new Error(`timestep embedding: D must be an integer ≥ 2, got ${D}`);
  const half = Math.floor(D / 2);
  const out = new Float32Array(D);
  for (let i = 0; i < half; i++) {
    const angle = level * Math.exp((-Math.log(10000) * i) / half);
    out[i] = Math.cos(angle);
    out[half + i] = Math.sin(angle);
  }
  return out;
}

/**
 * The UNet's `class_labels` for a batch: each row is [augmented embedding (D),
 * timestepEmbedding(level, D)], so the result is B×2D.
 */
export function classLabels(augmented: Float32Array, level: number, D: number): Float32Array<ArrayBuffer> {
  if (!Number.isInteger(D) || D < 2 || augmented.length % D !== 0) {
    throw new Error(`class labels: ${augmented.length} values is not a batch of D = ${D}`);
  }
  const batch = augmented.length / D;
  const emb = timestepEmbedding(level, D);
  const out = new Float32Array(batch * 2 * D);
  for (let b = 0; b < batch; b++) {
    out.set(augmented.subarray(b * D, (b + 1) * D), b * 2 * D);
    out.set(emb, b * 2 * D + D);
  }
  return out;
}

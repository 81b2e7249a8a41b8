/**
 * The ProbVLM adapter at run time: scale a CLIP embedding as the adapter was trained, run it,
 * turn its heads into a generalized Gaussian, rank its uncertainty, and map samples from the
 * adapter's space into the space the unCLIP decoder reads.
 */
import { EngineError } from "./errors";
import { aleatoricVariance, type AdapterHeadConfig, type GgdDistribution, headsToParams, percentileOf } from "./ggd";
import type { ModelSession } from "./onnx";
import type { BridgeConfig, InputScale } from "./preset";
import { rowsOf, stackRows } from "./encoders";

/** Euclidean length. */
export function norm(x: ArrayLike<number>): number {
  let sum = 0;
  for (let j = 0; j < x.length; j++) sum += x[j] * x[j];
  return Math.sqrt(sum);
}

/** x scaled to length `target`; a zero vector cannot be scaled and is an input error. */
function withNorm(x: ArrayLike<number>, target: number): Float32Array {
  const length = norm(x);
  if (!(length > 0)) throw new EngineError("invalid_input", "the embedding is the zero vector; it has no direction to keep");
  return Float32Array.from(x, (v) => (v / length) * target);
}

/** The adapter's input for a raw CLIP embedding (preset adapter.inputScale): as is, unit length, or length 100. */
export function scaleForAdapter(raw: Float32Array, scale: InputScale): Float32Array {
  if (scale === "raw") return raw.slice();
  return withNorm(raw, scale === "l2x100" ? 100 : 1);
}

/** Runs the adapter on scaled embeddings; one distribution per row. */
export async function runAdapter(session: ModelSession, scaled: readonly Float32Array[], heads: AdapterHeadConfig): Promise<GgdDistribution[]> {
  const outputs = await session.run({ embedding: { data: stackRows(scaled), dims: [scaled.length, scaled[0].length] } });
  const mu = rowsOf(outputs.mu);
  const oneOverAlpha = rowsOf(outputs.one_over_alpha);
  const beta = rowsOf(outputs.beta);
  return mu.map((m, i) => headsToParams(m, oneOverAlpha[i], beta[i], heads));
}

export interface UncertaintySummary {
  /** Mean aleatoric variance over dimensions (ProbVLM's scalar). */
  readonly uncertainty: number;
  /** Its percentile (0–100) among the preset's reference captions or images. */
  readonly percentile: number;
  /** α² Γ(3/β) / Γ(1/β) per dimension. */
  readonly variance: Float64Array;
}

export function summarizeUncertainty(dist: GgdDistribution, referenceQuantiles: readonly number[]): UncertaintySummary {
  const variance = aleatoricVariance(dist);
  const uncertainty = variance.reduce((sum, v) => sum + v, 0) / variance.length;
  return { uncertainty, percentile: percentileOf(uncertainty, referenceQuantiles), variance };
}

export type Modality = "text" | "image";

export interface DecoderSpace {
  readonly modality: Modality;
  readonly bridge: BridgeConfig;
  /** The adapter input scale of this modality. */
  readonly inputScale: InputScale;
  /** ‖z‖ of the input's own raw CLIP embedding, restored where the adapter worked on a rescaled one. */
  readonly rawNorm: number;
}

/**
 * A point of the adapter's space as the decoder's image embedding.
 * Caption with a gap-shift bridge: y = x − textMean + imageMean, then y/‖y‖ · imageNorm (the
 * mean raw norm of the training images). Otherwise (images, or bridge "none"): the point is
 * already in the decoder's space up to scale, so an l2 / l2x100 point gets back the input's
 * raw norm, x/‖x‖ · ‖z‖, and a raw-scale point is used as is.
 */
export function toDecoderSpace(x: ArrayLike<number>, space: DecoderSpace): Float32Array {
  const { bridge } = space;
  if (space.modality === "text" && bridge.type === "gap-shift") {
    if (bridge.textMean.length !== x.length) {
      throw new EngineError("invalid_preset", `bridge has ${bridge.textMean.length} dimensions, the embedding ${x.length}`);
    }
    const shifted = Float64Array.from(x, (v, j) => v - bridge.textMean[j] + bridge.imageMean[j]);
    return withNorm(shifted, bridge.imageNorm);
  }
  return space.inputScale === "raw" ? Float32Array.from(x) : withNorm(x, space.rawNorm);
}

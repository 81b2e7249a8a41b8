/**
 * The ProbVLM adapter at run time: scale a CLIP embedding as the adapter was trained, run it,
 * turn its heads into a generalized Gaussian, rank its uncertainty, and map samples from the
 * adapter's space into the space the unCLIP decoder reads.
 */
import { EngineError } from "./errors";
import { type AdapterHeadConfig, type GgdDistribution, headsToParams, logAleatoricVariance, percentileOf } from "./ggd";
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
  /** Mean aleatoric variance over dimensions (ProbVLM's scalar), saturating at Number.MAX_VALUE. */
  readonly uncertainty: number;
  /** ln of that mean, computed in logs: finite for every distribution the adapter's clamps allow. */
  readonly logUncertainty: number;
  /** Its percentile (0–100) among the preset's reference captions or images, ranked in logs. */
  readonly percentile: number;
  /** α² Γ(3/β) / Γ(1/β) per dimension (saturating like the scalar). */
  readonly variance: Float64Array;
}

const LOG_MAX_VALUE = Math.log(Number.MAX_VALUE);

/**
 * The scalar as a log-sum-exp of the per-dimension log variances, so no intermediate overflows
 * (β near its floor makes Γ(3/β) astronomically large: β = 0.01 gives ln Γ(300) ≈ 1409).
 */
export function summarizeUncertainty(dist: GgdDistribution, referenceQuantiles: readonly number[]): UncertaintySummary {
  const logVariance = logAleatoricVariance(dist);
  const largest = logVariance.reduce((max, v) => Math.max(max, v), Number.NEGATIVE_INFINITY);
  const scaledSum = logVariance.reduce((sum, v) => sum + Math.exp(v - largest), 0);
  const logUncertainty = largest + Math.log(scaledSum / logVariance.length);
  const saturate = (logValue: number) => Math.exp(Math.min(logValue, LOG_MAX_VALUE));
  const logQuantiles = referenceQuantiles.map((q) => (q > 0 ? Math.log(q) : Number.NEGATIVE_INFINITY));
  return {
    uncertainty: saturate(logUncertainty),
    logUncertainty,
    percentile: percentileOfLog(logUncertainty, logQuantiles),
    variance: logVariance.map(saturate),
  };
}

/** percentileOf on logs (a reference quantile of 0 is −∞ there, below everything). */
function percentileOfLog(logValue: number, logQuantiles: readonly number[]): number {
  const finiteFloor = logQuantiles.findIndex(Number.isFinite);
  if (finiteFloor < 0) return 100;
  if (finiteFloor === 0) return percentileOf(logValue, logQuantiles);
  // Reference values of exactly 0 occupy the bottom percentiles; every positive value ranks above them.
  const above = percentileOf(logValue, logQuantiles.slice(finiteFloor));
  const floorShare = (100 * finiteFloor) / (logQuantiles.length - 1);
  return floorShare + (above * (100 - floorShare)) / 100;
}

/**
 * What pre(x) adds to a point before the decoder normalizes it (geometry.ts): a caption's
 * gap-shift bridge moves it by imageMean − textMean; everything else is read as it is.
 */
export function decoderShift(space: DecoderSpace, dim: number): Float64Array {
  const bridge = gapShiftBridge(space, dim);
  return bridge ? Float64Array.from(bridge.imageMean, (v, j) => v - bridge.textMean[j]) : new Float64Array(dim);
}

/** The gap-shift bridge a caption's points cross, checked against their dimension; null for images and bridge "none". */
function gapShiftBridge(space: DecoderSpace, dim: number): Extract<BridgeConfig, { type: "gap-shift" }> | null {
  const { bridge } = space;
  if (space.modality !== "text" || bridge.type !== "gap-shift") return null;
  if (bridge.textMean.length !== dim) throw new EngineError("invalid_preset", `bridge has ${bridge.textMean.length} dimensions, the embedding ${dim}`);
  return bridge;
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
  const bridge = gapShiftBridge(space, x.length);
  if (bridge) {
    const shifted = Float64Array.from(x, (v, j) => v - bridge.textMean[j] + bridge.imageMean[j]);
    return withNorm(shifted, bridge.imageNorm);
  }
  return space.inputScale === "raw" ? Float32Array.from(x) : withNorm(x, space.rawNorm);
}

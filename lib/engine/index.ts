/**
 * Penumbra's engine, the surface the CLI, the web app and the tests share:
 * openPreset → describe (input → distribution) → planGrid (distribution → cells) → decodeCells
 * (cells → images), or run (one validated request → everything).
 */
import { performance } from "node:perf_hooks";
import { z } from "zod";
import { type DecoderSpace, decoderShift, type Modality, norm, runAdapter, scaleForAdapter, summarizeUncertainty, toDecoderSpace } from "./adapter";
import {
  DEFAULT_FRACTIONS,
  DEFAULT_LAMBDAS,
  DEFAULT_SHELL_QUANTILES,
  DEFAULT_TAIL,
  type DeviationCell,
  type DeviationPlan,
  planGrid as planDeviationGrid,
  validatePlan,
} from "./deviation";
import { contractDims, MODEL_KEYS, type ModelKey } from "./contract";
import { encodeImages, encodeTexts, type ImageInfo, loadTokenizer, preprocessImage, promptHiddenStates } from "./encoders";
import { EngineError } from "./errors";
import type { GgdDistribution } from "./ggd";
import { type ModelSession, type OpenOptions, openModel, type Output, type ProviderReport } from "./onnx";
import { angleBetween, preDecoder, quantileOfSorted, referenceAngles, shareBelow } from "./geometry";
import { checkVocabulary, type EpistemicBank, type EpistemicScore, epistemicScore, type OutOfDistribution, outOfDistribution, readBank, type VocabularyCheck } from "./ood";
import {
  describeIssues,
  type EpistemicRecord,
  loadPreset,
  type Preset,
  type PresetConfig,
  resolvePresetDir,
  verifiedDataFile,
} from "./preset";
import { DEFAULT_PLAN_KIND, type PlanKind, planLevels, type PlanUnion } from "./plan-kinds";
import { Rng } from "./random";
import { describeRange, FRACTION_RANGE, GUIDANCE_SCALE_RANGE, inRange, LAMBDA_RANGE, type NumberRange, presetRanges, QUANTILE_RANGE, SEED_RANGE } from "./request-ranges";
import { SCHEDULER_TYPES, type SchedulerType } from "./schedulers";
import type { ClipTokenizer } from "./tokenizer";
import { type DecodedImage, type DecodeProgress, decodeEmbeddings, type PromptStates } from "./unclip";

export { EngineError, type EngineErrorCode } from "./errors";
export { describeIssues, listPresets, type PresetConfig } from "./preset";
export type { DecodedImage, DecodeProgress } from "./unclip";
export { composeGrid, encodeImage, type GridCellImage, gridLayout, readPngText, withPngText } from "./images";
export { crc32, crc32Combine } from "./crc32";
// For the CLI: embedding pairs with a preset's CLIP half, checking presets, and the grid's layout.
export { type EncoderPresetConfig, encoderPresetSchema, openPresetEncoders, type PresetEncoders } from "./encoder-preset";
export { encodeImages, encodeTexts, preprocessImage } from "./encoders";
export { checkPreset } from "./preset-check";
export { modelsDir, resolvePresetDir } from "./preset";
export { PNDM_MIN_STEPS, schedulerAdvice } from "./schedulers/advice";
export type { GgdDistribution } from "./ggd";
export type { ImageInfo } from "./encoders";
export type { OpenOptions, ProviderReport } from "./onnx";
export { PROVIDERS, type ProviderName } from "./provider-names";
export type { DeviationPlan } from "./deviation";
export { DEFAULT_PLAN_KIND, PLAN_KINDS, type PlanKind, planLevels, type PlanUnion } from "./plan-kinds";
export { SCHEDULER_TYPES, type SchedulerType } from "./schedulers";
export { describeRange, FRACTION_RANGE, GUIDANCE_SCALE_RANGE, inRange, LAMBDA_RANGE, type NumberRange, QUANTILE_RANGE, SEED_RANGE } from "./request-ranges";
export type { EpistemicScore, OutOfDistribution, VocabularyCheck } from "./ood";

// ───────────────────────── types ─────────────────────────

export type EngineInput = { readonly kind: "caption"; readonly text: string } | { readonly kind: "image"; readonly bytes: Uint8Array };

export type InputInfo =
  | { readonly kind: "caption"; readonly text: string; readonly tokens: number; readonly truncated: boolean }
  | ({ readonly kind: "image" } & ImageInfo);

export interface Description {
  readonly input: InputInfo;
  readonly modality: Modality;
  /** The raw CLIP embedding and its length. */
  readonly embedding: Float32Array;
  readonly embeddingNorm: number;
  /** The adapter's distribution, in the adapter's (scaled) input space. */
  readonly distribution: GgdDistribution;
  /** Mean aleatoric variance over dimensions. */
  readonly uncertainty: number;
  /** Its natural log, always finite (the scalar saturates at Number.MAX_VALUE). */
  readonly logUncertainty: number;
  /** Percentile (0–100) of the uncertainty among the preset's reference captions or images. */
  readonly percentile: number;
  readonly variance: Float64Array;
  /** Distance from the preset's training inputs; null for presets without an epistemic record. */
  readonly epistemic: EpistemicScore | null;
  /** A caption's words against the preset's corpus; null for images and presets without a corpus record. */
  readonly vocabulary: VocabularyCheck | null;
  readonly outOfDistribution: OutOfDistribution;
  /** How samples of this distribution become decoder inputs. */
  readonly decoderSpace: DecoderSpace;
}

/** Where a cell sits in the space the decoder reads (geometry.ts). */
export interface DecoderMetrics {
  /** Degrees between the cell's decoder embedding and the mean's. */
  readonly decoderAngle: number;
  /** ‖y − y(μ)‖ between those two decoder embeddings. */
  readonly decoderDistance: number;
  /** The share of plain samples of the distribution whose decoder angle is smaller. */
  readonly decoderQuantile: number;
}

export interface GridCell extends DeviationCell, DecoderMetrics {
  /** The cell's embedding mapped into the decoder's space (bridge or norm restored). */
  readonly decoderEmbedding: Float32Array;
}

/** The decoder angles (degrees) of plain samples that a grid is measured against. */
export interface DecoderReference {
  readonly sampleAngleMedian: number;
  /** The `tailQuantile` quantile: a geodesic plan's fraction 1. */
  readonly tailAngle: number;
  readonly tailQuantile: number;
}

export interface Grid {
  readonly rows: number;
  readonly cols: number;
  readonly seed: number;
  /** k = Σ 1/β: a plain sample's likelihood radius T is Gamma(k, 1). */
  readonly radiusShape: number;
  readonly decoder: DecoderReference;
  /** Row-major: cell (row r, col c) is cells[r · cols + c]. */
  readonly cells: readonly GridCell[];
}

export type DecodeSettings = z.input<ReturnType<typeof decodeSettingsSchema>>;

export interface DecodeHooks {
  readonly signal?: AbortSignal;
  readonly onStep?: (progress: DecodeProgress) => void;
  /** `index` into grid.cells. */
  readonly onCell?: (index: number, image: DecodedImage) => void;
}

export type ProviderReports = Readonly<Record<ModelKey, ProviderReport>>;

// ───────────────────────── requests ─────────────────────────

/** A character a reader sees: a letter, digit, punctuation mark or symbol (not a space, a lone combining mark, a zero-width or control character). */
const VISIBLE_CHARACTER = /[\p{L}\p{N}\p{P}\p{S}]/u;
/** C0 and C1 control characters other than tab and newline. */
const CONTROL_CHARACTER = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/u;
/** Half of a UTF-16 surrogate pair without its other half (JSON's "\ud800"): no character at all, and not storable as UTF-8. */
const LONE_SURROGATE = /\p{Cs}/u;

const codePoint = (character: string) => `U+${character.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;

/**
 * The rules of text a person gives the models (a caption, a decoder prompt): at most `maxLength`
 * characters, at least one visible character (unless `emptyAllowed` and it is ""), no control
 * character but tab and newline, and no lone surrogate. Text of only zero-width or control
 * characters would otherwise pass as a caption that shows nothing.
 */
function personText(what: string, maxLength: number, emptyAllowed = false) {
  return z.string().superRefine((text, context) => {
    if (emptyAllowed && text === "") return;
    if (!VISIBLE_CHARACTER.test(text)) {
      context.addIssue({ code: "custom", message: `the ${what} is empty: it needs at least one visible character (a letter, digit, punctuation mark or symbol)` });
    }
    const control = CONTROL_CHARACTER.exec(text)?.[0];
    if (control !== undefined) {
      context.addIssue({ code: "custom", message: `the ${what} contains the control character ${codePoint(control)}; only tab and newline may appear besides printable text` });
    }
    const surrogate = LONE_SURROGATE.exec(text)?.[0];
    if (surrogate !== undefined) {
      context.addIssue({ code: "custom", message: `the ${what} contains ${codePoint(surrogate)}, half of a UTF-16 surrogate pair without its other half; send the whole character` });
    }
    if ([...text].length > maxLength) context.addIssue({ code: "custom", message: `the ${what} is longer than ${maxLength} characters` });
  });
}

/** The zod schema of an engine input: a caption by personText's rules within the preset's length limit, or image bytes. */
export function inputSchema(config: PresetConfig) {
  return z.discriminatedUnion("kind", [
    z.strictObject({ kind: z.literal("caption"), text: personText("caption", config.limits.maxCaptionLength) }),
    z.strictObject({
      kind: z.literal("image"),
      bytes: z
        .custom<Uint8Array>((bytes) => bytes instanceof Uint8Array, { message: "image bytes must be a Buffer or Uint8Array" })
        .refine((bytes) => bytes.length > 0, { message: "the image is empty" }),
    }),
  ]);
}

/** A number within `range` (request-ranges.ts); the message says the range and what was given. */
function numberIn(range: NumberRange) {
  const refusal = (issue: { input?: unknown }) => `must be ${describeRange(range)}, got ${shown(issue.input)}`;
  return z.number({ error: refusal }).refine((value) => inRange(range, value), { error: refusal });
}

/** A refused value as the message quotes it: numbers as JavaScript writes them (NaN, 1e+308), anything else as JSON. */
const shown = (value: unknown) => (typeof value === "number" ? String(value) : (JSON.stringify(value) ?? String(value)));

/** The ranges of a preset's requests: its limits and noise schedule, and the fixed ones. */
function requestRanges(config: PresetConfig) {
  const { maxRows, maxCols, maxSteps } = config.limits;
  return {
    ...presetRanges({ maxRows, maxCols, maxSteps, noiseTimesteps: config.noiseAugmentation.trainTimesteps }),
    guidanceScale: GUIDANCE_SCALE_RANGE,
    seed: SEED_RANGE,
    lambdas: LAMBDA_RANGE,
    fractions: FRACTION_RANGE,
    quantiles: QUANTILE_RANGE,
    tail: QUANTILE_RANGE,
  };
}

/** The decoding settings of a run, defaulted from the preset and bounded by its limits. */
function decodeSettingsShape(config: PresetConfig) {
  const { limits, defaults } = config;
  const ranges = requestRanges(config);
  return {
    steps: numberIn(ranges.steps).default(defaults.steps),
    guidanceScale: numberIn(ranges.guidanceScale).default(defaults.guidanceScale),
    noiseLevel: numberIn(ranges.noiseLevel).default(defaults.noiseLevel),
    scheduler: z.enum(SCHEDULER_TYPES).default(config.scheduler.type),
    /** The prompt encoder's text; "" is Stable unCLIP's image-variation setting, any other prompt follows a caption's rules. */
    prompt: personText("prompt", limits.maxCaptionLength, true).default(""),
  };
}

export function decodeSettingsSchema(config: PresetConfig) {
  return z.strictObject(decodeSettingsShape(config));
}

/** The zod schema of a run request under a preset's defaults and limits. */
export function runRequestSchema(config: PresetConfig) {
  const ranges = requestRanges(config);
  const rows = numberIn(ranges.rows);
  const levelCount = `must list 1 to ${ranges.rows.max} levels, one per row`;
  const levels = (range: NumberRange) => z.array(numberIn(range)).min(1, levelCount).max(ranges.rows.max, levelCount);
  const oneOf = { message: "give lambdas/quantiles or rows, not both" };
  return z.strictObject({
    input: inputSchema(config),
    plan: z
      .discriminatedUnion("kind", [
        z.strictObject({
          kind: z.literal("geodesic"),
          fractions: levels(ranges.fractions).optional(),
          tail: numberIn(ranges.tail).default(DEFAULT_TAIL),
          rows: rows.optional(),
        }),
        z.strictObject({ kind: z.literal("interpolate"), lambdas: levels(ranges.lambdas).optional(), rows: rows.optional() }),
        z.strictObject({ kind: z.literal("shell"), quantiles: levels(ranges.quantiles).optional(), rows: rows.optional() }),
      ])
      .refine((plan) => plan.rows === undefined || givenLevels(plan) === undefined, oneOf)
      .default({ kind: DEFAULT_PLAN_KIND, tail: DEFAULT_TAIL }),
    cols: numberIn(ranges.cols).default(4),
    seed: numberIn(ranges.seed).default(0),
    ...decodeSettingsShape(config),
  });
}

function givenLevels(plan: { kind: string; lambdas?: number[]; quantiles?: number[]; fractions?: number[] }): number[] | undefined {
  return plan.kind === "interpolate" ? plan.lambdas : plan.kind === "shell" ? plan.quantiles : plan.fractions;
}

export type RunRequest = z.input<ReturnType<typeof runRequestSchema>>;

/** A request with every default filled in and the plan spelled out level by level. */
export interface NormalizedRunRequest {
  readonly input: EngineInput;
  readonly plan: PlanUnion<
    | { readonly kind: "geodesic"; readonly fractions: readonly number[]; readonly tail: number }
    | { readonly kind: "interpolate"; readonly lambdas: readonly number[] }
    | { readonly kind: "shell"; readonly quantiles: readonly number[] }
  >;
  readonly cols: number;
  readonly seed: number;
  readonly steps: number;
  readonly guidanceScale: number;
  readonly noiseLevel: number;
  readonly scheduler: SchedulerType;
  readonly prompt: string;
}

/**
 * `rows` evenly spaced levels: geodesic fractions i/(rows−1) (5 rows give DEFAULT_FRACTIONS), λ from
 * 0 to 2 (5 rows give DEFAULT_LAMBDAS), quantiles i/(rows−1) kept within [0.01, 0.99].
 */
function levelsForRows(kind: PlanKind, rows: number): number[] {
  const fractions = rows === 1 ? [kind === "shell" ? 0.5 : 0] : Array.from({ length: rows }, (_, i) => i / (rows - 1));
  if (kind === "interpolate") return fractions.map((f) => 2 * f);
  return kind === "shell" ? fractions.map((f) => Math.min(0.99, Math.max(0.01, f))) : fractions;
}

/** A decoded cell: its deviation metrics (without the embedding) in both spaces, and its pixels. */
export interface RunCell extends Omit<DeviationCell, "embedding">, DecoderMetrics {
  readonly rgb: Uint8Array;
  readonly width: number;
  readonly height: number;
}

export interface RunResult {
  readonly request: NormalizedRunRequest;
  readonly preset: { readonly name: string; readonly digest: string };
  readonly providers: ProviderReports;
  readonly description: RunDescription;
  readonly rows: number;
  readonly cols: number;
  readonly cells: readonly RunCell[];
  readonly timings: { readonly describeMs: number; readonly planMs: number; readonly decodeMs: number; readonly totalMs: number };
}

/** What a run record says of its input's distribution. */
export interface RunDescription {
  readonly input: InputInfo;
  readonly dim: number;
  readonly uncertainty: number;
  readonly logUncertainty: number;
  readonly percentile: number;
  readonly radiusShape: number;
  readonly epistemic: { readonly score: number; readonly percentile: number } | null;
  readonly outOfDistribution: OutOfDistribution;
  readonly decoder: DecoderReference;
}

/** The run-record view of a description and its grid. */
export function runDescription(description: Description, grid: Grid): RunDescription {
  return {
    input: description.input,
    dim: description.distribution.mu.length,
    uncertainty: description.uncertainty,
    logUncertainty: description.logUncertainty,
    percentile: description.percentile,
    radiusShape: grid.radiusShape,
    epistemic: description.epistemic && { score: description.epistemic.score, percentile: description.epistemic.percentile },
    outOfDistribution: description.outOfDistribution,
    decoder: grid.decoder,
  };
}

/** How a caption's samples reach the decoder's image space: the gap-shift bridge's norms, or null (image inputs, presets without a bridge). */
export function bridgeSummary(config: PresetConfig, description: Description): { readonly type: "gap-shift"; readonly imageNorm: number; readonly gapNorm: number } | null {
  const { bridge } = config;
  if (description.modality !== "text" || bridge.type !== "gap-shift") return null;
  return { type: "gap-shift", imageNorm: bridge.imageNorm, gapNorm: norm(bridge.imageMean.map((value, i) => value - bridge.textMean[i])) };
}

// ───────────────────────── the engine ─────────────────────────

// Embedding sampling and diffusion noise come from separate forks of the run's seed, so changing
// the grid's shape never changes a column's diffusion noise and vice versa.
const SAMPLING_STREAM = 0;
const DIFFUSION_STREAM = 1;
// The plain samples whose decoder angles give a grid its tail angle and each cell's decoder quantile.
const REFERENCE_STREAM = 2;
const degrees = (radians: number) => (radians * 180) / Math.PI;
const PROMPT_CACHE_LIMIT = 16;

function invalidInput(message: string): EngineError {
  return new EngineError("invalid_input", message);
}

/**
 * A preset's settings and request rules without its models: all a process that only admits runs
 * (a web process, with decoding in a worker) needs to validate and normalize requests.
 */
export class PresetRules {
  private readonly runRequest: ReturnType<typeof runRequestSchema>;

  constructor(readonly preset: Preset) {
    this.runRequest = runRequestSchema(preset.config);
  }

  get config(): PresetConfig {
    return this.preset.config;
  }

  /** Validates a request against the preset's limits (invalid_input on any problem) and fills defaults. */
  normalize(request: RunRequest): NormalizedRunRequest {
    const parsed = this.runRequest.safeParse(request);
    if (!parsed.success) throw invalidInput(`invalid run request: ${describeIssues(parsed.error)}`);
    const { plan, ...rest } = parsed.data;
    const levels = (given: number[] | undefined, defaults: readonly number[]) => given ?? (plan.rows ? levelsForRows(plan.kind, plan.rows) : [...defaults]);
    const normalizedPlan =
      plan.kind === "geodesic"
        ? { kind: plan.kind, fractions: levels(plan.fractions, DEFAULT_FRACTIONS), tail: plan.tail }
        : plan.kind === "interpolate"
          ? { kind: plan.kind, lambdas: levels(plan.lambdas, DEFAULT_LAMBDAS) }
          : { kind: plan.kind, quantiles: levels(plan.quantiles, DEFAULT_SHELL_QUANTILES) };
    return { ...rest, plan: normalizedPlan };
  }

}

/** Reads a preset's settings (models/<name> or a folder) without opening its models. */
export function openPresetRules(nameOrDir: string): PresetRules {
  return new PresetRules(loadPreset(resolvePresetDir(nameOrDir)));
}

export class Engine {
  readonly rules: PresetRules;
  private readonly input: ReturnType<typeof inputSchema>;
  private readonly decodeSettings: ReturnType<typeof decodeSettingsSchema>;
  private readonly promptStates = new Map<string, Promise<Output>>();
  private readonly corpusWords: ReadonlySet<string> | null;

  private constructor(
    readonly preset: Preset,
    private readonly models: Readonly<Record<ModelKey, ModelSession>>,
    private readonly clipTokenizer: ClipTokenizer,
    private readonly promptTokenizer: ClipTokenizer,
    private readonly epistemicBanks: Readonly<Record<Modality, EpistemicBank>> | null,
  ) {
    this.corpusWords = preset.config.corpus ? new Set(preset.config.corpus.vocabulary) : null;
    this.rules = new PresetRules(preset);
    this.input = inputSchema(preset.config);
    this.decodeSettings = decodeSettingsSchema(preset.config);
  }

  /** Loads, verifies and opens every model of a preset; fails with invalid_preset before any run. */
  static async open(nameOrDir: string, options: OpenOptions = {}): Promise<Engine> {
    const preset = loadPreset(resolvePresetDir(nameOrDir));
    const { config } = preset;
    const clipTokenizer = loadTokenizer(preset, config.tokenizer);
    const promptTokenizer = config.promptTokenizer ? loadTokenizer(preset, config.promptTokenizer) : clipTokenizer;
    const dims = contractDims(config);
    // Every open settles before a failure is thrown, so no session is still being created behind a failed open.
    const opening = await Promise.allSettled(MODEL_KEYS.map(async (key) => openModel(key, await preset.filePath(key), dims, options)));
    const failed = opening.find((result) => result.status === "rejected");
    if (failed) throw failed.reason;
    const sessions = opening.map((result) => (result as PromiseFulfilledResult<ModelSession>).value);
    const models = Object.fromEntries(MODEL_KEYS.map((key, i) => [key, sessions[i]])) as Record<ModelKey, ModelSession>;
    const { epistemic } = config;
    const bank = async (modality: Modality, record: EpistemicRecord) =>
      readBank(await verifiedDataFile(preset.dir, record.bank, `epistemic.${modality}.bank`), record, config.embedding.dim);
    const banks = epistemic ? { text: await bank("text", epistemic.text), image: await bank("image", epistemic.image) } : null;
    return new Engine(preset, models, clipTokenizer, promptTokenizer, banks);
  }

  get config(): PresetConfig {
    return this.preset.config;
  }

  /** Which execution provider each model runs on, and why faster ones were skipped. */
  providers(): ProviderReports {
    return Object.fromEntries(MODEL_KEYS.map((key) => [key, this.models[key].report])) as Record<ModelKey, ProviderReport>;
  }

  /** Embeds a caption or image and turns it into the adapter's distribution, with its uncertainty. */
  async describe(input: EngineInput): Promise<Description> {
    const { config } = this;
    const parsed = this.input.safeParse(input);
    if (!parsed.success) throw invalidInput(`invalid input: ${describeIssues(parsed.error)}`);
    let embedding: Float32Array;
    let info: InputInfo;
    let modality: Modality;
    if (parsed.data.kind === "caption") {
      const { text } = parsed.data;
      [embedding] = await encodeTexts(this.models.clipText, this.clipTokenizer, [text]);
      const tokens = this.clipTokenizer.encode(text).length + 2;
      info = { kind: "caption", text, tokens: Math.min(tokens, this.clipTokenizer.contextLength), truncated: tokens > this.clipTokenizer.contextLength };
      modality = "text";
    } else {
      const { pixels, info: imageInfo } = await preprocessImage(parsed.data.bytes, config.image.clip, config.limits.maxImageSide);
      [embedding] = await encodeImages(this.models.clipImage, [pixels], config.image.clip.size);
      info = { kind: "image", ...imageInfo };
      modality = "image";
    }

    const inputScale = config.adapter.inputScale[modality];
    const embeddingNorm = norm(embedding);
    const adapter = modality === "text" ? this.models.adapterText : this.models.adapterImage;
    const scaled = scaleForAdapter(embedding, inputScale);
    const [distribution] = await runAdapter(adapter, [scaled], config.adapter);
    const epistemic = this.epistemicBanks ? epistemicScore(scaled, this.epistemicBanks[modality]) : null;
    const vocabulary = parsed.data.kind === "caption" && config.corpus && this.corpusWords ? checkVocabulary(parsed.data.text, config.corpus, this.corpusWords) : null;
    return {
      input: info,
      modality,
      embedding,
      embeddingNorm,
      distribution,
      ...summarizeUncertainty(distribution, config.uncertainty[modality]),
      epistemic,
      vocabulary,
      outOfDistribution: outOfDistribution(modality, vocabulary, epistemic, config.epistemic?.[modality].flagQuantile ?? null),
      decoderSpace: { modality, bridge: config.bridge, inputScale, rawNorm: embeddingNorm },
    };
  }

  /** The grid's embeddings and metrics; rows and columns within the preset's limits. */
  planGrid(description: Description, plan: DeviationPlan, seed: number): Grid {
    const { limits } = this.config;
    validatePlan(plan);
    const rows = planLevels(plan).length;
    if (rows > limits.maxRows) throw invalidInput(`the plan has ${rows} rows; the limit is ${limits.maxRows}`);
    if (plan.cols > limits.maxCols) throw invalidInput(`the plan has ${plan.cols} columns; the limit is ${limits.maxCols}`);
    const { distribution, decoderSpace } = description;
    const root = new Rng(seed);
    const shift = decoderShift(decoderSpace, distribution.mu.length);
    const reference = referenceAngles(distribution, shift, root.fork(REFERENCE_STREAM));
    const tailQuantile = plan.kind === "geodesic" ? plan.tail : DEFAULT_TAIL;
    const tailAngle = quantileOfSorted(reference, tailQuantile);
    const grid = planDeviationGrid(distribution, plan, root.fork(SAMPLING_STREAM), { shift, tailAngle });
    const meanPoint = toDecoderSpace(distribution.mu, decoderSpace);
    const meanAnchor = preDecoder(distribution.mu, shift);
    return {
      rows: grid.rows,
      cols: grid.cols,
      seed,
      radiusShape: grid.radiusShape,
      decoder: { sampleAngleMedian: degrees(quantileOfSorted(reference, 0.5)), tailAngle: degrees(tailAngle), tailQuantile },
      cells: grid.cells.map((cell) => {
        const decoderEmbedding = toDecoderSpace(cell.embedding, decoderSpace);
        // Measured on the float32 point the decoder receives, before it normalizes the length away.
        const angle = angleBetween(preDecoder(cell.embedding, shift), meanAnchor);
        let distanceSquared = 0;
        for (let j = 0; j < meanPoint.length; j++) distanceSquared += (decoderEmbedding[j] - meanPoint[j]) ** 2;
        return {
          ...cell,
          decoderAngle: degrees(angle),
          decoderDistance: Math.sqrt(distanceSquared),
          decoderQuantile: shareBelow(reference, angle),
          decoderEmbedding,
        };
      }),
    };
  }

  /** Decodes every cell of a grid; the images come back in grid.cells order, or not at all. */
  async decodeCells(grid: Grid, settings: DecodeSettings = {}, hooks: DecodeHooks = {}): Promise<DecodedImage[]> {
    const { config } = this;
    const parsed = this.decodeSettings.safeParse(settings);
    if (!parsed.success) throw invalidInput(`invalid decode settings: ${describeIssues(parsed.error)}`);
    const { steps, guidanceScale, noiseLevel, scheduler, prompt } = parsed.data;
    const diffusion = new Rng(grid.seed).fork(DIFFUSION_STREAM);
    return decodeEmbeddings(
      {
        unet: this.models.unet,
        vaeDecoder: this.models.vaeDecoder,
        latent: config.latent,
        imageSize: config.image.size,
        normalizer: config.noiseAugmentation,
      },
      grid.cells.map((cell) => cell.decoderEmbedding),
      {
        steps,
        guidanceScale,
        noiseLevel,
        scheduler: { ...config.scheduler, type: scheduler },
        prompt: await this.prompt(prompt),
        // A fresh fork per cell: every row of a column draws the same latents and augmentation noise.
        noiseStream: (index) => diffusion.fork(grid.cells[index].col),
        maxBatch: config.limits.maxBatch,
        // The mean row first, on its own, so a viewer sees it before the rest of the grid.
        leadBatch: grid.cols,
        ...hooks,
      },
    );
  }

  /** Validates a request against the preset's limits (invalid_input on any problem) and fills defaults. */
  normalize(request: RunRequest): NormalizedRunRequest {
    return this.rules.normalize(request);
  }

  /** One whole run: validate, describe, plan, decode. */
  async run(request: RunRequest, hooks: DecodeHooks = {}): Promise<RunResult> {
    const started = performance.now();
    const normalized = this.normalize(request);
    const description = await this.describe(normalized.input);
    const described = performance.now();
    const grid = this.planGrid(description, { ...normalized.plan, cols: normalized.cols }, normalized.seed);
    const planned = performance.now();
    const { steps, guidanceScale, noiseLevel, scheduler, prompt } = normalized;
    const images = await this.decodeCells(grid, { steps, guidanceScale, noiseLevel, scheduler, prompt }, hooks);
    const decoded = performance.now();
    return {
      request: normalized,
      preset: { name: this.config.name, digest: this.preset.digest },
      providers: this.providers(),
      description: runDescription(description, grid),
      rows: grid.rows,
      cols: grid.cols,
      cells: grid.cells.map((cell, i) => {
        const { embedding: _embedding, decoderEmbedding: _decoderEmbedding, ...metrics } = cell;
        return { ...metrics, ...images[i] };
      }),
      timings: { describeMs: described - started, planMs: planned - described, decodeMs: decoded - planned, totalMs: decoded - started },
    };
  }

  private async prompt(prompt: string): Promise<PromptStates> {
    const [uncond, cond] = await Promise.all([this.promptHidden(""), this.promptHidden(prompt)]);
    return { uncond, cond };
  }

  private promptHidden(prompt: string): Promise<Output> {
    let pending = this.promptStates.get(prompt);
    if (!pending) {
      if (this.promptStates.size >= PROMPT_CACHE_LIMIT) this.promptStates.clear();
      pending = promptHiddenStates(this.models.promptEncoder, this.promptTokenizer, prompt);
      this.promptStates.set(prompt, pending);
      pending.catch(() => this.promptStates.delete(prompt));
    }
    return pending;
  }
}

/** Opens a preset by name (models/<name>) or folder. */
export function openPreset(nameOrDir: string, options: OpenOptions = {}): Promise<Engine> {
  return Engine.open(nameOrDir, options);
}

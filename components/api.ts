/*
 * The JSON shapes of docs/web-api.md as the pages see them, and the few fetch helpers the client
 * uses. Types only describe the wire format; nothing here imports server code (the engine's
 * scheduler names come in as a type, erased from the bundle).
 */
import type { SchedulerType } from "@/lib/engine/schedulers/types";

export type RunStatus = "queued" | "running" | "done" | "failed" | "cancelled";
export type Scheduler = SchedulerType;

/**
 * A deviation plan as runs carry it (normalized by the engine). geodesic: rows at decoder angles
 * fractions[r] × θ_tail, θ_tail being the `tail` quantile of plain samples' decoder angles.
 */
export type Plan = { kind: "geodesic"; fractions: number[]; tail: number } | { kind: "interpolate"; lambdas: number[] } | { kind: "shell"; quantiles: number[] };

/** A plan as a request may give it: a normalized plan, or a geodesic plan by its row count (the engine fills fractions and tail). */
export type RequestPlan = Plan | { kind: "geodesic"; rows?: number };

export type RequestInput = { kind: "caption"; text: string } | { kind: "image"; upload: string };
export type RunInput = { kind: "caption"; text: string } | { kind: "image"; upload: string; width: number; height: number; type: string };

export interface DecodeSettings {
  cols: number;
  seed: number;
  steps: number;
  guidanceScale: number;
  noiseLevel: number;
  scheduler: Scheduler;
  prompt: string;
}

export interface RunRequest extends Partial<DecodeSettings> {
  preset?: string;
  input: RequestInput;
  plan?: RequestPlan;
}

export interface Cell {
  index: number;
  row: number;
  col: number;
  lambda: number | null;
  quantileTarget: number | null;
  T: number;
  q: number;
  nll: number;
  cosineToMean: number;
  l2FromMean: number;
  /* The decoder-side measures; absent on runs stored by versions that did not measure them. */
  /** Degrees between this cell's decoder embedding and the mean's; 0 on the mean row. */
  decoderAngle?: number;
  /** Euclidean distance between those two decoder embeddings. */
  decoderDistance?: number;
  /** 0..1: share of 256 plain samples at a smaller decoder angle; 0 for the mean. */
  decoderQuantile?: number;
  /** The row's target decoder angle (degrees) on a geodesic row, else null. */
  angleTarget?: number | null;
  image: string | null;
}

export interface Bridge {
  type: string;
  imageNorm: number;
  gapNorm: number;
}

export interface Description {
  modality: "text" | "image";
  dim: number;
  uncertainty: number;
  percentile: number;
  radiusShape: number;
  embeddingNorm: number;
  alpha: number[];
  beta: number[];
  bridge: Bridge | null;
  input: { kind: "caption"; text: string; tokens: number; truncated: boolean } | { kind: "image"; width: number; height: number; format: string };
  /* Absent on runs stored by earlier versions. */
  /** Plain samples' decoder angles in degrees: their median, and the angle the tail quantile of them stay within. */
  decoder?: DecoderSpread;
  /** How far the input lies from the preset's training inputs; null when the preset has no epistemic model. */
  epistemic?: Epistemic | null;
  outOfDistribution?: OutOfDistribution;
}

export interface DecoderSpread {
  sampleAngleMedian: number;
  tailAngle: number;
  tailQuantile: number;
}

export interface Epistemic {
  score: number;
  /** 0–100 among held-out in-distribution inputs of the same modality. */
  percentile: number;
}

export interface OutOfDistribution {
  flagged: boolean;
  /** Complete sentences written by the engine. */
  reasons: string[];
  unknownWords: string[];
}

export interface ProviderChoice {
  provider: string;
  skipped: { provider: string; reason: string }[];
}

export interface RunProgress {
  evaluation: number;
  evaluations: number;
  cellsDone: number;
  cellsTotal: number;
  etaSeconds: number | null;
}

export interface Run {
  id: string;
  status: RunStatus;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  publishedAt: string | null;
  preset: { name: string; digest: string };
  request: DecodeSettings & { input: RunInput; plan: Plan };
  rows: number;
  cols: number;
  imageSize: { width: number; height: number };
  description: Description | null;
  providers: Record<string, ProviderChoice> | null;
  cells: Cell[];
  progress: RunProgress;
  timings: { describeMs: number; decodeMs: number; totalMs: number } | null;
}

/** A `progress` event of the stream: the run's progress plus the UNet batch being denoised. */
export interface ProgressEvent extends RunProgress {
  batch: number;
  batches: number;
  activeCells: number[];
}

export interface Comparison {
  id: string;
  createdAt: string;
  runs: Run[];
}

export interface GalleryCard {
  id: string;
  caption: string | null;
  modality: "text" | "image";
  uncertainty: number;
  percentile: number;
  publishedAt: string;
  meanImage: string;
  row: string[];
  rowLabel: string;
  /** Present (true) when the input is outside what the preset knows. */
  outOfDistribution?: boolean;
}

export interface GalleryPage {
  runs: GalleryCard[];
  total: number;
  page: number;
  pages: number;
}

export interface PresetInfo {
  name: string;
  digest: string;
  dim: number;
  imageSize: { width: number; height: number };
  defaults: { steps: number; guidanceScale: number; noiseLevel: number; scheduler: Scheduler };
  limits: Partial<Record<"maxImageSide" | "maxBatch" | "maxRows" | "maxCols" | "maxSteps" | "maxCaptionLength" | "maxNoiseLevel", number>>;
  providers: Record<string, ProviderChoice>;
}

export interface Upload {
  sha256: string;
  type: string;
  bytes: number;
  width: number;
  height: number;
}

export const imageUrl = (sha256: string) => `/api/images/${sha256}`;

export const TERMINAL: readonly RunStatus[] = ["done", "failed", "cancelled"];
export const isUnfinished = (status: RunStatus) => status === "queued" || status === "running";

/** An error answer of the API, carrying the server's readable message. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** Sends a request and returns the parsed JSON, or throws an ApiError with the server's own words. */
export async function api<T>(path: string, init?: RequestInit): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError("network", "The server could not be reached. Check the connection and try again.", 0);
  }
  const body: unknown = await response.json().catch(() => null);
  if (!response.ok) {
    const error = (body as { error?: { code?: string; message?: string } } | null)?.error;
    throw new ApiError(error?.code ?? "internal", error?.message ?? `The server answered ${response.status} ${response.statusText}.`.replace(/ \.$/, "."), response.status);
  }
  return body as T;
}

export const postJson = <T>(path: string, body?: unknown) =>
  api<T>(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });

export const readableError = (error: unknown) => (error instanceof Error ? error.message : String(error));

/*
 * The JSON shapes of docs/web-api.md as the pages see them, and the few fetch helpers the client
 * uses. The wire types are the server's own view types (lib/runs), imported with `import type`:
 * erased from the bundle, so no server code reaches the browser. The views are already JSON
 * shapes (strings for dates, null for absent values), so each type is the server object as sent.
 */
import type { ProviderChoice as ServerProviderChoice } from "@/lib/record";
import type { Comparison as ServerComparison, GalleryPage as ServerGalleryPage, PresetInfo as ServerPresetInfo, Upload as ServerUpload } from "@/lib/runs/service";
import type { RunStatus as ServerRunStatus } from "@/lib/runs/storage";
import type {
  GalleryCard as ServerGalleryCard,
  ProgressEventData,
  Run as ServerRun,
  RunCellJson,
  RunEvent as ServerRunEvent,
  RunInput as ServerRunInput,
  RunProgress as ServerRunProgress,
  StoredDescription,
} from "@/lib/runs/views";
import type { SchedulerType } from "@/lib/engine/names";

export type RunStatus = ServerRunStatus;
export type Scheduler = SchedulerType;

export type Run = ServerRun;
export type RunEvent = ServerRunEvent;

/**
 * A deviation plan as runs carry it (normalized by the engine). geodesic: rows at decoder angles
 * fractions[r] × θ_tail, θ_tail being the `tail` quantile of plain samples' decoder angles.
 */
export type Plan = Run["request"]["plan"];

/** A plan as a request may give it: a normalized plan, or a geodesic plan by its row count (the engine fills fractions and tail). */
export type RequestPlan = Plan | { kind: "geodesic"; rows?: number };

/** An input as a request names it (the server's request schema: a caption, or an upload by its sha256). */
export type RequestInput = { kind: "caption"; text: string } | { kind: "image"; upload: string };
export type RunInput = ServerRunInput;

/** The settings a run was decoded with: its request without the input and plan. */
export type DecodeSettings = Omit<Run["request"], "input" | "plan">;

/** A request as the client sends it (client-only: the server validates it, docs/web-api.md). */
export interface RunRequest extends Partial<DecodeSettings> {
  preset?: string;
  input: RequestInput;
  plan?: RequestPlan;
}

export type Cell = RunCellJson;

export type Description = StoredDescription;
export type Bridge = NonNullable<Description["bridge"]>;
export type DecoderSpread = NonNullable<Description["decoder"]>;
export type Epistemic = NonNullable<Description["epistemic"]>;
export type OutOfDistribution = NonNullable<Description["outOfDistribution"]>;

export type ProviderChoice = ServerProviderChoice;
export type RunProgress = ServerRunProgress;

/** A `progress` event of the stream: the run's progress plus the UNet batch being denoised. */
export type ProgressEvent = ProgressEventData;

export type Comparison = ServerComparison;
export type GalleryCard = ServerGalleryCard;
export type GalleryPage = ServerGalleryPage;
export type PresetInfo = ServerPresetInfo;
export type Upload = ServerUpload;

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
    const error = fromServer<{ error?: { code?: string; message?: string } } | null>(body)?.error;
    throw new ApiError(error?.code ?? "internal", error?.message ?? `The server answered ${response.status} ${response.statusText}.`.replace(/ \.$/, "."), response.status);
  }
  return fromServer<T>(body);
}

/**
 * The one point where JSON from the server becomes a typed value: the server is trusted to send
 * its own view types (the types above, docs/web-api.md), so this checks nothing at runtime.
 * Callers name the answer they asked for; keep every other `unknown` → type step out of components.
 */
export function fromServer<T>(json: unknown): T {
  return json as T;
}

export const postJson = <T>(path: string, body?: unknown) =>
  api<T>(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });

/** A call that carries a creator key as its bearer token (publishing, unpublishing), answered like every other call. */
export const sendWithKey = <T>(method: "POST" | "DELETE", path: string, key: string) => api<T>(path, { method, headers: { Authorization: `Bearer ${key}` } });

export const readableError = (error: unknown) => (error instanceof Error ? error.message : String(error));

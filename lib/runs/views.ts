import { type InputInfo, type NormalizedRunRequest, planLevels } from "../engine/index";
import { type CellMetrics, type ProviderChoice, runRecord, type RunRecord, tailName } from "../record";
import type { CellRow, LinkRow, RunRow, RunStatus, UploadRow } from "./storage";

/*
 * The JSON shapes of docs/web-api.md, built from stored rows. Field order follows the doc so
 * answers read the way it documents them.
 */

export type StoredInput = { readonly kind: "caption"; readonly text: string } | { readonly kind: "image"; readonly upload: string };

/** The engine-normalized request with an image input replaced by its upload's sha256: what a run id hashes. */
export type StoredRequest = Omit<NormalizedRunRequest, "input"> & { readonly input: StoredInput };

export interface StoredDescription {
  readonly modality: "text" | "image";
  readonly dim: number;
  readonly uncertainty: number;
  /** ln of the uncertainty, finite for every input; absent on runs stored by earlier versions. */
  readonly logUncertainty?: number;
  readonly percentile: number;
  readonly radiusShape: number;
  readonly embeddingNorm: number;
  readonly alpha: number[];
  readonly beta: number[];
  /** How text samples reach image space; null for image runs or presets without a bridge. */
  readonly bridge: { readonly type: "gap-shift"; readonly imageNorm: number; readonly gapNorm: number } | null;
  readonly input: InputInfo;
  /** Plain samples' decoder angles (degrees from the mean's decoder point); absent on runs stored by earlier versions. */
  readonly decoder?: { readonly sampleAngleMedian: number; readonly tailAngle: number; readonly tailQuantile: number };
  /** How far the input lies from the preset's training inputs; null when the preset has no epistemic model, absent on older runs. */
  readonly epistemic?: { readonly score: number; readonly percentile: number } | null;
  /** Whether the input is outside what the preset knows; reasons are sentences written by the engine. Absent on older runs. */
  readonly outOfDistribution?: { readonly flagged: boolean; readonly reasons: string[]; readonly unknownWords: string[] };
}

export interface RunTimings {
  readonly describeMs: number;
  readonly decodeMs: number;
  readonly totalMs: number;
}

export interface RunProgress {
  readonly evaluation: number;
  readonly evaluations: number;
  readonly cellsDone: number;
  readonly cellsTotal: number;
  readonly etaSeconds: number | null;
}

export interface ProgressEventData extends RunProgress {
  readonly batch: number;
  readonly batches: number;
  /** Cell indexes in the UNet batch being denoised. */
  readonly activeCells: number[];
}

export type RunInput = { readonly kind: "caption"; readonly text: string } | { readonly kind: "image"; readonly upload: string; readonly width: number; readonly height: number; readonly type: string };

export interface RunCellJson extends CellMetrics {
  readonly index: number;
  readonly image: string | null;
}

export interface Run {
  readonly id: string;
  readonly status: RunStatus;
  readonly error: string | null;
  readonly createdAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly publishedAt: string | null;
  readonly preset: { readonly name: string; readonly digest: string };
  readonly request: Omit<StoredRequest, "input"> & { readonly input: RunInput };
  readonly rows: number;
  readonly cols: number;
  readonly imageSize: { readonly width: number; readonly height: number };
  readonly description: StoredDescription | null;
  readonly providers: Record<string, ProviderChoice> | null;
  readonly cells: RunCellJson[];
  readonly progress: RunProgress;
  readonly timings: RunTimings | null;
}

export type RunEvent =
  | { readonly type: "snapshot"; readonly data: Run }
  | { readonly type: "progress"; readonly data: ProgressEventData }
  | { readonly type: "cell"; readonly data: { readonly index: number; readonly image: string } }
  | { readonly type: "status"; readonly data: { readonly status: RunStatus; readonly error: string | null } };

export interface GalleryCard {
  readonly id: string;
  readonly caption: string | null;
  readonly modality: "text" | "image";
  readonly uncertainty: number;
  readonly percentile: number;
  readonly publishedAt: string;
  readonly meanImage: string;
  readonly row: string[];
  readonly rowLabel: string;
  /** What the run was made with, so cards of one caption with other seeds or settings tell apart. */
  readonly preset: { readonly name: string };
  readonly rows: number;
  readonly cols: number;
  readonly settings: Omit<StoredRequest, "input">;
  /** True when the run's input is outside what its preset knows (description.outOfDistribution.flagged). */
  readonly outOfDistribution?: boolean;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function parsed<T>(json: string | null): T | null {
  return json === null ? null : (JSON.parse(json) as T);
}

/**
 * The decode's live counters when it runs in this process; otherwise zero evaluations (none in
 * progress) and the cells already stored.
 */
function progressOf(row: RunRow, cells: readonly CellRow[], live: ProgressEventData | null): RunProgress {
  const cellsDone = cells.filter((cell) => cell.image !== null).length;
  const cellsTotal = row.rows * row.cols;
  if (live === null) return { evaluation: 0, evaluations: 0, cellsDone, cellsTotal, etaSeconds: null };
  return { evaluation: live.evaluation, evaluations: live.evaluations, cellsDone, cellsTotal, etaSeconds: live.etaSeconds };
}

/** What a run's JSON takes from the link it is seen through (storage.ts, LinkRow): its id and whether it is in the gallery. */
export type LinkView = Pick<LinkRow, "id" | "publishedAt">;

/** The run as seen through `link`. */
export function throughLink(run: Run, link: LinkView): Run {
  return { ...run, id: link.id, publishedAt: iso(link.publishedAt) };
}

export function runJson(link: LinkView, row: RunRow, cells: readonly CellRow[], upload: UploadRow | undefined, live: ProgressEventData | null): Run {
  const request = JSON.parse(row.request) as StoredRequest;
  const input: RunInput =
    request.input.kind === "caption"
      ? request.input
      : { kind: "image", upload: request.input.upload, width: upload?.width ?? 0, height: upload?.height ?? 0, type: upload?.type ?? "" };
  return {
    id: link.id,
    status: row.status,
    error: row.error,
    createdAt: new Date(row.createdAt).toISOString(),
    startedAt: iso(row.startedAt),
    finishedAt: iso(row.finishedAt),
    publishedAt: iso(link.publishedAt),
    preset: { name: row.presetName, digest: row.presetDigest },
    request: { ...request, input },
    rows: row.rows,
    cols: row.cols,
    imageSize: { width: row.imageWidth, height: row.imageHeight },
    description: parsed<StoredDescription>(row.description),
    providers: parsed<Record<string, ProviderChoice>>(row.providers),
    cells: cells.map((cell) => ({ index: cell.index, ...cell.metrics, image: cell.image })),
    progress: progressOf(row, cells, live),
    timings: parsed<RunTimings>(row.timings),
  };
}

/** The record in cells.zip's run.json and, less its timings, in a grid PNG's "penumbra:run" text: the CLI's record plus the run's id. */
export function webRunRecord(run: Run): { id: string } & RunRecord {
  const { input, ...settings } = run.request;
  const description = run.description;
  if (description === null || run.timings === null || run.providers === null) throw new Error(`run ${run.id} has no record before it is done`);
  return {
    id: run.id,
    ...runRecord({
      preset: run.preset,
      input: input.kind === "caption" ? { kind: "caption", text: input.text } : { kind: "image", file: null, sha256: input.upload },
      settings,
      description: { input: description.input, dim: description.dim, uncertainty: description.uncertainty, percentile: description.percentile, radiusShape: description.radiusShape },
      providers: run.providers,
      rows: run.rows,
      cols: run.cols,
      imageSize: run.imageSize,
      cells: run.cells,
      timings: { ...run.timings },
    }),
  };
}

/** The row a gallery card shows: λ = 1 (or the λ nearest it), or a shell plan's middle row. */
function featuredRow(plan: StoredRequest["plan"]): { row: number; label: string } {
  if (plan.kind === "shell") {
    const row = Math.floor(plan.quantiles.length / 2);
    return { row, label: `q = ${plan.quantiles[row]}` };
  }
  // Plain samples' median decoder angle is about 0.8–0.9 of their 95% tail angle on the shapes preset, so a geodesic row near
  // 0.75 × θ95 shows samples about as typical as λ = 1 does.
  const levels = plan.kind === "interpolate" ? plan.lambdas : plan.fractions;
  const typical = plan.kind === "interpolate" ? 1 : 0.75;
  let row = 0;
  levels.forEach((level, i) => {
    if (Math.abs(level - typical) < Math.abs(levels[row] - typical)) row = i;
  });
  return { row, label: plan.kind === "interpolate" ? `λ = ${levels[row]}` : `θ = ${levels[row]} × ${tailName(plan.tail)}` };
}

/** The row nearest the distribution's mean: the smallest λ or angle fraction, or a shell plan's lowest quantile. */
function meanRow(plan: StoredRequest["plan"]): number {
  const levels = planLevels(plan);
  return levels.indexOf(Math.min(...levels));
}

function withoutInput({ input: _input, ...settings }: Run["request"]): Omit<StoredRequest, "input"> {
  return settings;
}

export function galleryCard(run: Run): GalleryCard {
  const { description, request } = run;
  if (description === null || run.publishedAt === null) throw new Error(`run ${run.id} is not published`);
  const images = (row: number) => run.cells.filter((cell) => cell.row === row).map((cell) => cell.image ?? "");
  const featured = featuredRow(request.plan);
  return {
    id: run.id,
    caption: request.input.kind === "caption" ? request.input.text : null,
    modality: description.modality,
    uncertainty: description.uncertainty,
    percentile: description.percentile,
    publishedAt: run.publishedAt,
    meanImage: images(meanRow(request.plan))[0],
    row: images(featured.row),
    rowLabel: featured.label,
    preset: { name: run.preset.name },
    rows: run.rows,
    cols: run.cols,
    settings: withoutInput(request),
    // Only flagged cards carry the field, so cards of in-distribution and older runs read as before.
    ...(description.outOfDistribution?.flagged ? { outOfDistribution: true } : {}),
  };
}

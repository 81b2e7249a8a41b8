import type { CellMetrics } from "../record";

/*
 * What the run service stores, as two interfaces with one implementation per deployment: the
 * embedded one (SQLite and files under the data folder: sqlite-store.ts, files.ts) and the
 * distributed one (PostgreSQL for both: postgres-store.ts, postgres-blobs.ts). Every method is
 * async so the two are interchangeable; times are milliseconds since the epoch.
 */

export type RunStatus = "queued" | "running" | "done" | "failed" | "cancelled";

export interface RunRow {
  readonly id: string;
  readonly presetName: string;
  readonly presetDigest: string;
  /** Canonical JSON of the stored request. */
  readonly request: string;
  readonly status: RunStatus;
  readonly error: string | null;
  readonly createdAt: number;
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
  /** JSON of the run's description once it is planned. */
  readonly description: string | null;
  readonly providers: string | null;
  readonly timings: string | null;
  readonly rows: number;
  readonly cols: number;
  readonly imageWidth: number;
  readonly imageHeight: number;
}

export type NewRun = Pick<RunRow, "id" | "presetName" | "presetDigest" | "request" | "createdAt" | "rows" | "cols" | "imageWidth" | "imageHeight"> & {
  /** Lowercased caption for the gallery search; null for image runs. */
  readonly searchText: string | null;
  /** The sha256 of the upload an image run decodes, so the upload sweep finds it by index; null for caption runs. */
  readonly inputUpload: string | null;
};

/**
 * The way in to a run. A run's id is derived from its request (the cache key: the same request is
 * decoded once), so it is never shown; every client reaches a run through a link whose random id
 * cannot be derived from anything. Each request for a run makes a new link, whose creator alone
 * holds the key (only its hash is stored) that publishes it to the gallery and takes it out again.
 */
export interface LinkRow {
  readonly id: string;
  readonly runId: string;
  /** sha256 of the creator's key; null for links migrated from before links existed, which nobody may publish. */
  readonly creatorKeyHash: string | null;
  readonly createdAt: number;
  /** When the link was put in the gallery; null while unlisted. */
  readonly publishedAt: number | null;
}

export interface CellRow {
  readonly index: number;
  readonly metrics: CellMetrics;
  /** sha256 of the cell's PNG in the blob store; null until decoded. */
  readonly image: string | null;
}

export interface UploadRow {
  readonly sha256: string;
  readonly type: string;
  readonly bytes: number;
  readonly width: number;
  readonly height: number;
  readonly createdAt: number;
  /** Who uploaded it (the front server's client address), for the upload quota; null when unknown. */
  readonly client?: string | null;
}

export interface ComparisonRow {
  readonly id: string;
  /** The links of the comparison's runs, in input order. */
  readonly linkIds: readonly string[];
  readonly createdAt: number;
}

/** A run to queue: an existing one by id, or a new one with the row to insert. */
export interface Admission {
  readonly id: string;
  readonly insert?: NewRun;
  /** What decoding it costs (admission.ts's runCost); 0 when not counted. */
  readonly cost?: number;
  /** Who asks for it (the front server's client address), or null when unknown. */
  readonly client?: string | null;
}

/** How much may wait for a worker, across every process sharing the store. */
export interface AdmissionRules {
  /** Most runs queued. */
  readonly maxRuns: number;
  /**
   * Most cost queued. Each run counts at most one client's share of it (countedCost), so one very
   * large run takes one client's room, not everyone's. Unset: cost is not counted.
   */
  readonly maxCost?: number;
  /** Most share of maxCost one client's queued runs may hold; a client with nothing queued may always add one. */
  readonly clientShare?: number;
}

export type AdmitResult =
  /** `created[i]`: runs[i] was inserted; `queued`: the ids now queued (new, or failed/cancelled ones requeued). */
  | { readonly admitted: true; readonly created: readonly boolean[]; readonly queued: readonly string[] }
  /**
   * Nothing changed. `reason`: the queue's run count (`depth` runs, no room for `needed` more), its
   * cost (`queuedCost` waiting, `neededCost` more), or the asking client's share (`queuedCost` of
   * that client's own).
   */
  | { readonly admitted: false; readonly reason: "runs" | "cost" | "client"; readonly depth: number; readonly needed: number; readonly queuedCost: number; readonly neededCost: number };

export interface QueueState {
  /** Runs waiting for a worker. */
  readonly queued: number;
  /** Runs a worker is decoding, oldest start first. */
  readonly running: readonly { readonly id: string; readonly startedAt: number }[];
}

export interface RunStore {
  getRun(id: string): Promise<RunRow | undefined>;
  getCells(runId: string): Promise<CellRow[]>;

  /**
   * Inserts new runs and requeues failed or cancelled ones, all or none, atomically across every
   * process sharing the store: refused when the queued runs plus those it would add exceed `limit`.
   * Admitted runs are watched until `now` (their idle-cancel lease starts at admission).
   */
  admit(runs: readonly Admission[], rules: AdmissionRules, now: number): Promise<AdmitResult>;
  /** A worker takes the run: true (and marked running at `at`) only if it is queued or running. */
  claim(id: string, at: number): Promise<boolean>;
  /** Back in the queue: the previous attempt's error and times are cleared, its finished cells kept. */
  markQueued(id: string): Promise<void>;
  markDone(id: string, at: number, timings: object, providers: object): Promise<void>;
  markEnded(id: string, status: "failed" | "cancelled", error: string, at: number): Promise<void>;
  /**
   * Stores the description and every cell's metrics at once. A resumed run plans the same cells
   * again; their metrics are rewritten and their finished images kept.
   */
  saveDescription(id: string, description: object, cells: readonly CellMetrics[]): Promise<void>;
  setCellImage(runId: string, index: number, sha256: string): Promise<void>;

  /** Renews the idle-cancel lease of runs someone is watching. */
  touchWatched(ids: readonly string[], at: number): Promise<void>;
  /** When the run was last watched (or admitted); undefined for an unknown run. */
  watchedAt(id: string): Promise<number | undefined>;
  /** Cancels queued runs last watched before `before`, returning their ids. */
  cancelUnwatched(before: number, reason: string, at: number): Promise<string[]>;

  /** Runs left queued or running, oldest first. */
  unfinishedRuns(): Promise<{ id: string; status: RunStatus }[]>;
  queueState(): Promise<QueueState>;
  /** Wall-clock milliseconds of the most recently finished successful runs. */
  recentDurations(limit: number): Promise<number[]>;

  /** Stores new links (each to an existing run), all or none. */
  insertLinks(links: readonly LinkRow[]): Promise<void>;
  getLink(id: string): Promise<LinkRow | undefined>;
  /** Puts the link in the gallery at `at`, once: publishing again keeps the first time. True when this call published it. */
  publishLink(id: string, at: number): Promise<boolean>;
  /** Takes the link out of the gallery; true when it was in it. */
  unpublishLink(id: string): Promise<boolean>;
  /** Published links newest first, optionally only those whose run's caption contains `query` (any case). */
  gallery(query: string, limit: number, offset: number): Promise<{ links: LinkRow[]; total: number }>;

  /** Inserts the upload unless its bytes were stored before; true when it is new. */
  insertUpload(upload: UploadRow): Promise<boolean>;
  getUpload(sha256: string): Promise<UploadRow | undefined>;
  /** Bytes of the uploads `client` stored since `since` (the upload quota's window). */
  uploadBytesSince(client: string, since: number): Promise<number>;
  /**
   * Deletes the rows of uploads stored before `before` that no run decodes, and answers
   * their sha256s; the caller removes their files, except any a cell image shares.
   */
  removeUnreferencedUploads(before: number): Promise<{ sha256: string; sharedWithCell: boolean }[]>;

  /** Inserts the comparison unless it exists; true when it is new. */
  insertComparison(comparison: ComparisonRow): Promise<boolean>;
  getComparison(id: string): Promise<ComparisonRow | undefined>;

  close(): Promise<void>;
}

/** Content-addressed bytes: cell PNGs and uploads, named by their sha256, never rewritten. */
export interface BlobStore {
  /** Stores bytes under their sha256; `created` is false when they were already there. */
  put(bytes: Uint8Array): Promise<{ sha256: string; created: boolean }>;
  has(sha256: string): Promise<boolean>;
  /** The stored bytes; a not_found RunError when there are none. */
  read(sha256: string): Promise<Buffer>;
  /** Deletes the stored bytes; nothing happens when there are none. */
  remove(sha256: string): Promise<void>;
  close(): Promise<void>;
}

/** The most one run counts against the queue's cost: one client's share (all of maxCost without shares). */
export function costCap(rules: AdmissionRules): number {
  return (rules.maxCost ?? Number.MAX_SAFE_INTEGER) * (rules.clientShare ?? 1);
}

/**
 * The admission decision both stores make inside their transaction, from what is queued (the
 * count, the counted cost and each asking client's counted cost, each run's capped at costCap)
 * and the runs it would add.
 */
export function admissionVerdict(
  rules: AdmissionRules,
  queued: { readonly depth: number; readonly cost: number; readonly costOf: (client: string) => number },
  adding: readonly { readonly cost: number; readonly client: string | null }[],
): Extract<AdmitResult, { admitted: false }> | null {
  const cap = costCap(rules);
  const neededCost = adding.reduce((sum, run) => sum + Math.min(run.cost, cap), 0);
  const refusal = (reason: "runs" | "cost" | "client", queuedCost: number) => ({ admitted: false as const, reason, depth: queued.depth, needed: adding.length, queuedCost, neededCost });
  if (queued.depth + adding.length > rules.maxRuns) return refusal("runs", queued.cost);
  if (rules.maxCost === undefined || adding.length === 0) return null;
  if (queued.cost + neededCost > rules.maxCost) return refusal("cost", queued.cost);
  if (rules.clientShare === undefined) return null;
  const byClient = new Map<string, number>();
  for (const run of adding) if (run.client !== null) byClient.set(run.client, (byClient.get(run.client) ?? 0) + Math.min(run.cost, cap));
  for (const [client, cost] of byClient) {
    const own = queued.costOf(client);
    if (own > 0 && own + cost > cap) return refusal("client", own);
  }
  return null;
}

/** Each id once, as first given (a request may name one run twice). */
export function firstOfEach(runs: readonly Admission[]): Admission[] {
  const seen = new Set<string>();
  return runs.filter((run) => !seen.has(run.id) && Boolean(seen.add(run.id)));
}

export const costAndClient = (run: Admission) => ({ cost: run.cost ?? 0, client: run.client ?? null });

import { createHash, timingSafeEqual } from "node:crypto";
import packageJson from "../../package.json";
import { formatBytes } from "../format";
import type { ProviderReports } from "../engine/index";
import { type ProviderChoice, providerChoices } from "../record";
import { Admissions, PresetCatalog, runCost } from "./admission";
import { PresetOpenError } from "./decoder/index";
import { readableMessage, RunError, toRunError } from "./errors";
import type { EventHub, RunListener } from "./events";
import { runCellsZip, runGridPng } from "./exports";
import { isPublicId, newPublicId, newSecretKey } from "./ids";
import type { PendingEnds } from "./pending-ends";
import type { RunQueue } from "./queue";
import { readRun } from "./read";
import { IDLE_CANCEL_REASON, lapsedBefore, leasePeriodMs } from "./runner";
import type { Admission, AdmissionRules, BlobStore, LinkRow, RunStore } from "./storage";
import { inspectUpload, sniffImageType, type UploadType } from "./uploads";
import { galleryCard, type GalleryCard, type Run, type RunEvent, throughLink } from "./views";

/*
 * What route handlers call: it admits requests (admission.ts), stores uploads and serves images,
 * hands admitted runs to the queue, streams each run's events to its watchers, renews the
 * idle-cancel leases of watched runs and cancels the unwatched ones, and renders exports. It never
 * decodes: a decoder runs where the deployment puts it (deployment.ts), off this thread.
 */

export type { RunListener } from "./events";
export { IDLE_CANCEL_REASON } from "./runner";

/** The parts a service runs on; deployment.ts builds them for the embedded or the distributed deployment. */
export interface ServiceParts {
  /** The embedded deployment's data folder; null for the distributed one. */
  readonly dataDir: string | null;
  readonly store: RunStore;
  readonly blobs: BlobStore;
  readonly events: EventHub;
  readonly queue: RunQueue;
  /** Ends this process's runner could not record yet; absent where this process runs no runs (a distributed web process). */
  readonly ends?: PendingEnds;
  /** Which models run where, by preset; null when this process does not decode (a distributed web process). */
  readonly providers: ((presetName: string) => Promise<ProviderReports>) | null;
  /** Stops whatever the parts started beyond store, blobs, events and queue (a decode thread). */
  readonly closeExtra?: () => Promise<void>;
}

export interface ServiceSettings {
  /** Most runs waiting for a worker. */
  readonly queueLimit: number;
  /** Most decoding cost waiting, and one client's most share of it (storage.ts, AdmissionRules). */
  readonly queueCostLimit: number;
  readonly clientShare: number;
  /** A queued or running run with no watcher for this long is cancelled. */
  readonly idleCancelMs: number;
  readonly maxUploadBytes: number;
  /** Most bytes of uploads one client may store in 24 hours. */
  readonly uploadQuotaBytes: number;
  /** An upload no run names is deleted once it is this old. */
  readonly uploadRetentionMs: number;
  /** The preset of requests that name none; its maxImageSide bounds uploads. */
  readonly defaultPreset: string;
  /** Milliseconds since the epoch, for the stored timestamps. */
  readonly now?: () => number;
}

export interface Upload {
  readonly sha256: string;
  readonly type: UploadType;
  readonly bytes: number;
  readonly width: number;
  readonly height: number;
}

export interface Comparison {
  readonly id: string;
  readonly createdAt: string;
  readonly runs: Run[];
}

export interface PresetInfo {
  readonly name: string;
  readonly digest: string;
  readonly dim: number;
  readonly imageSize: { readonly width: number; readonly height: number };
  readonly defaults: { readonly steps: number; readonly guidanceScale: number; readonly noiseLevel: number; readonly scheduler: string };
  readonly limits: Readonly<Record<string, number>>;
  /** Each model's execution provider in this process; empty where workers elsewhere decode. */
  readonly providers: Record<string, ProviderChoice>;
}

export interface Health {
  readonly status: "ok";
  readonly version: string;
  readonly queue: { readonly depth: number; readonly limit: number; readonly running: string | null };
  readonly presets: Record<string, Record<string, ProviderChoice>>;
}

export interface GalleryPage {
  readonly runs: GalleryCard[];
  readonly total: number;
  readonly page: number;
  readonly pages: number;
}

export const GALLERY_PAGE_SIZE = 12;
/** The last page whose offset, (page − 1) · GALLERY_PAGE_SIZE, is still an exact integer for the stores. */
export const MAX_GALLERY_PAGE = Math.floor(Number.MAX_SAFE_INTEGER / GALLERY_PAGE_SIZE) + 1;
export const STOPPED_REASON = "the server stopped before this run finished; retry it";
/** Assumed run length for Retry-After before any run has finished. */
const DEFAULT_RUN_MS = 10_000;
const UPLOAD_QUOTA_WINDOW_MS = 24 * 60 * 60 * 1000;
const UPLOAD_SWEEP_MS = 60 * 60 * 1000;
const RECENT_RUNS = 10;

export class RunService {
  readonly dataDir: string | null;
  readonly queueLimit: number;
  private readonly admissionRules: AdmissionRules;
  readonly idleCancelMs: number;
  readonly maxUploadBytes: number;
  readonly uploadQuotaBytes: number;
  readonly uploadRetentionMs: number;
  readonly defaultPreset: string;
  private readonly store: RunStore;
  private readonly blobs: BlobStore;
  private readonly events: EventHub;
  private readonly queue: RunQueue;
  private readonly catalog: PresetCatalog;
  private readonly admissions: Admissions;
  private readonly now: () => number;
  private readonly leases: NodeJS.Timeout;
  private readonly sweeps: NodeJS.Timeout;
  private sweeping: Promise<void> = Promise.resolve();
  private renewing: Promise<void> = Promise.resolve();
  /** The last lease renewal's failure, logged once until a renewal succeeds (a read-only store fails every period). */
  private leaseFailure: string | null = null;
  private closed = false;

  constructor(
    private readonly parts: ServiceParts,
    settings: ServiceSettings,
  ) {
    ({ dataDir: this.dataDir, store: this.store, blobs: this.blobs, events: this.events, queue: this.queue } = parts);
    this.queueLimit = settings.queueLimit;
    this.admissionRules = { maxRuns: settings.queueLimit, maxCost: settings.queueCostLimit, clientShare: settings.clientShare };
    this.idleCancelMs = settings.idleCancelMs;
    this.maxUploadBytes = settings.maxUploadBytes;
    this.uploadQuotaBytes = settings.uploadQuotaBytes;
    this.uploadRetentionMs = settings.uploadRetentionMs;
    this.defaultPreset = settings.defaultPreset;
    this.now = settings.now ?? Date.now;
    this.catalog = new PresetCatalog(this.defaultPreset);
    this.admissions = new Admissions(this.catalog, this.store, this.blobs, this.now);
    this.leases = setInterval(() => {
      this.renewing = this.renewing.then(() => this.renewLeases()).then(
        () => this.leaseRenewed(),
        (error: unknown) => this.leaseRenewalFailed(error),
      );
    }, leasePeriodMs(this.idleCancelMs));
    // Lease upkeep must not keep a finished process alive.
    this.leases.unref();
    this.sweeps = setInterval(() => {
      this.sweeping = this.sweeping.then(() => this.sweepUploads().then(() => undefined)).catch((error: unknown) => console.error("penumbra: removing old uploads failed", error));
    }, UPLOAD_SWEEP_MS);
    this.sweeps.unref();
  }

  // ───────────────────────── uploads and images ─────────────────────────

  /**
   * Checks and stores an image upload by its sha256; `created` is false when the same bytes were
   * stored before. A named client may store at most uploadQuotaBytes a day.
   */
  async saveUpload(bytes: Uint8Array, declaredType?: string, client: string | null = null): Promise<{ upload: Upload; created: boolean }> {
    const maxSide = this.catalog.rulesFor().config.limits.maxImageSide;
    const { type, width, height } = await inspectUpload(bytes, { maxBytes: this.maxUploadBytes, maxSide }, declaredType);
    if (client !== null) {
      const used = await this.store.uploadBytesSince(client, this.now() - UPLOAD_QUOTA_WINDOW_MS);
      if (used + bytes.length > this.uploadQuotaBytes) {
        throw new RunError("quota_exceeded", `this client stored ${formatBytes(used)} of uploads in the last 24 hours; the limit is ${formatBytes(this.uploadQuotaBytes)} a day`, {
          retryAfterSeconds: UPLOAD_QUOTA_WINDOW_MS / 1000,
        });
      }
    }
    const { sha256 } = await this.blobs.put(bytes);
    const created = await this.store.insertUpload({ sha256, type, bytes: bytes.length, width, height, createdAt: this.now(), client });
    return { upload: { sha256, type, bytes: bytes.length, width, height }, created };
  }

  /**
   * Deletes uploads no run names once they are older than uploadRetentionMs (rows, then files no
   * cell shares). Runs at start-up and then every hour; answers how many went.
   */
  async sweepUploads(): Promise<number> {
    const removed = await this.store.removeUnreferencedUploads(this.now() - this.uploadRetentionMs);
    for (const { sha256, sharedWithCell } of removed) if (!sharedWithCell) await this.blobs.remove(sha256);
    return removed.length;
  }

  /** A stored cell PNG or upload, with its type read from its bytes. */
  async image(sha256: string): Promise<{ bytes: Buffer; type: UploadType }> {
    const bytes = await this.blobs.read(sha256);
    const type = sniffImageType(bytes);
    if (type === null) throw new RunError("internal", `stored file ${sha256} is not an image`);
    return { bytes, type };
  }

  // ───────────────────────── runs ─────────────────────────

  /**
   * Validates a run request, queues it unless the same request was decoded (or is being decoded)
   * before, and answers a new link to it with the key that makes the asker its creator: only that
   * key publishes the link. `client` (the front server's address for the asker) counts the run
   * against that client's share of the queue.
   */
  async createRun(body: unknown, client: string | null = null): Promise<{ run: Run; creatorKey: string }> {
    const admission = { ...(await this.admissions.run(body)), client };
    await this.admit([admission]);
    const creatorKey = newSecretKey();
    const [link] = await this.makeLinks([admission.id], creatorKey);
    return { run: await this.getRun(link.id), creatorKey };
  }

  /** The run a link leads to, seen through it. */
  async getRun(linkId: string): Promise<Run> {
    return this.readThrough(await this.link(linkId));
  }

  /** Queues a failed or cancelled run again; its finished cells are kept. Anyone holding the link may. */
  async retry(linkId: string, client: string | null = null): Promise<Run> {
    const link = await this.link(linkId);
    const run = await this.readThrough(link);
    if (run.status !== "failed" && run.status !== "cancelled") {
      throw new RunError("conflict", `run ${linkId} is ${run.status}; only failed or cancelled runs can be retried`);
    }
    await this.admit([{ id: link.runId, cost: runCost(run.request), client }]);
    return this.readThrough(link);
  }

  /** Lists a done run's link in the gallery, for its creator; publishing again keeps the first time. */
  async publish(linkId: string, creatorKey: string | null): Promise<Run> {
    const link = await this.creatorsLink(linkId, creatorKey, "publish");
    const run = await this.readThrough(link);
    if (run.status !== "done") throw new RunError("conflict", `run ${linkId} is ${run.status}; only done runs can be published`);
    await this.store.publishLink(linkId, this.now());
    return this.getRun(linkId);
  }

  /** Takes a link out of the gallery, for its creator; the link keeps opening the run. */
  async unpublish(linkId: string, creatorKey: string | null): Promise<Run> {
    const link = await this.creatorsLink(linkId, creatorKey, "unpublish");
    if (link.publishedAt === null) throw new RunError("conflict", `run ${linkId} is not published`);
    await this.store.unpublishLink(linkId);
    return this.getRun(linkId);
  }

  /** Published runs, newest first, GALLERY_PAGE_SIZE a page; `q` filters by caption text, in any case. */
  async gallery({ q = "", page = 1 }: { q?: string; page?: number | string } = {}): Promise<GalleryPage> {
    const pageNumber = galleryPageNumber(page);
    const { links, total } = await this.store.gallery(q, GALLERY_PAGE_SIZE, (pageNumber - 1) * GALLERY_PAGE_SIZE);
    return {
      runs: await Promise.all(links.map(async (link) => galleryCard(await this.readThrough(link)))),
      total,
      page: pageNumber,
      pages: Math.max(1, Math.ceil(total / GALLERY_PAGE_SIZE)),
    };
  }

  /** The labelled grid as PNG, with the run record as "penumbra:run" text. */
  async gridPng(id: string): Promise<Buffer> {
    return runGridPng(await this.finishedRun(id, "its grid"), (sha256) => this.blobs.read(sha256));
  }

  /** A zip of every cell's PNG (`row<r>-sample<c+1>.png`) and the run record (`run.json`). */
  async cellsZip(id: string): Promise<Buffer> {
    return runCellsZip(await this.finishedRun(id, "its cells"), (sha256) => this.blobs.read(sha256));
  }

  // ───────────────────────── comparisons ─────────────────────────

  /**
   * 2–4 inputs with shared settings: one run each (queued, or reused as createRun reuses them),
   * each with a new link, under a new comparison id. One creator key serves all its links.
   */
  async createComparison(body: unknown, client: string | null = null): Promise<{ comparison: Comparison; creatorKey: string }> {
    const runs = await this.admissions.comparison(body);
    // All runs are admitted together, so a full queue refuses the whole comparison, not part of it.
    await this.admit(runs.map((run) => ({ ...run, client })));
    const creatorKey = newSecretKey();
    const links = await this.makeLinks(runs.map((run) => run.id), creatorKey);
    const id = newPublicId();
    await this.store.insertComparison({ id, linkIds: links.map((link) => link.id), createdAt: this.now() });
    return { comparison: await this.getComparison(id), creatorKey };
  }

  async getComparison(id: string): Promise<Comparison> {
    const row = await this.store.getComparison(this.checkId(id));
    if (!row) throw new RunError("not_found", `no comparison with id ${id}`);
    return { id: row.id, createdAt: new Date(row.createdAt).toISOString(), runs: await Promise.all(row.linkIds.map((linkId) => this.getRun(linkId))) };
  }

  // ───────────────────────── presets and health ─────────────────────────

  async presets(): Promise<PresetInfo[]> {
    return Promise.all(
      this.catalog.names().map(async (name) => {
        const rules = this.catalog.rulesFor(name, true);
        const { config } = rules;
        return {
          name,
          digest: rules.preset.digest,
          dim: config.embedding.dim,
          imageSize: { width: config.image.size, height: config.image.size },
          defaults: { ...config.defaults, scheduler: config.scheduler.type },
          limits: { ...config.limits, maxNoiseLevel: config.noiseAugmentation.trainTimesteps - 1 },
          providers: await this.providerChoices(name),
        };
      }),
    );
  }

  async health(): Promise<Health> {
    const [presets, queue] = await Promise.all([this.presets(), this.store.queueState()]);
    return {
      status: "ok",
      version: packageJson.version,
      queue: { depth: queue.queued, limit: this.queueLimit, running: queue.running[0]?.id ?? null },
      presets: Object.fromEntries(presets.map((preset) => [preset.name, preset.providers])),
    };
  }

  // ───────────────────────── events ─────────────────────────

  /**
   * Sends `listener` a snapshot of the run, then its progress, cells and status changes until
   * unsubscribed. Subscribing to a cancelled run queues it again (the snapshot shows it queued).
   * Events that arrive while the snapshot is read follow it, so none is missed.
   */
  async subscribe(linkId: string, listener: RunListener): Promise<() => void> {
    const link = await this.link(linkId);
    const id = link.runId;
    const run = await this.readThrough(link);
    if (run.status === "cancelled") {
      try {
        await this.admit([{ id, cost: runCost(run.request) }]);
      } catch (error) {
        // The stream still opens; it says why the run stays cancelled and ends.
        listener({ type: "snapshot", data: run });
        listener({ type: "status", data: { status: "cancelled", error: readableMessage(error) } });
        return () => {};
      }
    }
    let held: Parameters<RunListener>[0][] | null = [];
    const unsubscribe = await this.events.subscribe(id, (stored) => {
      // The runner's snapshots carry the run's own id, which is never shown.
      const event: RunEvent = stored.type === "snapshot" ? { type: "snapshot", data: throughLink(stored.data, link) } : stored;
      if (held) held.push(event);
      else listener(event);
    });
    try {
      // The lease is renewed again every period; a store refusing writes must not stop anyone watching what it holds.
      await this.store.touchWatched([id], this.now()).then(
        () => this.leaseRenewed(),
        (error: unknown) => this.leaseRenewalFailed(error),
      );
      listener({ type: "snapshot", data: await this.readThrough(link) });
    } catch (error) {
      unsubscribe();
      throw error;
    }
    for (const event of held) listener(event);
    held = null;
    return unsubscribe;
  }

  // ───────────────────────── recovery and shutdown ─────────────────────────

  /**
   * The embedded deployment's start-up: runs a stopped process left queued or running go back in
   * the queue, oldest first, while it has room; the rest fail with a reason. None stays running.
   * A store that refuses a write stops it (the error is thrown); runs already requeued are queued.
   */
  async recover(): Promise<{ requeued: string[]; failed: string[] }> {
    const requeued: string[] = [];
    const failed: string[] = [];
    try {
      for (const { id } of await this.store.unfinishedRuns()) {
        if (requeued.length < this.queueLimit) {
          await this.store.markQueued(id);
          requeued.push(id);
        } else {
          await this.store.markEnded(id, "failed", STOPPED_REASON, this.now());
          failed.push(id);
        }
      }
    } finally {
      await this.queue.add(requeued);
    }
    return { requeued, failed };
  }

  /**
   * The distributed deployment's start-up: every unfinished run is handed to the queue again. The
   * queue engine ignores runs it still holds, so this only restores runs it lost (a web process
   * that stopped between storing a run and queueing it); it never takes a run from its worker.
   */
  async reconcile(): Promise<string[]> {
    const unfinished = (await this.store.unfinishedRuns()).map((run) => run.id);
    await this.queue.add(unfinished);
    return unfinished;
  }

  /** Stops the queue (an interrupted run goes back to it, for the next start) and closes every part. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.leases);
    clearInterval(this.sweeps);
    await Promise.all([this.renewing, this.sweeping]);
    await this.queue.close();
    this.parts.ends?.close();
    await this.parts.closeExtra?.();
    await this.events.close();
    await Promise.all([this.store.close(), this.blobs.close()]);
  }

  // ───────────────────────── helpers ─────────────────────────

  /**
   * Inserts new runs and requeues failed or cancelled ones, all or none: refused with 429 when the
   * queue lacks room for all of them.
   */
  private async admit(runs: readonly Admission[]): Promise<void> {
    // A run whose end is held is failed to its watchers but running in the store, which admits only
    // failed and cancelled runs: its end must be written first, and cannot be while the store refuses it.
    await this.parts.ends?.record();
    for (const run of runs) {
      if (this.parts.ends?.get(run.id)) throw toRunError(this.parts.ends.refusalOf(run.id));
    }
    const result = await this.store.admit(runs, this.admissionRules, this.now());
    if (!result.admitted) {
      const retryAfterSeconds = await this.retryAfterSeconds();
      const { maxCost = 0, clientShare = 0 } = this.admissionRules;
      const why = {
        runs: `the queue is full (${result.depth} of ${this.queueLimit} runs waiting)`,
        cost: `the queue is full: the runs waiting cost ${result.queuedCost} of ${maxCost} (rows × samples × steps, doubled with guidance) and this costs ${result.neededCost}; a smaller grid or fewer steps may fit`,
        client: `your runs already waiting cost ${result.queuedCost} of the ${Math.floor(maxCost * clientShare)} one client may hold, and this costs ${result.neededCost}; wait until they start`,
      }[result.reason];
      throw new RunError("queue_full", `${why}; try again in about ${retryAfterSeconds} s`, { retryAfterSeconds });
    }
    await this.queue.add(result.queued);
    for (const id of result.queued) await this.announce(id, { type: "status", data: { status: "queued", error: null } });
  }

  /** When a worker will likely take the next waiting run: the mean recent run length, less what the oldest running run has used. */
  private async retryAfterSeconds(): Promise<number> {
    const [durations, queue] = await Promise.all([this.store.recentDurations(RECENT_RUNS), this.store.queueState()]);
    const mean = durations.length ? durations.reduce((sum, ms) => sum + ms, 0) / durations.length : DEFAULT_RUN_MS;
    const oldest = queue.running[0];
    const elapsed = oldest ? this.now() - oldest.startedAt : 0;
    return Math.max(1, Math.ceil((mean - elapsed) / 1000));
  }

  private leaseRenewed(): void {
    if (this.leaseFailure !== null) console.log("penumbra: renewing watch leases works again");
    this.leaseFailure = null;
  }

  /** Logs a failed lease renewal once until one succeeds: a read-only store fails every period and every stream opened. */
  private leaseRenewalFailed(error: unknown): void {
    const failure = readableMessage(error);
    if (failure !== this.leaseFailure) console.error("penumbra: renewing watch leases failed (logged once until it works again)", error);
    this.leaseFailure = failure;
  }

  /** Renews the leases of runs watched here, and cancels queued runs whose lease lapsed. */
  private async renewLeases(): Promise<void> {
    if (this.closed) return;
    const now = this.now();
    await this.store.touchWatched(this.events.watched(), now);
    for (const id of await this.store.cancelUnwatched(lapsedBefore(now, this.idleCancelMs), IDLE_CANCEL_REASON, now)) {
      await this.announce(id, { type: "status", data: { status: "cancelled", error: IDLE_CANCEL_REASON } });
    }
  }

  /** Sends an event to the run's watchers. A failed send is logged, not thrown: what it announced is stored, and watchers read it when they reconnect. */
  private async announce(id: string, event: RunEvent): Promise<void> {
    await this.events.publish(id, event).catch((error: unknown) => console.error(`penumbra: announcing run ${id}'s ${event.type} failed`, error));
  }

  private async providerChoices(presetName: string): Promise<Record<string, ProviderChoice>> {
    if (!this.parts.providers) return {};
    try {
      return providerChoices(await this.parts.providers(presetName));
    } catch (error) {
      throw toRunError(error instanceof PresetOpenError ? error.cause : error, { preset: presetName, opening: true });
    }
  }

  /** The link with this id; not_found for an unknown one, never telling whether its run exists. */
  private async link(id: string): Promise<LinkRow> {
    const link = await this.store.getLink(this.checkId(id));
    if (!link) throw new RunError("not_found", `no run with id ${id}`);
    return link;
  }

  private async readThrough(link: LinkRow): Promise<Run> {
    const run = await readRun(this.store, link, this.events.progress(link.runId), this.parts.ends?.get(link.runId));
    if (!run) throw new RunError("internal", `link ${link.id} leads to no run`);
    return run;
  }

  /** New links to runs, in order, all made by the holder of `creatorKey`. */
  private async makeLinks(runIds: readonly string[], creatorKey: string): Promise<LinkRow[]> {
    const links = runIds.map((runId) => ({ id: newPublicId(), runId, creatorKeyHash: hashKey(creatorKey), createdAt: this.now(), publishedAt: null }));
    await this.store.insertLinks(links);
    return links;
  }

  /** The link, when `creatorKey` is the one its creation answered; forbidden otherwise. */
  private async creatorsLink(linkId: string, creatorKey: string | null, action: "publish" | "unpublish"): Promise<LinkRow> {
    const link = await this.link(linkId);
    const how = `send the key its creation answered (creatorKey), as Authorization: Bearer <key>`;
    if (creatorKey === null || creatorKey === "") throw new RunError("forbidden", `only the creator of run ${linkId} can ${action} it: ${how}`);
    if (link.creatorKeyHash === null || !sameHash(hashKey(creatorKey), link.creatorKeyHash)) {
      throw new RunError("forbidden", `that key does not ${action} run ${linkId}; only the key its creation answered does`);
    }
    return link;
  }

  private async finishedRun(id: string, what: string): Promise<Run> {
    const run = await this.getRun(id);
    if (run.status !== "done") throw new RunError("conflict", `run ${id} is ${run.status}; ${what} can be downloaded once it is done`);
    return run;
  }

  private checkId(id: string): string {
    if (!isPublicId(id)) throw new RunError("not_found", `${JSON.stringify(id)} is not an id; ids are 24 lowercase hex digits (12 in older links)`);
    return id;
  }
}

/**
 * A gallery page number as the API and the gallery page accept it: decimal digits only (so "1e1",
 * "0x10" and " 2 " are refused rather than read as 10, 16 and 2), from 1 to MAX_GALLERY_PAGE.
 */
function galleryPageNumber(page: number | string): number {
  const pageNumber = typeof page === "number" ? page : /^[0-9]+$/.test(page) ? Number(page) : Number.NaN;
  if (!Number.isSafeInteger(pageNumber) || pageNumber < 1 || pageNumber > MAX_GALLERY_PAGE) {
    throw new RunError("invalid_input", `page must be a whole number from 1 to ${MAX_GALLERY_PAGE}, written in digits; got ${JSON.stringify(page)}`);
  }
  return pageNumber;
}

const hashKey = (key: string) => createHash("sha256").update(key).digest("hex");
/** Compares two key hashes in constant time, so the comparison's duration tells nothing of the stored one. */
const sameHash = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

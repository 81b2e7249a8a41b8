import path from "node:path";
import { performance } from "node:perf_hooks";
import sharp from "sharp";
import { z } from "zod";
import packageJson from "../../package.json";
import { norm } from "../engine/adapter";
import { composeGrid, encodeImage, withPngText } from "../engine/images";
import { type DecodedImage, type Description, type Engine, type EngineInput, type Grid, listPresets, openPreset, planLevels, runDescription, type RunRequest } from "../engine/index";
import { describeIssues } from "../engine/preset";
import { batchPlan } from "../engine/unclip";
import { cellMetrics, colLabels, gridTitle, type ProviderChoice, providerChoices, RUN_KEY, rowLabels } from "../record";
import { configurationError, isServerFault, readableMessage, RunError, toRunError } from "./errors";
import { FileStore } from "./files";
import { comparisonId, isSha256, isShortId, runId } from "./ids";
import { type NewRun, RunStore } from "./store";
import { inspectUpload, sniffImageType, type UploadType } from "./uploads";
import { galleryCard, type GalleryCard, type ProgressEventData, type Run, type RunEvent, runJson, type StoredDescription, type StoredInput, type StoredRequest, webRunRecord } from "./views";
import { writeZip } from "./zip";

/*
 * The one object route handlers use: it validates requests, stores runs, uploads and images,
 * decodes one run at a time (there is one device), streams progress to subscribers, cancels runs
 * nobody watches, and resumes what a stopped process left behind.
 */

export interface RunServiceOptions {
  /** Holds penumbra.db and files/. */
  readonly dataDir: string;
  /** Most runs waiting behind the one decoding. */
  readonly queueLimit?: number;
  /** A queued or running run with no subscriber for this long is cancelled. */
  readonly idleCancelMs?: number;
  readonly maxUploadBytes?: number;
  /** The preset of requests that name none; its maxImageSide bounds uploads. */
  readonly defaultPreset?: string;
  readonly openEngine?: (presetName: string) => Promise<Engine>;
  /** Milliseconds since the epoch, for the stored timestamps. */
  readonly now?: () => number;
}

export type RunListener = (event: RunEvent) => void;

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
export const IDLE_CANCEL_REASON = "cancelled: nobody was watching the run";
export const STOPPED_REASON = "the server stopped before this run finished; retry it";
/** Assumed run length for Retry-After before any run has finished. */
const DEFAULT_RUN_MS = 10_000;
const RECENT_RUNS = 10;
const MiB = 1024 * 1024;

const sha256Field = z.string().refine(isSha256, { message: "must be an upload's sha256 (64 lowercase hex digits)" });
const inputField = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("caption"), text: z.string() }),
  z.strictObject({ kind: z.literal("image"), upload: sha256Field }),
]);
// Only the preset and input are checked here; the preset's engine validates every other setting.
const runBodySchema = z.looseObject({ preset: z.string().optional(), input: inputField });
const comparisonBodySchema = z.looseObject({ preset: z.string().optional(), inputs: z.array(inputField).min(2).max(4) });

function invalid(what: string, error: z.ZodError): RunError {
  return new RunError("invalid_input", `invalid ${what}: ${describeIssues(error)}`);
}

function positiveIntegerFromEnv(name: string): number | undefined {
  const text = process.env[name];
  if (text === undefined || text.trim() === "") return undefined;
  const value = Number(text);
  // The server's fault, not the request's: a 500 naming the variable; its value only in the log.
  if (!Number.isSafeInteger(value) || value < 0) throw configurationError(name, new Error(`${name} must be a whole number ≥ 0, got ${JSON.stringify(text)}`));
  return value;
}

interface Job {
  readonly id: string;
  readonly controller: AbortController;
  readonly startedAt: number;
  progress: ProgressEventData | null;
  /** Set when the job was aborted on purpose: why, and what status it ends in. */
  stop: { status: "cancelled" | "queued"; reason: string } | null;
}

/** A run to queue: an existing one by id, or a validated new request with the row to insert. */
interface Admission {
  readonly id: string;
  readonly insert?: NewRun;
}

export class RunService {
  readonly dataDir: string;
  readonly queueLimit: number;
  readonly idleCancelMs: number;
  readonly maxUploadBytes: number;
  readonly defaultPreset: string;
  private readonly store: RunStore;
  private readonly files: FileStore;
  private readonly openEngine: (presetName: string) => Promise<Engine>;
  private readonly now: () => number;
  private readonly engines = new Map<string, Promise<Engine>>();
  private readonly waiting: string[] = [];
  private readonly listeners = new Map<string, Set<RunListener>>();
  private readonly idleTimers = new Map<string, NodeJS.Timeout>();
  private job: Job | null = null;
  private working: Promise<void> | null = null;
  private closed = false;

  constructor(options: RunServiceOptions) {
    this.dataDir = path.resolve(options.dataDir);
    this.queueLimit = options.queueLimit ?? 8;
    this.idleCancelMs = options.idleCancelMs ?? 30_000;
    this.maxUploadBytes = options.maxUploadBytes ?? 10 * MiB;
    this.defaultPreset = options.defaultPreset ?? "shapes";
    this.openEngine = options.openEngine ?? ((name) => openPreset(name));
    this.now = options.now ?? Date.now;
    this.store = RunStore.open(this.dataDir);
    this.files = new FileStore(path.join(this.dataDir, "files"));
  }

  /** Settings from PENUMBRA_DATA, PENUMBRA_QUEUE_LIMIT, PENUMBRA_IDLE_CANCEL_MS, PENUMBRA_MAX_UPLOAD_BYTES, PENUMBRA_PRESET. */
  static fromEnv(): RunService {
    return new RunService({
      dataDir: process.env.PENUMBRA_DATA || "./.data",
      queueLimit: positiveIntegerFromEnv("PENUMBRA_QUEUE_LIMIT"),
      idleCancelMs: positiveIntegerFromEnv("PENUMBRA_IDLE_CANCEL_MS"),
      maxUploadBytes: positiveIntegerFromEnv("PENUMBRA_MAX_UPLOAD_BYTES"),
      defaultPreset: process.env.PENUMBRA_PRESET || undefined,
    });
  }

  // ───────────────────────── uploads and images ─────────────────────────

  /** Checks and stores an image upload by its sha256; `created` is false when the same bytes were stored before. */
  async saveUpload(bytes: Uint8Array, declaredType?: string): Promise<{ upload: Upload; created: boolean }> {
    // The default preset's engine is open (and cached) for the runs this upload is for anyway.
    const available = listPresets();
    if (!available.includes(this.defaultPreset)) throw this.missingDefaultPreset(available);
    const maxSide = (await this.engineFor(this.defaultPreset)).config.limits.maxImageSide;
    const { type, width, height } = await inspectUpload(bytes, { maxBytes: this.maxUploadBytes, maxSide }, declaredType);
    const { sha256 } = await this.files.put(bytes);
    const created = this.store.insertUpload({ sha256, type, bytes: bytes.length, width, height, createdAt: this.now() });
    return { upload: { sha256, type, bytes: bytes.length, width, height }, created };
  }

  /** A stored cell PNG or upload, with its type read from its bytes. */
  async image(sha256: string): Promise<{ bytes: Buffer; type: UploadType }> {
    const bytes = await this.files.read(sha256);
    const type = sniffImageType(bytes);
    if (type === null) throw new RunError("internal", `stored file ${sha256} is not an image`);
    return { bytes, type };
  }

  // ───────────────────────── runs ─────────────────────────

  /** Validates a run request and queues it, or returns the run it already is (queuing a failed or cancelled one again). */
  async createRun(body: unknown): Promise<{ run: Run; created: boolean }> {
    const prepared = await this.prepare(body);
    const [created] = this.admit([prepared]);
    return { run: this.getRun(prepared.id), created };
  }

  getRun(id: string): Run {
    const row = this.store.getRun(this.checkId(id));
    if (!row) throw new RunError("not_found", `no run with id ${id}`);
    const request = JSON.parse(row.request) as StoredRequest;
    const upload = request.input.kind === "image" ? this.store.getUpload(request.input.upload) : undefined;
    const live = this.job?.id === id ? this.job.progress : null;
    return runJson(row, this.store.getCells(id), upload, live);
  }

  /** Queues a failed or cancelled run again; its finished cells are kept. */
  retry(id: string): Run {
    const run = this.getRun(id);
    if (run.status !== "failed" && run.status !== "cancelled") {
      throw new RunError("conflict", `run ${id} is ${run.status}; only failed or cancelled runs can be retried`);
    }
    this.admit([{ id }]);
    return this.getRun(id);
  }

  /** Lists a finished run in the gallery; publishing again keeps the first time. */
  publish(id: string): Run {
    const run = this.getRun(id);
    if (run.status !== "done") throw new RunError("conflict", `run ${id} is ${run.status}; only done runs can be published`);
    this.store.publish(id, this.now());
    return this.getRun(id);
  }

  /** Published runs, newest first, GALLERY_PAGE_SIZE a page; `q` filters by caption text, in any case. */
  gallery({ q = "", page = 1 }: { q?: string; page?: number | string } = {}): GalleryPage {
    const pageNumber = Number(page);
    if (!Number.isSafeInteger(pageNumber) || pageNumber < 1) throw new RunError("invalid_input", `page must be a whole number ≥ 1, got ${JSON.stringify(page)}`);
    const { rows, total } = this.store.gallery(q, GALLERY_PAGE_SIZE, (pageNumber - 1) * GALLERY_PAGE_SIZE);
    return {
      runs: rows.map((row) => galleryCard(this.getRun(row.id))),
      total,
      page: pageNumber,
      pages: Math.max(1, Math.ceil(total / GALLERY_PAGE_SIZE)),
    };
  }

  /** The labelled grid as PNG, with the run record as "penumbra:run" text. */
  async gridPng(id: string): Promise<Buffer> {
    const run = this.finishedRun(id, "its grid");
    const cells = await Promise.all(
      run.cells.map(async (cell) => {
        const { data, info } = await sharp(await this.files.read(cell.image ?? "")).removeAlpha().raw().toBuffer({ resolveWithObject: true });
        return { row: cell.row, col: cell.col, rgb: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
      }),
    );
    const { input } = run.request;
    const title = gridTitle({
      inputLabel: input.kind === "caption" ? JSON.stringify(input.text) : `image ${input.upload.slice(0, 12)}`,
      uncertainty: run.description?.uncertainty ?? Number.NaN,
      percentile: run.description?.percentile ?? Number.NaN,
      outOfDistribution: run.description?.outOfDistribution?.flagged ?? false,
      presetName: run.preset.name,
      settings: run.request,
    });
    const grid = await composeGrid(cells, { rows: run.rows, cols: run.cols, rowLabels: rowLabels(run.request.plan, run.cells), colLabels: colLabels(run.cols), title });
    return withPngText(grid, { [RUN_KEY]: JSON.stringify(webRunRecord(run)), Title: title, Software: "Penumbra" });
  }

  /** A zip of every cell's PNG (`row<r>-col<c>.png`) and the run record (`run.json`). */
  async cellsZip(id: string): Promise<Buffer> {
    const run = this.finishedRun(id, "its cells");
    const entries = await Promise.all(run.cells.map(async (cell) => ({ name: `row${cell.row}-col${cell.col}.png`, data: await this.files.read(cell.image ?? "") })));
    entries.push({ name: "run.json", data: Buffer.from(`${JSON.stringify(webRunRecord(run), null, 2)}\n`) });
    return writeZip(entries, new Date(run.finishedAt ?? run.createdAt));
  }

  // ───────────────────────── comparisons ─────────────────────────

  /** 2–4 inputs with shared settings: one run each (created or reused), under one id. */
  async createComparison(body: unknown): Promise<{ comparison: Comparison; created: boolean }> {
    const parsed = comparisonBodySchema.safeParse(body);
    if (!parsed.success) throw invalid("comparison (give 2 to 4 inputs and the settings they share)", parsed.error);
    const { inputs, ...shared } = parsed.data;
    const prepared: Admission[] = [];
    for (const input of inputs) prepared.push(await this.prepare({ ...shared, input }));
    // All runs are admitted together, so a full queue refuses the whole comparison, not part of it.
    this.admit(prepared);
    const runIds = prepared.map((run) => run.id);
    const id = comparisonId(runIds);
    const created = this.store.insertComparison({ id, runIds, createdAt: this.now() });
    return { comparison: this.getComparison(id), created };
  }

  getComparison(id: string): Comparison {
    const row = this.store.getComparison(this.checkId(id));
    if (!row) throw new RunError("not_found", `no comparison with id ${id}`);
    return { id: row.id, createdAt: new Date(row.createdAt).toISOString(), runs: row.runIds.map((runId) => this.getRun(runId)) };
  }

  // ───────────────────────── presets and health ─────────────────────────

  async presets(): Promise<PresetInfo[]> {
    return Promise.all(
      listPresets().map(async (name) => {
        const engine = await this.engineFor(name);
        const { config } = engine;
        return {
          name,
          digest: engine.preset.digest,
          dim: config.embedding.dim,
          imageSize: { width: config.image.size, height: config.image.size },
          defaults: { ...config.defaults, scheduler: config.scheduler.type },
          limits: { ...config.limits, maxNoiseLevel: config.noiseAugmentation.trainTimesteps - 1 },
          providers: providerChoices(engine.providers()),
        };
      }),
    );
  }

  async health(): Promise<Health> {
    const presets = await this.presets();
    return {
      status: "ok",
      version: packageJson.version,
      queue: { depth: this.waiting.length, limit: this.queueLimit, running: this.job?.id ?? null },
      presets: Object.fromEntries(presets.map((preset) => [preset.name, preset.providers])),
    };
  }

  // ───────────────────────── events ─────────────────────────

  /**
   * Sends `listener` a snapshot of the run, then its progress, cells and status changes until
   * unsubscribed. Subscribing to a cancelled run queues it again (the snapshot shows it queued).
   */
  subscribe(id: string, listener: RunListener): () => void {
    let run = this.getRun(id);
    if (run.status === "cancelled") {
      try {
        this.admit([{ id }]);
      } catch (error) {
        // The stream still opens; it says why the run stays cancelled and ends.
        listener({ type: "snapshot", data: run });
        listener({ type: "status", data: { status: "cancelled", error: readableMessage(error) } });
        return () => {};
      }
      run = this.getRun(id);
    }
    this.clearIdleTimer(id);
    listener({ type: "snapshot", data: run });
    let set = this.listeners.get(id);
    if (!set) this.listeners.set(id, (set = new Set()));
    set.add(listener);
    return () => {
      const current = this.listeners.get(id);
      if (!current?.delete(listener) || current.size > 0) return;
      this.listeners.delete(id);
      const status = this.store.getRun(id)?.status;
      if (status === "queued" || status === "running") this.armIdleTimer(id);
    };
  }

  private emit(id: string, event: RunEvent): void {
    for (const listener of this.listeners.get(id) ?? []) {
      try {
        listener(event);
      } catch (error) {
        // A broken stream must not fail the run or starve the other subscribers.
        console.error(`penumbra: a listener of run ${id} threw`, error);
      }
    }
  }

  private emitStatus(id: string): void {
    const row = this.store.getRun(id);
    if (row) this.emit(id, { type: "status", data: { status: row.status, error: row.error } });
  }

  // ───────────────────────── queue and worker ─────────────────────────

  /**
   * At start-up: runs a stopped process left queued or running go back in the queue, oldest
   * first, while it has room; the rest fail with a reason. None stays running.
   */
  recover(): { requeued: string[]; failed: string[] } {
    const requeued: string[] = [];
    const failed: string[] = [];
    for (const { id } of this.store.unfinishedRuns()) {
      if (this.job?.id === id || this.waiting.includes(id)) continue;
      if (this.waiting.length < this.queueLimit) {
        this.store.markQueued(id);
        this.enqueue(id);
        requeued.push(id);
      } else {
        this.store.markEnded(id, "failed", STOPPED_REASON, this.now());
        failed.push(id);
      }
    }
    return { requeued, failed };
  }

  /** Stops the worker (an interrupted run stays queued, for the next start's recovery) and closes the database. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.idleTimers.values()) clearTimeout(timer);
    this.idleTimers.clear();
    if (this.job) {
      this.job.stop = { status: "queued", reason: "the server is shutting down" };
      this.job.controller.abort();
    }
    await this.working;
    this.listeners.clear();
    this.store.close();
  }

  /** Validates a request against its preset and computes its id; stores nothing. */
  private async prepare(body: unknown): Promise<Admission> {
    const parsed = runBodySchema.safeParse(body);
    if (!parsed.success) throw invalid("run request", parsed.error);
    const { preset: presetName = this.defaultPreset, input, ...settings } = parsed.data;
    const available = listPresets();
    if (!available.includes(presetName)) {
      // A default that names no preset is the server's setting, not the request's fault.
      if (parsed.data.preset === undefined) throw this.missingDefaultPreset(available);
      throw new RunError("invalid_input", `unknown preset ${JSON.stringify(presetName)}; available: ${available.join(", ") || "none"}`);
    }
    const engine = await this.engineFor(presetName);
    const engineInput = await this.engineInput(input, "request");
    let normalized;
    try {
      normalized = engine.normalize({ ...settings, input: engineInput } as RunRequest);
    } catch (error) {
      throw toRunError(error);
    }
    const request: StoredRequest = { ...normalized, input };
    const id = runId(engine.preset.digest, request);
    const rows = planLevels(request.plan).length;
    return {
      id,
      insert: {
        id,
        presetName,
        presetDigest: engine.preset.digest,
        request: JSON.stringify(request),
        createdAt: this.now(),
        rows,
        cols: request.cols,
        imageWidth: engine.config.image.size,
        imageHeight: engine.config.image.size,
        searchText: input.kind === "caption" ? input.text.toLowerCase() : null,
      },
    };
  }

  /**
   * Inserts new runs and queues them with failed or cancelled ones, all or none: refused with 429
   * when the queue lacks room for all of them. Returns, per run, whether it was created.
   */
  private admit(runs: readonly Admission[]): boolean[] {
    const toQueue = new Set<string>();
    const created = runs.map((run) => {
      const status = this.store.getRun(run.id)?.status;
      if (status === undefined || status === "failed" || status === "cancelled") toQueue.add(run.id);
      return status === undefined;
    });
    if (this.waiting.length + toQueue.size > this.queueLimit) {
      const retryAfterSeconds = this.retryAfterSeconds();
      throw new RunError(
        "queue_full",
        `the queue is full (${this.waiting.length} of ${this.queueLimit} runs waiting); try again in about ${retryAfterSeconds} s`,
        { retryAfterSeconds },
      );
    }
    runs.forEach((run, i) => {
      if (!toQueue.delete(run.id)) return;
      if (!created[i]) this.store.markQueued(run.id);
      else if (run.insert) this.store.insertRun(run.insert);
      else throw new RunError("not_found", `no run with id ${run.id}`);
      this.enqueue(run.id);
    });
    return created;
  }

  /** When the worker will likely take the next waiting run: the mean recent run length, less what the current run has used. */
  private retryAfterSeconds(): number {
    const durations = this.store.recentDurations(RECENT_RUNS);
    const mean = durations.length ? durations.reduce((sum, ms) => sum + ms, 0) / durations.length : DEFAULT_RUN_MS;
    const elapsed = this.job ? this.now() - this.job.startedAt : 0;
    return Math.max(1, Math.ceil((mean - elapsed) / 1000));
  }

  private enqueue(id: string): void {
    this.waiting.push(id);
    this.emitStatus(id);
    this.armIdleTimer(id);
    // On the next turn, so the caller's answer still shows the run as queued.
    setImmediate(() => this.pump());
  }

  private pump(): void {
    if (this.closed || this.working) return;
    const id = this.waiting.shift();
    if (id === undefined) return;
    this.working = this.execute(id).finally(() => {
      this.working = null;
      this.pump();
    });
  }

  private async execute(id: string): Promise<void> {
    const job: Job = { id, controller: new AbortController(), startedAt: this.now(), progress: null, stop: null };
    this.job = job;
    const started = performance.now();
    this.store.markRunning(id, job.startedAt);
    this.emitStatus(id);
    try {
      const row = this.store.getRun(id);
      if (!row) throw new Error(`run ${id} vanished from the database`);
      const request = JSON.parse(row.request) as StoredRequest;
      const engine = await this.engineFor(row.presetName);
      if (engine.preset.digest !== row.presetDigest) {
        throw new RunError("conflict", `preset ${row.presetName} has changed since this run was created; create the run again`);
      }
      const description = await engine.describe(await this.engineInput(request.input, "run"));
      const grid = engine.planGrid(description, { ...request.plan, cols: request.cols }, request.seed);
      const describeMs = performance.now() - started;
      this.store.saveDescription(id, describedAs(engine, description, grid), grid.cells.map(cellMetrics));
      this.emit(id, { type: "snapshot", data: this.getRun(id) });

      const decodeStarted = performance.now();
      await this.decodeMissing(job, engine, grid, request);
      const finished = performance.now();
      const timings = { describeMs, decodeMs: finished - decodeStarted, totalMs: finished - started };
      this.store.markDone(id, this.now(), timings, providerChoices(engine.providers()));
    } catch (error) {
      if (job.stop?.status === "queued") this.store.markQueued(id);
      else if (job.stop) this.store.markEnded(id, "cancelled", job.stop.reason, this.now());
      else this.store.markEnded(id, "failed", this.failureMessage(id, error), this.now());
    } finally {
      this.job = null;
      if (!this.closed) {
        const status = this.store.getRun(id)?.status;
        if (status !== "queued" && status !== "running") this.clearIdleTimer(id);
        this.emitStatus(id);
      }
    }
  }

  /**
   * Decodes the cells without an image, storing each PNG as it arrives. The engine draws each
   * cell's noise from its column, so decoding a subset gives the same images as the whole grid.
   */
  private async decodeMissing(job: Job, engine: Engine, grid: Grid, request: StoredRequest): Promise<void> {
    const cells = this.store.getCells(job.id);
    const missing = cells.filter((cell) => cell.image === null).map((cell) => cell.index);
    if (missing.length === 0) return;
    let cellsDone = cells.length - missing.length;
    const cellsTotal = cells.length;
    // The engine's batch order (decodeCells): guidance ≠ 1 doubles each batch, the first row leads alone.
    const perCall = Math.max(1, Math.floor(engine.config.limits.maxBatch / (request.guidanceScale !== 1 ? 2 : 1)));
    const batches = batchPlan(missing.length, perCall, grid.cols).map((batch) => batch.map((i) => missing[i]));
    const started = performance.now();
    let storing = Promise.resolve();
    const store = async (index: number, image: DecodedImage) => {
      const { sha256 } = await this.files.put(await encodeImage(image, "png"));
      this.store.setCellImage(job.id, index, sha256);
      this.emit(job.id, { type: "cell", data: { index, image: sha256 } });
    };
    const { steps, guidanceScale, noiseLevel, scheduler, prompt } = request;
    try {
      await engine.decodeCells(
        { ...grid, cells: missing.map((index) => grid.cells[index]) },
        { steps, guidanceScale, noiseLevel, scheduler, prompt },
        {
          signal: job.controller.signal,
          onStep: ({ evaluation, evaluations, batch, batches: batchCount }) => {
            const elapsedSeconds = (performance.now() - started) / 1000;
            const etaSeconds = evaluation > 0 ? (elapsedSeconds / evaluation) * (evaluations - evaluation) : null;
            job.progress = { evaluation, evaluations, batch, batches: batchCount, activeCells: batches[batch], cellsDone, cellsTotal, etaSeconds };
            this.emit(job.id, { type: "progress", data: job.progress });
          },
          onCell: (subsetIndex, image) => {
            // Counted when decoded: encoding and storing the PNG trails the decode a little.
            cellsDone += 1;
            storing = storing.then(() => store(missing[subsetIndex], image));
          },
        },
      );
    } finally {
      // Cells finished before a cancel or failure are kept.
      await storing;
    }
  }

  private armIdleTimer(id: string): void {
    if (this.closed || (this.listeners.get(id)?.size ?? 0) > 0) return;
    this.clearIdleTimer(id);
    const timer = setTimeout(() => this.cancelUnwatched(id), this.idleCancelMs);
    // A pending cancellation must not keep the process alive.
    timer.unref();
    this.idleTimers.set(id, timer);
  }

  private clearIdleTimer(id: string): void {
    clearTimeout(this.idleTimers.get(id));
    this.idleTimers.delete(id);
  }

  private cancelUnwatched(id: string): void {
    this.idleTimers.delete(id);
    if (this.closed || (this.listeners.get(id)?.size ?? 0) > 0) return;
    if (this.job?.id === id) {
      this.job.stop = { status: "cancelled", reason: IDLE_CANCEL_REASON };
      this.job.controller.abort();
      return;
    }
    const position = this.waiting.indexOf(id);
    if (position < 0) return;
    this.waiting.splice(position, 1);
    this.store.markEnded(id, "cancelled", IDLE_CANCEL_REASON, this.now());
    this.emitStatus(id);
  }

  // ───────────────────────── helpers ─────────────────────────

  private missingDefaultPreset(available: readonly string[]): RunError {
    return configurationError("PENUMBRA_PRESET", new Error(`the default preset ${JSON.stringify(this.defaultPreset)} is not one of: ${available.join(", ") || "none"}`));
  }

  /**
   * A failed run's stored (and shown) error: the engine's message for what the request got wrong,
   * a safe message for the server's own faults (preset, model, configuration), whose details go
   * to the server log.
   */
  private failureMessage(id: string, error: unknown): string {
    const failure = toRunError(error, { preset: this.store.getRun(id)?.presetName });
    if (!isServerFault(failure) || failure.code === "internal") return readableMessage(error);
    console.error(`penumbra: run ${id}: ${failure.message}:`, failure.cause ?? failure);
    return failure.message;
  }

  /**
   * One engine per preset, opened on first use; a failed open is forgotten so a later call tries
   * again. Whatever fails while opening is the server's (its preset files or settings), so it
   * rejects with a server fault whose cause is the engine's error.
   */
  private engineFor(name: string): Promise<Engine> {
    let pending = this.engines.get(name);
    if (!pending) {
      pending = this.openEngine(name).catch((error: unknown) => {
        throw toRunError(error, { preset: name, opening: true });
      });
      this.engines.set(name, pending);
      pending.catch(() => this.engines.delete(name));
    }
    return pending;
  }

  /** The engine's input: a caption as is, an upload as its stored bytes. */
  private async engineInput(input: StoredInput, purpose: "request" | "run"): Promise<EngineInput> {
    if (input.kind === "caption") return input;
    if (!this.store.getUpload(input.upload)) {
      throw new RunError("invalid_input", `no upload with sha256 ${input.upload}; upload the image first and use the sha256 it answers`);
    }
    const bytes = await this.files.read(input.upload).catch((error: unknown) => {
      throw purpose === "run" ? new Error(`the uploaded image ${input.upload} is missing from the file store`) : error;
    });
    return { kind: "image", bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
  }

  private finishedRun(id: string, what: string): Run {
    const run = this.getRun(id);
    if (run.status !== "done") throw new RunError("conflict", `run ${id} is ${run.status}; ${what} can be downloaded once it is done`);
    return run;
  }

  private checkId(id: string): string {
    if (!isShortId(id)) throw new RunError("not_found", `${JSON.stringify(id)} is not an id; ids are 12 lowercase hex digits`);
    return id;
  }
}

/** The Run JSON's description: the distribution's parameters as plain numbers and how captions reach image space. */
function describedAs(engine: Engine, description: Description, grid: Grid): StoredDescription {
  const { bridge } = engine.config;
  const gapShift =
    description.modality === "text" && bridge.type === "gap-shift"
      ? { type: "gap-shift" as const, imageNorm: bridge.imageNorm, gapNorm: norm(bridge.imageMean.map((value, i) => value - bridge.textMean[i])) }
      : null;
  const { epistemic, logUncertainty, outOfDistribution, decoder } = runDescription(description, grid);
  return {
    modality: description.modality,
    dim: description.distribution.mu.length,
    uncertainty: description.uncertainty,
    logUncertainty,
    percentile: description.percentile,
    epistemic,
    outOfDistribution,
    decoder,
    radiusShape: grid.radiusShape,
    embeddingNorm: description.embeddingNorm,
    alpha: Array.from(description.distribution.alpha),
    beta: Array.from(description.distribution.beta),
    bridge: gapShift,
    input: description.input,
  };
}

const SERVICE_KEY = Symbol.for("penumbra.runService");

/**
 * The process-wide service, kept on globalThis because Next's dev server reloads modules; created
 * from the environment on first use, when it also recovers what a stopped process left behind.
 */
export function getRunService(): RunService {
  let service = serviceHolder()[SERVICE_KEY];
  if (!service) {
    service = RunService.fromEnv();
    service.recover();
    serviceHolder()[SERVICE_KEY] = service;
  }
  return service;
}

/** Closes the process-wide service, as a stopping server would; the next getRunService() starts (and recovers) anew. */
export async function closeRunService(): Promise<void> {
  const holder = serviceHolder();
  const service = holder[SERVICE_KEY];
  delete holder[SERVICE_KEY];
  await service?.close();
}

function serviceHolder(): { [SERVICE_KEY]?: RunService } {
  return globalThis as typeof globalThis & { [SERVICE_KEY]?: RunService };
}

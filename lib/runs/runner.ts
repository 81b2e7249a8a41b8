import { performance } from "node:perf_hooks";
import type { EngineInput } from "../engine/index";
import { providerChoices } from "../record";
import type { Decoder } from "./decoder/index";
import { PresetOpenError } from "./decoder/index";
import { isServerFault, readableMessage, toRunError } from "./errors";
import type { EventHub } from "./events";
import { readRun } from "./read";
import type { BlobStore, RunStore } from "./storage";
import type { ProgressEventData, StoredInput, StoredRequest } from "./views";

/*
 * One run from queued to ended, the same in both deployments: the embedded web process runs it
 * (its decoder a worker thread), a distributed worker process runs it under the queue engine.
 * Each cell is stored and announced the moment the decoder hands it over; a run resumed after a
 * crash decodes only the cells without an image, to the same bytes.
 */

export const IDLE_CANCEL_REASON = "cancelled: nobody was watching the run";

/**
 * How often a web process renews the idle-cancel leases of the runs it has watchers for. A lease
 * counts as lapsed only when it is older than the idle time plus two renewal periods and a slack
 * for a busy event loop, so a watched run is never cancelled because one renewal ran late.
 */
const LEASE_SLACK_MS = 250;

export function leasePeriodMs(idleCancelMs: number): number {
  return Math.min(5000, Math.max(10, Math.floor(idleCancelMs / 3)));
}

/** The newest lease time at which an unwatched run is cancelled, at `now`. */
export function lapsedBefore(now: number, idleCancelMs: number): number {
  return now - idleCancelMs - 2 * leasePeriodMs(idleCancelMs) - LEASE_SLACK_MS;
}

export interface RunnerParts {
  readonly store: RunStore;
  readonly blobs: BlobStore;
  readonly events: EventHub;
  readonly decoder: Decoder;
  /** A run whose idle-cancel lease is older than this is cancelled. */
  readonly idleCancelMs: number;
  /** Milliseconds since the epoch, for the stored timestamps and leases. */
  readonly now: () => number;
}

/** How an execution ended: the run reached an end status, went back to the queue, or was not the runner's to take. */
export type Outcome = "ended" | "requeued" | "skipped";

/** Lets the host stop a run in progress; the run goes back to the queue with its finished cells. */
export class RunStop {
  private readonly controller = new AbortController();
  readonly signal = this.controller.signal;

  stop(): void {
    this.controller.abort();
  }
}

export class RunRunner {
  constructor(private readonly parts: RunnerParts) {}

  async execute(id: string, stop: RunStop = new RunStop()): Promise<Outcome> {
    const { store, events, decoder, now } = this.parts;
    const startedAt = now();
    if (!(await store.claim(id, startedAt))) return "skipped";
    await this.publishStatus(id);
    const started = performance.now();
    const abort = new AbortController();
    let idle = false;
    const onStop = () => abort.abort();
    stop.signal.addEventListener("abort", onStop, { once: true });
    try {
      const row = await store.getRun(id);
      if (!row) throw new Error(`run ${id} vanished from the store`);
      const request = JSON.parse(row.request) as StoredRequest;
      const planned = await decoder.plan({ jobId: id, presetName: row.presetName, presetDigest: row.presetDigest, request, input: await this.engineInput(request.input) });
      await store.saveDescription(id, planned.description, planned.cells);
      const snapshot = await readRun(store, id, null);
      if (snapshot) await events.publish(id, { type: "snapshot", data: snapshot });

      const cells = await store.getCells(id);
      const missing = cells.filter((cell) => cell.image === null).map((cell) => cell.index);
      let cellsDone = cells.length - missing.length;
      const cellsTotal = cells.length;
      const decodeStarted = performance.now();
      const leaseCheckMs = leasePeriodMs(this.parts.idleCancelMs);
      let leaseCheckedAt = performance.now();
      let storing = Promise.resolve();
      const outcome = await decoder
        .decode(id, missing, {
          signal: abort.signal,
          onProgress: (progress) => {
            const elapsedSeconds = (performance.now() - decodeStarted) / 1000;
            const etaSeconds = progress.evaluation > 0 ? (elapsedSeconds / progress.evaluation) * (progress.evaluations - progress.evaluation) : null;
            const data: ProgressEventData = { ...progress, activeCells: [...progress.activeCells], cellsDone, cellsTotal, etaSeconds };
            void events.publish(id, { type: "progress", data });
            if (performance.now() - leaseCheckedAt >= leaseCheckMs) {
              leaseCheckedAt = performance.now();
              void this.watchLapsed(id).then((lapsed) => {
                if (lapsed && !abort.signal.aborted) {
                  idle = true;
                  abort.abort();
                }
              });
            }
          },
          onCell: (index, png) => {
            storing = storing.then(async () => {
              const { sha256 } = await this.parts.blobs.put(png);
              await store.setCellImage(id, index, sha256);
              cellsDone += 1;
              await events.publish(id, { type: "cell", data: { index, image: sha256 } });
            });
          },
        })
        .finally(async () => {
          // Cells finished before a cancel or failure are kept.
          await storing;
          decoder.release(id);
        });
      const finished = performance.now();
      const timings = { describeMs: planned.describeMs, decodeMs: finished - decodeStarted, totalMs: finished - started };
      await store.markDone(id, now(), timings, providerChoices(outcome.providers));
      return "ended";
    } catch (error) {
      if (stop.signal.aborted) {
        await store.markQueued(id);
        return "requeued";
      }
      if (idle) await store.markEnded(id, "cancelled", IDLE_CANCEL_REASON, now());
      else await store.markEnded(id, "failed", await this.failureMessage(id, error), now());
      return "ended";
    } finally {
      stop.signal.removeEventListener("abort", onStop);
      await this.publishStatus(id);
    }
  }

  private async watchLapsed(id: string): Promise<boolean> {
    const watchedAt = await this.parts.store.watchedAt(id).catch(() => undefined);
    return watchedAt !== undefined && watchedAt < lapsedBefore(this.parts.now(), this.parts.idleCancelMs);
  }

  private async publishStatus(id: string): Promise<void> {
    const row = await this.parts.store.getRun(id);
    if (row) await this.parts.events.publish(id, { type: "status", data: { status: row.status, error: row.error } });
  }

  /** The engine's input: a caption as is, an upload as its stored bytes. */
  private async engineInput(input: StoredInput): Promise<EngineInput> {
    if (input.kind === "caption") return input;
    const bytes = await this.parts.blobs.read(input.upload).catch(() => {
      throw new Error(`the uploaded image ${input.upload} is missing from the blob store`);
    });
    return { kind: "image", bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
  }

  /**
   * A failed run's stored (and shown) error: the engine's message for what the request got wrong,
   * a safe message for the server's own faults (preset, model, configuration), whose details go
   * to the server log.
   */
  private async failureMessage(id: string, error: unknown): Promise<string> {
    const preset = (await this.parts.store.getRun(id))?.presetName;
    const failure = error instanceof PresetOpenError ? toRunError(error.cause, { preset, opening: true }) : toRunError(error, { preset });
    if (!isServerFault(failure) || failure.code === "internal") return readableMessage(error instanceof PresetOpenError ? error.cause : error);
    console.error(`penumbra: run ${id}: ${failure.message}:`, failure.cause ?? failure);
    return failure.message;
  }
}


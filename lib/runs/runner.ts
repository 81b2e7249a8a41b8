import { performance } from "node:perf_hooks";
import type { EngineInput } from "../engine/index";
import { providerChoices } from "../record";
import type { Decoder } from "./decoder/index";
import { PresetOpenError } from "./decoder/index";
import { isServerFault, readableMessage, toRunError, withoutServerPaths } from "./errors";
import type { EventHub } from "./events";
import type { PendingEnds } from "./pending-ends";
import { readRun } from "./read";
import type { BlobStore, RunRow, RunStore } from "./storage";
import type { ProgressEventData, RunEvent, StoredInput, StoredRequest } from "./views";

/*
 * One run from queued to ended, the same in both deployments: the embedded web process runs it
 * (its decoder a worker thread), a distributed worker process runs it under the queue engine.
 * Each cell is stored and announced the moment the decoder hands it over; a run resumed after a
 * crash decodes only the cells without an image, to the same bytes.
 *
 * Whatever fails, a run the runner claimed ends (done, failed, cancelled or back in the queue) and
 * execute() resolves: a store that refuses a cell stops the decode and fails the run, an end the
 * store refuses to record is held until it can be (pending-ends.ts), and an announcement that
 * cannot be sent is logged (watchers read the run again when they reconnect) without failing it.
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
  /** Ends the store refused to record, held until it takes them. */
  readonly ends: PendingEnds;
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
  /** Runs whose announcements failed during this execution: one log line each, not one per progress step. */
  private readonly unannounced = new Set<string>();

  constructor(private readonly parts: RunnerParts) {}

  /** Takes the run and decodes its missing cells; never rejects (see the top of this file). */
  async execute(id: string, stop: RunStop = new RunStop()): Promise<Outcome> {
    const { store, decoder, now } = this.parts;
    // A store that refused an earlier run's end would refuse this run's writes too; held ends go first.
    await this.parts.ends.record();
    let claimed: boolean;
    try {
      claimed = await store.claim(id, now());
    } catch (error) {
      // Left queued, the run would wait with nothing to take it (this queue already handed it over): it fails, and can be retried.
      await this.end(id, "failed", await this.failureMessage(id, error));
      await this.announceStatus(id);
      this.unannounced.delete(id);
      return "ended";
    }
    if (!claimed) return "skipped";
    await this.announceStatus(id);
    const started = performance.now();
    const abort = new AbortController();
    let idle = false;
    // The first store failure while storing cells: the decode stops, as no later cell could be stored either.
    let refusal = null as { readonly error: unknown } | null;
    const onStop = () => abort.abort();
    stop.signal.addEventListener("abort", onStop, { once: true });
    try {
      const row = await store.getRun(id);
      if (!row) throw new Error(`run ${id} vanished from the store`);
      const request = JSON.parse(row.request) as StoredRequest;
      const planned = await decoder.plan({ jobId: id, presetName: row.presetName, presetDigest: row.presetDigest, request, input: await this.engineInput(request.input) });
      await store.saveDescription(id, planned.description, planned.cells);
      // Watchers see the snapshot through their own links: RunService.subscribe replaces its id and publishedAt.
      const snapshot = await readRun(store, { id, runId: id, publishedAt: null }, null);
      if (snapshot) await this.announce(id, { type: "snapshot", data: snapshot });

      const cells = await store.getCells(id);
      const missing = cells.filter((cell) => cell.image === null).map((cell) => cell.index);
      let cellsDone = cells.length - missing.length;
      const cellsTotal = cells.length;
      const decodeStarted = performance.now();
      const leaseCheckMs = leasePeriodMs(this.parts.idleCancelMs);
      let leaseCheckedAt = performance.now();
      // Cells are stored one after another; this chain never rejects (a failure is kept in `refusal`).
      let storing = Promise.resolve();
      const outcome = await decoder
        .decode(id, missing, {
          signal: abort.signal,
          onProgress: (progress) => {
            const elapsedSeconds = (performance.now() - decodeStarted) / 1000;
            const etaSeconds = progress.evaluation > 0 ? (elapsedSeconds / progress.evaluation) * (progress.evaluations - progress.evaluation) : null;
            const data: ProgressEventData = { ...progress, activeCells: [...progress.activeCells], cellsDone, cellsTotal, etaSeconds };
            // Neither promise rejects: announce() logs a failed send, watchLapsed() reads a failed lookup as not lapsed.
            void this.announce(id, { type: "progress", data });
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
              if (refusal) return;
              let sha256: string;
              try {
                ({ sha256 } = await this.parts.blobs.put(png));
                await store.setCellImage(id, index, sha256);
              } catch (error) {
                refusal = { error };
                abort.abort();
                return;
              }
              cellsDone += 1;
              await this.announce(id, { type: "cell", data: { index, image: sha256 } });
            });
          },
        })
        .finally(async () => {
          // Cells finished before a cancel or failure are kept.
          await storing;
          decoder.release(id);
        });
      // The last cell's store can fail after the decode itself finished.
      if (refusal) throw refusal.error;
      const finished = performance.now();
      const timings = { describeMs: planned.describeMs, decodeMs: finished - decodeStarted, totalMs: finished - started };
      await store.markDone(id, now(), timings, providerChoices(outcome.providers));
      return "ended";
    } catch (error) {
      if (stop.signal.aborted) {
        await this.requeue(id);
        return "requeued";
      }
      if (idle) await this.end(id, "cancelled", IDLE_CANCEL_REASON);
      // A refused cell aborted the decode: the refusal, not the abort, is why the run failed.
      else await this.end(id, "failed", await this.failureMessage(id, refusal?.error ?? error));
      return "ended";
    } finally {
      stop.signal.removeEventListener("abort", onStop);
      await this.announceStatus(id);
      this.unannounced.delete(id);
    }
  }

  private async watchLapsed(id: string): Promise<boolean> {
    const watchedAt = await this.parts.store.watchedAt(id).catch(() => undefined);
    return watchedAt !== undefined && watchedAt < lapsedBefore(this.parts.now(), this.parts.idleCancelMs);
  }

  /** Records how the run ended, its reason without server paths; an end the store refuses is held (pending-ends.ts). */
  private async end(id: string, status: "failed" | "cancelled", reason: string): Promise<void> {
    const error = withoutServerPaths(reason);
    const at = this.parts.now();
    try {
      await this.parts.store.markEnded(id, status, error, at);
    } catch (refused) {
      this.parts.ends.hold(id, { status, error, at }, refused);
    }
  }

  /** Puts an interrupted run back in the queue. A store that refuses leaves it running there, which start-up recovery (or, distributed, the next worker's claim) takes again. */
  private async requeue(id: string): Promise<void> {
    try {
      await this.parts.store.markQueued(id);
    } catch (error) {
      console.error(`penumbra: run ${id} was interrupted, but the store refused to queue it again (${readableMessage(error)}); it is taken again at the next start-up`);
    }
  }

  /** Sends an event to the run's watchers; a failed send is logged (once per run and execution), never thrown. */
  private async announce(id: string, event: RunEvent): Promise<void> {
    try {
      await this.parts.events.publish(id, event);
    } catch (error) {
      if (this.unannounced.has(id)) return;
      this.unannounced.add(id);
      console.error(`penumbra: announcing run ${id}'s ${event.type} failed; its watchers see the run as stored when they reconnect`, error);
    }
  }

  /** Announces the run's status: a held end if there is one, else the stored status. */
  private async announceStatus(id: string): Promise<void> {
    let current: Pick<RunRow, "status" | "error"> | undefined;
    try {
      current = this.parts.ends.get(id) ?? (await this.parts.store.getRun(id));
    } catch (error) {
      console.error(`penumbra: reading run ${id}'s status to announce it failed`, error);
      return;
    }
    if (current) await this.announce(id, { type: "status", data: { status: current.status, error: current.error } });
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
   * a safe message for the server's own faults (preset, model, configuration, storage), whose
   * details go to the server log; an internal fault keeps its own words, which end() strips of
   * server paths, and is logged whole.
   */
  private async failureMessage(id: string, error: unknown): Promise<string> {
    const opening = error instanceof PresetOpenError;
    const cause = opening ? error.cause : error;
    const preset = await this.parts.store.getRun(id).then(
      (row) => row?.presetName,
      () => undefined,
    );
    const failure = toRunError(cause, { preset, opening });
    if (!isServerFault(failure)) return readableMessage(cause);
    console.error(`penumbra: run ${id}: ${failure.message}:`, failure.cause ?? failure);
    return failure.code === "internal" ? readableMessage(cause) : failure.message;
  }
}

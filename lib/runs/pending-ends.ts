import { readableMessage } from "./errors";
import type { EventHub } from "./events";
import type { RunStore } from "./storage";

/*
 * A run that fails while its storage refuses writes (a full disk) cannot be marked failed either:
 * left as it is, the store says `running` with nothing decoding it, its stream sends keep-alives
 * forever and retry answers 409. So the runner keeps the end it could not record here, in memory:
 * the process that holds it shows the run ended (getRun, the stream's snapshot), and writes the end
 * as soon as the store takes writes again: every few seconds, before the runner takes its next run,
 * and when someone retries or resubmits the run. If the process stops first, the store still says
 * `running`, and the next start-up's recovery queues the run again (service.ts), as for a crash.
 */

export interface RunEnd {
  readonly status: "failed" | "cancelled";
  /** The stored (and shown) reason, already safe to show. */
  readonly error: string;
  readonly at: number;
}

/** How often held ends are written again while the store refuses them. */
const RETRY_MS = 2000;

export class PendingEnds {
  /** Each held end with the latest refusal to record it. */
  private readonly ends = new Map<string, { readonly end: RunEnd; refusal: unknown }>();
  private timer: NodeJS.Timeout | null = null;
  private recording: Promise<void> | null = null;

  constructor(
    private readonly store: RunStore,
    /** Where an end is announced again once it is written, for watchers who came while it was held. */
    private readonly events: EventHub,
  ) {}

  /** Keeps an end the store refused (logging why) until a later write of it succeeds. */
  hold(id: string, end: RunEnd, refusal: unknown): void {
    this.ends.set(id, { end, refusal });
    console.error(`penumbra: run ${id} ended ${end.status}, but the store refused to record it (${readableMessage(refusal)}); it is shown ${end.status} and written once the store takes writes again`);
    if (this.timer) return;
    this.timer = setInterval(() => void this.record(), RETRY_MS);
    // Retrying must not keep a finished process alive; the next start-up recovers the run instead.
    this.timer.unref();
  }

  /** The end held for this run, if its write is still pending. */
  get(id: string): RunEnd | undefined {
    return this.ends.get(id)?.end;
  }

  /** Why the store last refused this run's held end (a SQLITE_FULL, say); undefined when none is held. */
  refusalOf(id: string): unknown {
    return this.ends.get(id)?.refusal;
  }

  /** Writes every held end the store now takes; those it still refuses stay held. Never rejects. */
  record(): Promise<void> {
    // One pass at a time: the timer, the runner and a retry may all ask at once.
    this.recording ??= this.recordHeld().finally(() => (this.recording = null));
    return this.recording;
  }

  /** Stops retrying; held ends are left to the next start-up's recovery. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async recordHeld(): Promise<void> {
    for (const [id, held] of [...this.ends]) {
      const { end } = held;
      let open: boolean;
      try {
        const row = await this.store.getRun(id);
        // Only an end nobody has written since: another worker may have taken the run and finished it.
        open = row?.status === "queued" || row?.status === "running";
        if (open) await this.store.markEnded(id, end.status, end.error, end.at);
      } catch (refusal) {
        // Still refused (logged when first held); the next pass tries again.
        held.refusal = refusal;
        continue;
      }
      this.ends.delete(id);
      if (!open) continue;
      console.log(`penumbra: run ${id}'s end (${end.status}) is recorded now`);
      await this.events
        .publish(id, { type: "status", data: { status: end.status, error: end.error } })
        .catch((error: unknown) => console.error(`penumbra: announcing run ${id}'s recorded end failed`, error));
    }
    if (this.ends.size === 0) this.close();
  }
}

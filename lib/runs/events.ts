import type { ProgressEventData, RunEvent } from "./views";

/*
 * Run events between whoever decodes a run and whoever watches it. The embedded deployment has
 * both in one process (LocalEventHub); the distributed one carries them between processes
 * (redis-events.ts), so a watcher on any web process sees every event of a run any worker decodes.
 */

export type RunListener = (event: RunEvent) => void;

export interface EventHub {
  /** Sends the event to every watcher of the run, in every process sharing the hub. */
  publish(runId: string, event: RunEvent): Promise<void>;
  /** Calls `listener` with this run's events from now on, until the returned function is called. */
  subscribe(runId: string, listener: RunListener): Promise<() => void>;
  /** Runs this process has watchers for (their idle-cancel leases are renewed). */
  watched(): string[];
  /** The run's latest progress this process has seen while it runs; null otherwise. */
  progress(runId: string): ProgressEventData | null;
  close(): Promise<void>;
}

/**
 * Delivery to this process's listeners, shared by both hubs: a broken listener is logged and
 * skipped, and each run's latest progress is kept until its status leaves running.
 */
export class LocalListeners {
  private readonly listeners = new Map<string, Set<RunListener>>();
  private readonly latest = new Map<string, ProgressEventData>();

  deliver(runId: string, event: RunEvent): void {
    if (event.type === "progress") this.latest.set(runId, event.data);
    else if (event.type === "status" && event.data.status !== "running") this.latest.delete(runId);
    for (const listener of this.listeners.get(runId) ?? []) {
      try {
        listener(event);
      } catch (error) {
        // A broken stream must not fail the run or starve the other watchers.
        console.error(`penumbra: a listener of run ${runId} threw`, error);
      }
    }
  }

  /** Adds the listener; `first` is true when it is the run's only one. */
  add(runId: string, listener: RunListener): { first: boolean } {
    let set = this.listeners.get(runId);
    const first = !set;
    if (!set) this.listeners.set(runId, (set = new Set()));
    set.add(listener);
    return { first };
  }

  /** Removes the listener; `last` is true when the run has none left. */
  remove(runId: string, listener: RunListener): { last: boolean } {
    const set = this.listeners.get(runId);
    if (!set?.delete(listener) || set.size > 0) return { last: false };
    this.listeners.delete(runId);
    return { last: true };
  }

  watched(): string[] {
    return [...this.listeners.keys()];
  }

  progress(runId: string): ProgressEventData | null {
    return this.latest.get(runId) ?? null;
  }

  clear(): void {
    this.listeners.clear();
    this.latest.clear();
  }
}

export class LocalEventHub implements EventHub {
  private readonly local = new LocalListeners();

  async publish(runId: string, event: RunEvent): Promise<void> {
    this.local.deliver(runId, event);
  }

  async subscribe(runId: string, listener: RunListener): Promise<() => void> {
    this.local.add(runId, listener);
    return () => void this.local.remove(runId, listener);
  }

  watched(): string[] {
    return this.local.watched();
  }

  progress(runId: string): ProgressEventData | null {
    return this.local.progress(runId);
  }

  async close(): Promise<void> {
    this.local.clear();
  }
}

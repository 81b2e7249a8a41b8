import { type RunRunner, RunStop } from "./runner";

/*
 * Where admitted runs wait for a worker. The store decides what is admitted (its queue limit holds
 * across processes); a queue only hands run ids to whoever decodes them. The embedded deployment
 * decodes in this process, one run at a time (LocalRunQueue); the distributed one hands runs to
 * worker processes through BullMQ (bull-queue.ts).
 */
export interface RunQueue {
  /** Hands runs to the workers; a run already waiting is not added twice. */
  add(ids: readonly string[]): Promise<void>;
  /** Stops taking runs; a run being decoded goes back to the queue with its finished cells. */
  close(): Promise<void>;
}

export class LocalRunQueue implements RunQueue {
  private readonly waiting = new Set<string>();
  private current: { readonly id: string; readonly stop: RunStop } | null = null;
  private working: Promise<void> | null = null;
  private closed = false;

  constructor(private readonly runner: RunRunner) {}

  async add(ids: readonly string[]): Promise<void> {
    for (const id of ids) this.waiting.add(id);
    // On the next turn, so the caller's answer still shows the run as queued.
    setImmediate(() => this.pump());
  }

  async close(): Promise<void> {
    this.closed = true;
    this.current?.stop.stop();
    await this.working;
  }

  private pump(): void {
    if (this.closed || this.working) return;
    const [id] = this.waiting;
    if (id === undefined) return;
    this.waiting.delete(id);
    const stop = new RunStop();
    this.current = { id, stop };
    this.working = this.runner
      .execute(id, stop)
      .then(
        () => {},
        (error: unknown) => console.error(`penumbra: run ${id} could not be executed`, error),
      )
      .finally(() => {
        this.current = null;
        this.working = null;
        this.pump();
      });
  }
}

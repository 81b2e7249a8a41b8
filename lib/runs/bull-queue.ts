import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import type { RunQueue } from "./queue";
import { type RunRunner, RunStop } from "./runner";

/*
 * The distributed deployment's queue: BullMQ on Redis. Web processes add one job per run, named
 * by the run's id, so adding a run the queue still holds does nothing. Worker processes take one
 * job at a time and hold a lock on it that BullMQ renews while the run decodes (the decode itself
 * runs in a worker thread, so the renewal timer keeps firing); a worker killed mid-run stops
 * renewing, and once the lock lapses another worker's stalled-job check moves the job back to
 * the queue, where the next worker resumes the run from its missing cells.
 */

export const QUEUE_NAME = "penumbra-runs";
const JOB_NAME = "run";

interface RunJob {
  readonly runId: string;
}

/** A run interrupted by its worker's shutdown: thrown so BullMQ queues the job again. */
class Interrupted extends Error {
  override readonly name = "Interrupted";
}

const jobOptions = {
  // Failures are the run's, recorded in its row; only interruptions (shutdowns) make a job fail, and each is retried.
  attempts: Number.MAX_SAFE_INTEGER,
  removeOnComplete: true,
  removeOnFail: true,
} as const;

/** BullMQ's connections must retry commands forever: a worker waits on Redis rather than failing a run. */
function connection(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null });
}

export class BullRunQueue implements RunQueue {
  private readonly redis: Redis;
  private readonly queue: Queue<RunJob>;

  constructor(url: string) {
    this.redis = connection(url);
    this.queue = new Queue<RunJob>(QUEUE_NAME, { connection: this.redis });
  }

  async add(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.queue.addBulk(ids.map((runId) => ({ name: JOB_NAME, data: { runId }, opts: { ...jobOptions, jobId: runId } })));
  }

  async close(): Promise<void> {
    await this.queue.close();
    await this.redis.quit().catch(() => {});
  }
}

export interface BullWorkerOptions {
  readonly url: string;
  /** How long a claim lasts without renewal; a killed worker's run is taken over after about this long. */
  readonly lockMs: number;
  /** Told each run this worker takes, before it decodes. */
  readonly onRun?: (runId: string) => void;
}

/** One worker process's consumer: concurrency 1 (one device), each job one run through the runner. */
export class BullRunWorker {
  private readonly redis: Redis;
  private readonly worker: Worker<RunJob>;
  private current: RunStop | null = null;

  constructor(runner: RunRunner, options: BullWorkerOptions) {
    this.redis = connection(options.url);
    this.worker = new Worker<RunJob>(
      QUEUE_NAME,
      async (job) => {
        const stop = new RunStop();
        this.current = stop;
        options.onRun?.(job.data.runId);
        try {
          if ((await runner.execute(job.data.runId, stop)) === "requeued") throw new Interrupted(`run ${job.data.runId} was interrupted; it goes back to the queue`);
        } finally {
          this.current = null;
        }
      },
      {
        connection: this.redis,
        concurrency: 1,
        lockDuration: options.lockMs,
        // Checked twice per lock period, so a lapsed lock is noticed within half a period.
        stalledInterval: Math.max(500, Math.floor(options.lockMs / 2)),
        // A run that kills its worker again and again stops being retried after this many takeovers.
        maxStalledCount: 5,
      },
    );
    this.worker.on("error", (error) => console.error("penumbra: queue worker error", error));
  }

  /** Resolves once the worker is connected and taking jobs. */
  ready(): Promise<void> {
    return this.worker.waitUntilReady().then(() => {});
  }

  /** Stops taking jobs; a run in progress goes back to the queue with its finished cells. */
  async close(): Promise<void> {
    this.current?.stop();
    await this.worker.close();
    await this.redis.quit().catch(() => {});
  }
}

import type { ServerConfig } from "../config";
import { BullRunWorker } from "./bull-queue";
import { ThreadDecoder, type ThreadOpenOptions } from "./decoder/index";
import { PendingEnds } from "./pending-ends";
import { PostgresBlobStore } from "./postgres-blobs";
import { PostgresRunStore } from "./postgres-store";
import { RedisEventHub } from "./redis-events";
import { RunRunner } from "./runner";

/** A distributed worker: the same runner as the embedded deployment's, fed by BullMQ instead of an in-process queue. */
export interface RunningWorker {
  close(): Promise<void>;
}

export async function startWorker(
  urls: NonNullable<ServerConfig["distributed"]>,
  options: { readonly idleCancelMs: number; readonly lockMs: number; readonly open?: ThreadOpenOptions; readonly onRun?: (runId: string) => void },
): Promise<RunningWorker> {
  const store = await PostgresRunStore.connect(urls.databaseUrl);
  const blobs = await PostgresBlobStore.connect(urls.databaseUrl);
  const events = new RedisEventHub(urls.queueUrl);
  const decoder = new ThreadDecoder(options.open);
  // Ends PostgreSQL refused (a full disk) are retried by this worker alone; web processes show such a run running until then.
  const ends = new PendingEnds(store, events);
  const runner = new RunRunner({ store, blobs, events, decoder, ends, idleCancelMs: options.idleCancelMs, now: Date.now });
  const consumer = new BullRunWorker(runner, { url: urls.queueUrl, lockMs: options.lockMs, onRun: options.onRun });
  await consumer.ready();
  return {
    async close() {
      await consumer.close();
      ends.close();
      await decoder.close();
      await events.close();
      await Promise.all([store.close(), blobs.close()]);
    },
  };
}

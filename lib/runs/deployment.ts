import path from "node:path";
import { performance } from "node:perf_hooks";
import type { Engine } from "../engine/index";
import { type ServerConfig, serverConfig } from "../config";
import { BullRunQueue } from "./bull-queue";
import { type Decoder, InProcessDecoder, ThreadDecoder, type ThreadOpenOptions } from "./decoder/index";
import { readableMessage } from "./errors";
import { LocalEventHub } from "./events";
import { FileStore } from "./files";
import { PendingEnds } from "./pending-ends";
import { PostgresBlobStore } from "./postgres-blobs";
import { PostgresRunStore } from "./postgres-store";
import { LocalRunQueue } from "./queue";
import { RedisEventHub } from "./redis-events";
import { RunRunner } from "./runner";
import { RunService } from "./service";
import { SqliteRunStore } from "./sqlite-store";
import type { BlobStore, RunStore } from "./storage";

/*
 * The two deployments, assembled from the same parts:
 * - embedded (the default): SQLite and files under the data folder, events within the process,
 *   and a decode thread fed by an in-process queue;
 * - distributed (PENUMBRA_DATABASE_URL and PENUMBRA_QUEUE_URL): runs, cells and uploads in
 *   PostgreSQL, events through Redis, and a BullMQ queue that worker processes (bin/worker.ts)
 *   take runs from. A web process of this deployment never decodes.
 */

export interface RunServiceOptions extends Partial<Omit<ServerConfig, "distributed">> {
  readonly distributed?: ServerConfig["distributed"];
  /** Decode in this thread with this engine (tests inject failing engines); default: a decode thread. */
  readonly openEngine?: (presetName: string) => Promise<Engine>;
  /** How the decode thread opens sessions. */
  readonly open?: ThreadOpenOptions;
  /** Wraps the embedded deployment's stores (tests inject a full or read-only disk); default: as opened. */
  readonly storage?: (opened: { store: RunStore; blobs: BlobStore }) => { store: RunStore; blobs: BlobStore };
  readonly now?: () => number;
}

export async function openRunService(options: RunServiceOptions = {}): Promise<RunService> {
  const defaults = serverConfig({});
  const settings = {
    queueLimit: options.queueLimit ?? defaults.queueLimit,
    queueCostLimit: options.queueCostLimit ?? defaults.queueCostLimit,
    clientShare: options.clientShare ?? defaults.clientShare,
    idleCancelMs: options.idleCancelMs ?? defaults.idleCancelMs,
    maxUploadBytes: options.maxUploadBytes ?? defaults.maxUploadBytes,
    uploadQuotaBytes: options.uploadQuotaBytes ?? defaults.uploadQuotaBytes,
    uploadRetentionMs: options.uploadRetentionMs ?? defaults.uploadRetentionMs,
    defaultPreset: options.defaultPreset ?? defaults.defaultPreset,
    now: options.now,
  };
  const now = options.now ?? Date.now;
  if (options.distributed) {
    const { databaseUrl, queueUrl } = options.distributed;
    const store = await PostgresRunStore.connect(databaseUrl);
    const blobs = await PostgresBlobStore.connect(databaseUrl);
    const service = new RunService({ dataDir: null, store, blobs, events: new RedisEventHub(queueUrl), queue: new BullRunQueue(queueUrl), providers: null }, settings);
    await service.reconcile();
    await atStartUp("removing old uploads", () => service.sweepUploads());
    return service;
  }
  // The data folder is the operator's, not part of the app: the bundler must not trace it.
  const dataDir = path.resolve(/*turbopackIgnore: true*/ options.dataDir ?? defaults.dataDir);
  const files = new FileStore(path.join(dataDir, "files"));
  await atStartUp("removing the temporary files of unfinished writes", async () => {
    // Only files from before this process started: none of its own writes has begun yet, but a writer sharing the folder may be mid-write.
    const removed = await files.removeAbandonedTemporaries(performance.timeOrigin);
    if (removed > 0) console.log(`penumbra: removed ${removed} temporary file${removed === 1 ? "" : "s"} left by writes that never finished`);
  });
  const opened = { store: SqliteRunStore.open(dataDir), blobs: files };
  const { store, blobs } = options.storage?.(opened) ?? opened;
  const events = new LocalEventHub();
  const decoder: Decoder = options.openEngine ? new InProcessDecoder(options.openEngine) : new ThreadDecoder(options.open);
  const ends = new PendingEnds(store, events);
  const runner = new RunRunner({ store, blobs, events, decoder, ends, idleCancelMs: settings.idleCancelMs, now });
  const service = new RunService(
    { dataDir, store, blobs, events, queue: new LocalRunQueue(runner), ends, providers: (name) => decoder.providers(name), closeExtra: () => decoder.close() },
    settings,
  );
  await atStartUp("recovering the runs a stopped process left unfinished", () => service.recover());
  await atStartUp("removing old uploads", () => service.sweepUploads());
  return service;
}

/**
 * Start-up upkeep: a store that refuses writes (a read-only or full data folder) must not turn into
 * a server that answers nothing, since it still serves what it holds; a failing step is logged and
 * tried again at the next start-up.
 */
async function atStartUp(what: string, step: () => Promise<unknown>): Promise<void> {
  try {
    await step();
  } catch (error) {
    console.error(`penumbra: ${what} failed at start-up (${readableMessage(error)}); the next start-up tries again`, error);
  }
}

const SERVICE_KEY = Symbol.for("penumbra.runService");
type Holder = typeof globalThis & { [SERVICE_KEY]?: Promise<RunService> };

/**
 * The process-wide service, kept on globalThis because Next's dev server reloads modules; built
 * from the environment (lib/config.ts) on first use, when it also recovers what a stopped process
 * left behind. A failed start is forgotten, so the next request tries again.
 */
export function getRunService(): Promise<RunService> {
  const holder = globalThis as Holder;
  let pending = holder[SERVICE_KEY];
  if (!pending) {
    pending = Promise.resolve().then(() => openRunService(serverConfig()));
    holder[SERVICE_KEY] = pending;
    pending.catch(() => {
      if (holder[SERVICE_KEY] === pending) delete holder[SERVICE_KEY];
    });
  }
  return pending;
}

/** Closes the process-wide service, as a stopping server would; the next getRunService() starts (and recovers) anew. */
export async function closeRunService(): Promise<void> {
  const holder = globalThis as Holder;
  const pending = holder[SERVICE_KEY];
  delete holder[SERVICE_KEY];
  const service = await pending?.catch(() => undefined);
  await service?.close();
}

/*
 * npm run worker — one decode worker of the distributed deployment (docs/deployment.md): takes
 * runs from the queue one at a time (one per device), decodes them in a worker thread with the
 * execution provider PENUMBRA_PROVIDERS names, and stores each cell the moment it is ready.
 * SIGTERM or Ctrl-C puts the run in progress back in the queue, its finished cells kept.
 */
import { serverConfig } from "../lib/config";
import { startWorker } from "../lib/runs/worker";

async function main(): Promise<void> {
  const config = serverConfig();
  if (!config.distributed) {
    throw new Error("npm run worker serves the distributed deployment: set PENUMBRA_DATABASE_URL (postgres://…) and PENUMBRA_QUEUE_URL (redis://…); the embedded deployment (npm start) decodes in its own process");
  }
  const worker = await startWorker(config.distributed, {
    idleCancelMs: config.idleCancelMs,
    lockMs: config.workerLockMs,
    onRun: (runId) => console.log(`penumbra worker ${process.pid}: decoding run ${runId}`),
  });
  console.log(`penumbra worker ${process.pid}: taking runs from the queue`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`penumbra worker ${process.pid}: ${signal}, putting the current run back in the queue`);
    worker.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main().catch((error: unknown) => {
  // Configuration faults carry the detail in their cause; a worker's operator needs both.
  const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : "";
  console.error(`error: ${error instanceof Error ? error.message : String(error)}${cause}`);
  process.exit(1);
});

import type { RunStore } from "./storage";
import { type ProgressEventData, type Run, runJson, type StoredRequest } from "./views";

/** A run's JSON from its stored rows, with the live progress of a decode in flight; undefined for an unknown id. */
export async function readRun(store: RunStore, id: string, live: ProgressEventData | null): Promise<Run | undefined> {
  const row = await store.getRun(id);
  if (!row) return undefined;
  const request = JSON.parse(row.request) as StoredRequest;
  const [cells, upload] = await Promise.all([store.getCells(id), request.input.kind === "image" ? store.getUpload(request.input.upload) : undefined]);
  return runJson(row, cells, upload, row.status === "running" ? live : null);
}

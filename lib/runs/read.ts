import type { RunEnd } from "./pending-ends";
import type { RunStore } from "./storage";
import { type LinkView, type ProgressEventData, type Run, runJson, type StoredRequest } from "./views";

/**
 * A run's JSON, seen through `link`, from its stored rows, with the live progress of a decode in
 * flight, or with the end the store has not recorded yet (pending-ends.ts) in place of its stored
 * status; undefined for an unknown id.
 */
export async function readRun(store: RunStore, link: LinkView & { readonly runId: string }, live: ProgressEventData | null, held?: RunEnd): Promise<Run | undefined> {
  const id = link.runId;
  const stored = await store.getRun(id);
  if (!stored) return undefined;
  const row = held ? { ...stored, status: held.status, error: held.error, finishedAt: held.at } : stored;
  const request = JSON.parse(row.request) as StoredRequest;
  const [cells, upload] = await Promise.all([store.getCells(id), request.input.kind === "image" ? store.getUpload(request.input.upload) : undefined]);
  return runJson(link, row, cells, upload, row.status === "running" ? live : null);
}

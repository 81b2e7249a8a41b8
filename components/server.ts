import "server-only";
import { notFound } from "next/navigation";
import { cache } from "react";
import { getRunService } from "@/lib/runs";
import type { Comparison, GalleryPage, PresetInfo, Run } from "./api";

/*
 * Server-side loads for the pages, straight from lib/runs so permalinks render with their content.
 * lib/runs answers the same JSON the API sends (its types are the read-only twins of ./api's).
 * A missing record becomes the segment's not-found page; other errors reach the error boundary.
 */

const isNotFound = (error: unknown) => (error as { code?: unknown } | null)?.code === "not_found";

function orNotFound<T>(load: () => T): T {
  try {
    return load();
  } catch (error) {
    if (isNotFound(error)) notFound();
    throw error;
  }
}

// cache(): generateMetadata and the page share one read per request.
export const loadRun = cache((id: string): Run => orNotFound(() => getRunService().getRun(id) as Run));

export const loadComparison = cache((id: string): Comparison => orNotFound(() => getRunService().getComparison(id) as Comparison));

export const loadGallery = (q: string, page: number): GalleryPage => getRunService().gallery({ q, page }) as GalleryPage;

export const loadPresets = async (): Promise<PresetInfo[]> => (await getRunService().presets()) as PresetInfo[];

/** The run a compose form starts from (`/?from=id`), or null when it no longer exists. */
export function loadRunOrNull(id: string): Run | null {
  try {
    return getRunService().getRun(id) as Run;
  } catch (error) {
    if (isNotFound(error)) return null;
    throw error;
  }
}

import "server-only";
import { notFound } from "next/navigation";
import { cache } from "react";
import { getRunService } from "@/lib/runs";
import type { Comparison, GalleryPage, PresetInfo, Run } from "./api";

/*
 * Server-side loads for the pages, straight from lib/runs so permalinks render with their content.
 * lib/runs answers the same JSON the API sends, and ./api's types are lib/runs' own, so no conversion.
 * A missing record becomes the segment's not-found page; other errors reach the error boundary.
 */

const isNotFound = (error: unknown) => typeof error === "object" && error !== null && "code" in error && error.code === "not_found";

function orNotFound<T>(load: () => T): T {
  try {
    return load();
  } catch (error) {
    if (isNotFound(error)) notFound();
    throw error;
  }
}

// cache(): generateMetadata and the page share one read per request.
export const loadRun = cache((id: string): Run => orNotFound(() => getRunService().getRun(id)));

export const loadComparison = cache((id: string): Comparison => orNotFound(() => getRunService().getComparison(id)));

export const loadGallery = (q: string, page: number): GalleryPage => getRunService().gallery({ q, page });

export const loadPresets = async (): Promise<PresetInfo[]> => getRunService().presets();

/** The run a compose form starts from (`/?from=id`), or null when it no longer exists. */
export function loadRunOrNull(id: string): Run | null {
  try {
    return getRunService().getRun(id);
  } catch (error) {
    if (isNotFound(error)) return null;
    throw error;
  }
}

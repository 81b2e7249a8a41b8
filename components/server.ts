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

async function orNotFound<T>(load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if (isNotFound(error)) notFound();
    throw error;
  }
}

// cache(): generateMetadata and the page share one read per request.
export const loadRun = cache((id: string): Promise<Run> => orNotFound(async () => (await getRunService()).getRun(id)));

export const loadComparison = cache((id: string): Promise<Comparison> => orNotFound(async () => (await getRunService()).getComparison(id)));

export const loadGallery = async (q: string, page: number): Promise<GalleryPage> => (await getRunService()).gallery({ q, page });

export const loadPresets = async (): Promise<PresetInfo[]> => (await getRunService()).presets();

/** The run a compose form starts from (`/?from=id`), or null when it no longer exists. */
export async function loadRunOrNull(id: string): Promise<Run | null> {
  try {
    return await (await getRunService()).getRun(id);
  } catch (error) {
    if (isNotFound(error)) return null;
    throw error;
  }
}

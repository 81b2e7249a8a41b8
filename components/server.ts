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

const hasCode = (error: unknown, code: string) => typeof error === "object" && error !== null && "code" in error && error.code === code;
const isNotFound = (error: unknown) => hasCode(error, "not_found");
const isInvalidInput = (error: unknown) => hasCode(error, "invalid_input");

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

/**
 * A gallery page, or the gallery's not-found page for a page it does not have: one past the end (an
 * old link after unpublishing, a typed URL) or a `page` the API refuses with 400 ("1e20", "0"), since
 * a page can answer 404 but not 400.
 */
export async function loadGallery(q: string, page: string): Promise<GalleryPage> {
  const service = await getRunService();
  let gallery: GalleryPage;
  try {
    gallery = await service.gallery({ q, page });
  } catch (error) {
    if (isInvalidInput(error)) notFound();
    throw error;
  }
  if (gallery.page > gallery.pages) notFound();
  return gallery;
}

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

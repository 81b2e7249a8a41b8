import { useSyncExternalStore } from "react";

/*
 * The keys this browser was given when it published runs (POST /api/runs/:id/publish answers one
 * on the first publish), kept in localStorage: holding a run's key is what makes one its owner.
 */

const storageKey = (runId: string) => `penumbra-unpublish:${runId}`;
const listeners = new Set<() => void>();
/** Where keys live when storage is refused (private modes): then only until the tab closes. */
const unstored = new Map<string, string>();

function read(runId: string): string | null {
  try {
    return localStorage.getItem(storageKey(runId)) ?? unstored.get(runId) ?? null;
  } catch {
    return unstored.get(runId) ?? null;
  }
}

function write(runId: string, key: string | null) {
  unstored.delete(runId);
  try {
    if (key === null) localStorage.removeItem(storageKey(runId));
    else localStorage.setItem(storageKey(runId), key);
  } catch {
    if (key !== null) unstored.set(runId, key);
  }
  for (const listener of listeners) listener();
}

export const rememberUnpublishKey = (runId: string, key: string) => write(runId, key);
export const forgetUnpublishKey = (runId: string) => write(runId, null);

/** This browser's unpublish key for the run, or null (always null on the server). */
export function useUnpublishKey(runId: string): string | null {
  return useSyncExternalStore(
    (onChange) => {
      listeners.add(onChange);
      window.addEventListener("storage", onChange);
      return () => {
        listeners.delete(onChange);
        window.removeEventListener("storage", onChange);
      };
    },
    () => read(runId),
    () => null,
  );
}

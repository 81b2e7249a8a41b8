import { useSyncExternalStore } from "react";

/*
 * The creator keys this browser was given for the runs it asked for (POST /api/runs and POST
 * /api/compare answer one with each new link), kept in localStorage by link id: holding a link's
 * key is what makes one its creator, who alone may publish it to the gallery and take it out.
 */

const storageKey = (linkId: string) => `penumbra-creator:${linkId}`;
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

/** Keeps the key for each of the links it was answered with. */
export function rememberCreatorKey(linkIds: readonly string[], key: string): void {
  for (const linkId of linkIds) write(linkId, key);
}

/** This browser's creator key for the link, or null (always null on the server). */
export function useCreatorKey(runId: string): string | null {
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

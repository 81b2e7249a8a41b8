import { createHash } from "node:crypto";

/** Content hashes and the short ids derived from them. */

const SHA256_HEX = /^[0-9a-f]{64}$/;
const SHORT_ID = /^[0-9a-f]{12}$/;

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

export function isSha256(value: unknown): value is string {
  return typeof value === "string" && SHA256_HEX.test(value);
}

/** Run and comparison ids: 12 lowercase hex digits. */
export function isShortId(value: unknown): value is string {
  return typeof value === "string" && SHORT_ID.test(value);
}

/** JSON with every object's keys sorted, so equal values always give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    item !== null && typeof item === "object" && !Array.isArray(item)
      ? Object.fromEntries(Object.entries(item as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : item,
  );
}

/** A run's id: the same preset and normalized request always give the same id. */
export function runId(presetDigest: string, request: unknown): string {
  return sha256Hex(canonicalJson({ presetDigest, request })).slice(0, 12);
}

/** A comparison's id: its run ids in order. */
export function comparisonId(runIds: readonly string[]): string {
  return sha256Hex(runIds.join(",")).slice(0, 12);
}

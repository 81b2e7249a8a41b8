import { createHash, randomBytes } from "node:crypto";

/** Content hashes, the run ids derived from requests, and the random ids clients see. */

const SHA256_HEX = /^[0-9a-f]{64}$/;
/** 24 hex digits; 12 for links migrated from runs made before links existed (their ids were the runs'). */
const PUBLIC_ID = /^[0-9a-f]{12}(?:[0-9a-f]{12})?$/;
/** 96 random bits: guessing any one of a billion links takes about 8·10^19 tries. */
const PUBLIC_ID_BYTES = 12;

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

export function isSha256(value: unknown): value is string {
  return typeof value === "string" && SHA256_HEX.test(value);
}

/** A link's or a comparison's id, as clients see them. */
export function isPublicId(value: unknown): value is string {
  return typeof value === "string" && PUBLIC_ID.test(value);
}

/** A new link or comparison id: random, so nothing about a run tells it. */
export function newPublicId(): string {
  return randomBytes(PUBLIC_ID_BYTES).toString("hex");
}

/** A key only its holder knows (a link's creator key), as base64url. */
export function newSecretKey(): string {
  return randomBytes(24).toString("base64url");
}

/** JSON with every object's keys sorted, so equal values always give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    item !== null && typeof item === "object" && !Array.isArray(item)
      ? Object.fromEntries(Object.entries(item as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : item,
  );
}

/**
 * A run's id: the same preset and normalized request always give the same id, which is what makes
 * a repeated request reuse the decoded run. Anyone can compute it from a guessed request, so it
 * never leaves the service; clients reach runs through links (storage.ts, LinkRow).
 */
export function runId(presetDigest: string, request: unknown): string {
  return sha256Hex(canonicalJson({ presetDigest, request })).slice(0, 12);
}

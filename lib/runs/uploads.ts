import sharp from "sharp";
import { formatBytes } from "../format";
import { RunError } from "./errors";

/*
 * What an uploaded image must be before it is stored: PNG, JPEG or WebP by its bytes, within the
 * size limit, no side over the preset's maximum (read from the header, before any pixel is
 * decoded, so a tiny file declaring a huge image costs nothing), and decodable to the end without
 * a warning.
 */

export const UPLOAD_TYPES = ["image/png", "image/jpeg", "image/webp"] as const;
export type UploadType = (typeof UPLOAD_TYPES)[number];

const ACCEPTED = "PNG, JPEG or WebP";

export interface UploadLimits {
  readonly maxBytes: number;
  /** Neither side may exceed it (so width · height ≤ maxSide²). */
  readonly maxSide: number;
}

export interface InspectedUpload {
  readonly type: UploadType;
  readonly width: number;
  readonly height: number;
}

const startsWith = (bytes: Uint8Array, prefix: readonly number[], at = 0) => prefix.every((byte, i) => bytes[at + i] === byte);
const ascii = (text: string) => [...text].map((c) => c.charCodeAt(0));

/** The image type its first bytes announce, or null. */
export function sniffImageType(bytes: Uint8Array): UploadType | null {
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return "image/png";
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return "image/jpeg";
  if (startsWith(bytes, ascii("RIFF")) && startsWith(bytes, ascii("WEBP"), 8)) return "image/webp";
  return null;
}


/** Checks an upload against the limits; throws 400, 413 or 415 saying what is accepted. */
export async function inspectUpload(bytes: Uint8Array, limits: UploadLimits, declaredType?: string): Promise<InspectedUpload> {
  if (bytes.length === 0) throw new RunError("invalid_input", `the upload is empty; send the bytes of a ${ACCEPTED} image`);
  if (bytes.length > limits.maxBytes) {
    throw new RunError("payload_too_large", `the upload is ${formatBytes(bytes.length)}; images of at most ${formatBytes(limits.maxBytes)} are accepted`);
  }
  const type = sniffImageType(bytes);
  if (type === null) {
    const declared = declaredType ? ` (declared as ${declaredType})` : "";
    throw new RunError("unsupported_media_type", `the upload${declared} is not a ${ACCEPTED} image by its bytes; only ${UPLOAD_TYPES.join(", ")} are accepted`);
  }

  let width: number | undefined;
  let height: number | undefined;
  try {
    // The header only: the size check must come before anything allocates pixels.
    ({ width, height } = await sharp(bytes, { limitInputPixels: false }).metadata());
  } catch (cause) {
    throw new RunError("invalid_input", `the ${type} upload is corrupt: its header cannot be read`, { cause });
  }
  if (!width || !height) throw new RunError("invalid_input", `the ${type} upload's header has no image size`);
  if (width > limits.maxSide || height > limits.maxSide) {
    throw new RunError("invalid_input", `the image is ${width}×${height}; images of at most ${limits.maxSide}×${limits.maxSide} pixels are accepted`);
  }

  try {
    // Every pixel the header declares, within the upload pixel limit, and failing on the decoder's
    // warnings too: a JPEG whose scan data ends at its end-of-image marker long before the size its
    // header declares (a 293-byte file claiming 4000×4000) only warns, and would otherwise decode
    // as a 4000×4000 grey image and be stored as one.
    await sharp(bytes, { limitInputPixels: limits.maxSide * limits.maxSide, failOn: "warning" }).raw().toBuffer();
  } catch (cause) {
    throw new RunError("invalid_input", `the ${type} upload is truncated or corrupt: it does not decode cleanly to the ${width}×${height} pixels its header declares; send a complete ${ACCEPTED} image`, { cause });
  }
  return { type, width, height };
}

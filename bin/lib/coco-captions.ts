import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { UsageError } from "./args";

/*
 * COCO-style caption files (captions_train2017.json and anything shaped like it): the images with
 * their file names, and the captions that name them by image id. Keys COCO adds beyond these
 * (licenses, info, width, coco_url, annotation ids…) are allowed and ignored.
 */

const imageId = z.number().int().nonnegative();

/** A name inside the images folder: relative, without "..", so every image is read from --images. */
const fileName = z
  .string()
  .min(1, "must be a non-empty file name")
  .refine((name) => !path.isAbsolute(name) && !name.split(/[\\/]/).includes(".."), { message: "must be a path inside the images folder (relative, without '..')" });

export const cocoCaptionsSchema = z.object({
  images: z.array(z.object({ id: imageId, file_name: fileName })),
  annotations: z.array(
    z.object({
      image_id: imageId,
      caption: z.string().refine((caption) => caption.trim() !== "", { message: "must be a non-empty caption" }),
    }),
  ),
});

export interface Caption {
  /** Position in the file's `annotations` array: identifies the caption in the pairs file. */
  readonly index: number;
  readonly text: string;
}

export interface CaptionedImage {
  readonly id: number;
  readonly fileName: string;
  readonly captions: readonly Caption[];
}

export interface CaptionSet {
  /** Images that have at least one caption, in the file's order; each caption in the file's order. */
  readonly images: readonly CaptionedImage[];
  readonly captions: number;
  /** Images listed without any caption: they give no pair and are not read. */
  readonly imagesWithoutCaptions: number;
  /** sha256 of the file's bytes: a checkpoint belongs to exactly this file. */
  readonly sha256: string;
}

const EXPECTED_SHAPE = '{"images": [{"id": <integer>, "file_name": "<name in --images>"}, …], "annotations": [{"image_id": <integer>, "caption": "<text>"}, …]}';
const ISSUES_SHOWN = 5;

/** "images.3.file_name: …; annotations.0.caption: …" for the first few issues, then how many more. */
function describeSchemaIssues(error: z.ZodError): string {
  const shown = error.issues.slice(0, ISSUES_SHOWN).map((issue) => `${issue.path.length ? issue.path.join(".") : "(root)"}: ${issue.message}`);
  const more = error.issues.length - shown.length;
  return shown.join("; ") + (more > 0 ? `; and ${more} more issue${more === 1 ? "" : "s"}` : "");
}

/** Groups a parsed file's captions by image; throws UsageError for duplicate ids or captions of unknown images. */
export function groupCaptions(file: string, parsed: z.infer<typeof cocoCaptionsSchema>, sha256: string): CaptionSet {
  const captionsById = new Map<number, Caption[]>();
  parsed.images.forEach((image, i) => {
    if (captionsById.has(image.id)) throw new UsageError(`--captions: ${file}: images.${i}.id ${image.id} is listed twice; image ids must be unique`);
    captionsById.set(image.id, []);
  });
  parsed.annotations.forEach((annotation, index) => {
    const captions = captionsById.get(annotation.image_id);
    if (!captions) {
      throw new UsageError(`--captions: ${file}: annotations.${index}.image_id ${annotation.image_id} names no entry of "images"; every caption must belong to a listed image`);
    }
    captions.push({ index, text: annotation.caption });
  });
  const images = parsed.images
    .map((image) => ({ id: image.id, fileName: image.file_name, captions: captionsById.get(image.id) ?? [] }))
    .filter((image) => image.captions.length > 0);
  return { images, captions: parsed.annotations.length, imagesWithoutCaptions: parsed.images.length - images.length, sha256 };
}

/** Reads, hashes and validates a COCO-style captions file; every problem is a UsageError naming the file and what was expected. */
export async function readCaptionsFile(file: string): Promise<CaptionSet> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw new UsageError(`--captions: cannot read ${file} (${(error as Error).message})`);
  }
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch (error) {
    throw new UsageError(`--captions: ${file} is not valid JSON (${(error as Error).message}); expected a COCO-style captions file ${EXPECTED_SHAPE}`);
  }
  const parsed = cocoCaptionsSchema.safeParse(json);
  if (!parsed.success) {
    throw new UsageError(`--captions: ${file} is not a COCO-style captions file: ${describeSchemaIssues(parsed.error)}. Expected ${EXPECTED_SHAPE}`);
  }
  const set = groupCaptions(file, parsed.data, sha256);
  if (set.images.length === 0) throw new UsageError(`--captions: ${file} has no image with a caption, so there are no pairs to embed`);
  return set;
}

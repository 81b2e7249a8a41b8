import { mkdir, readFile, rename, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { encodeImages, encodeTexts, type EncoderPresetConfig, type OpenOptions, openPresetEncoders, type PresetEncoders, preprocessImage } from "../../lib/engine/index";
import { UsageError } from "./args";
import { type CaptionedImage, type CaptionSet, readCaptionsFile } from "./coco-captions";
import type { EmbedPairsArgs } from "./embed-pairs-args";
import { writeNpz } from "./npz";
import { PairsCheckpoint, type PairRows, type SkippedImage } from "./pairs-checkpoint";

/*
 * embed-pairs: COCO-style image–caption pairs → a pairs file for models/training/train_adapter.py,
 * embedded by the preset's own CLIP towers through the engine's encoders (the same tokenizer,
 * image preprocessing and onnxruntime sessions the app uses). Images go through in fixed batches
 * aligned to the caption file's order, so a run continued from a checkpoint makes the same model
 * calls, and therefore the same bytes, as one that never stopped.
 */

export interface EmbedPairsProgress {
  readonly imagesDone: number;
  readonly images: number;
  readonly pairs: number;
  /** The batch just finished (0-based) and how many the whole set has. */
  readonly batch: number;
  readonly batches: number;
}

export interface EmbedPairsOptions extends EmbedPairsArgs {
  /** Aborting stops the run after the batch in progress, with the checkpoint committed (Ctrl-C). */
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: EmbedPairsProgress) => void;
  readonly openOptions?: OpenOptions;
}

export interface EmbedPairsResult {
  /** "interrupted": stopped early (signal or --stop-after); the checkpoint holds the progress. */
  readonly status: "complete" | "interrupted";
  readonly out: string;
  readonly checkpointDir: string;
  /** The preset's name and encoder digest (see PresetEncoders.digest). */
  readonly preset: { readonly name: string; readonly digest: string };
  readonly dim: number;
  readonly batch: number;
  /** Images with at least one caption: the ones the run reads. */
  readonly images: number;
  readonly imagesWithoutCaptions: number;
  readonly captions: number;
  readonly imagesDone: number;
  readonly imagesEmbedded: number;
  readonly pairs: number;
  readonly skippedImages: number;
  readonly droppedCaptions: number;
  readonly skippedNamed: readonly SkippedImage[];
  /** Images already done by earlier runs when this one started. */
  readonly resumedAt: number;
  /** What this run did and how long its batches took (model loading excluded). */
  readonly thisRun: { readonly images: number; readonly pairs: number; readonly seconds: number };
}

type PreparedImage = { readonly image: CaptionedImage; readonly pixels: Float32Array } | { readonly image: CaptionedImage; readonly skipped: string };

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0].trim();
}

/** Reads and CLIP-preprocesses one image; never throws: a problem becomes the reason it is skipped. */
async function prepareImage(image: CaptionedImage, imagesDir: string, config: EncoderPresetConfig): Promise<PreparedImage> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path.join(imagesDir, image.fileName));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { image, skipped: code === "ENOENT" ? "missing" : `unreadable (${code ?? firstLine(error)})` };
  }
  try {
    const { pixels } = await preprocessImage(bytes, config.image.clip, config.limits.maxImageSide);
    return { image, pixels };
  } catch (error) {
    return { image, skipped: firstLine(error) };
  }
}

/** One batch's pairs: each caption of each readable image, image embedding repeated per caption. */
async function embedBatch(prepared: readonly PreparedImage[], encoders: PresetEncoders, batch: number): Promise<PairRows> {
  const readable = prepared.filter((item): item is Extract<PreparedImage, { pixels: Float32Array }> => "pixels" in item);
  const dim = encoders.config.embedding.dim;
  const imageEmbeddings = readable.length > 0 ? await encodeImages(encoders.image, readable.map((item) => item.pixels), encoders.config.image.clip.size) : [];
  const pairs = readable.flatMap((item, position) => item.image.captions.map((caption) => ({ position, image: item.image, caption })));
  const rows: PairRows = {
    imageEmbeds: new Float32Array(pairs.length * dim),
    textEmbeds: new Float32Array(pairs.length * dim),
    imageIds: new BigInt64Array(pairs.length),
    captionIndex: new BigInt64Array(pairs.length),
  };
  for (let start = 0; start < pairs.length; start += batch) {
    const chunk = pairs.slice(start, start + batch);
    const textEmbeddings = await encodeTexts(encoders.text, encoders.tokenizer, chunk.map((pair) => pair.caption.text));
    textEmbeddings.forEach((embedding, i) => rows.textEmbeds.set(embedding, (start + i) * dim));
  }
  pairs.forEach((pair, i) => {
    rows.imageEmbeds.set(imageEmbeddings[pair.position], i * dim);
    rows.imageIds[i] = BigInt(pair.image.id);
    rows.captionIndex[i] = BigInt(pair.caption.index);
  });
  return rows;
}

async function checkImagesDir(dir: string): Promise<void> {
  let isDirectory = false;
  try {
    isDirectory = (await stat(dir)).isDirectory();
  } catch (error) {
    throw new UsageError(`--images: cannot read ${dir} (${firstLine(error)})`);
  }
  if (!isDirectory) throw new UsageError(`--images must name the folder the captions file's images are in; ${dir} is a file`);
}

/** The checkpoint folder of a pairs file. */
export function checkpointDirFor(out: string): string {
  return `${out}.partial`;
}

/** Embeds the pairs, continuing `<out>.partial` if there is one; see bin/embed-pairs.ts. */
export async function embedPairs(options: EmbedPairsOptions): Promise<EmbedPairsResult> {
  // The checkpoint's arrays are the platform's typed-array bytes, and .npy says little-endian.
  if (os.endianness() !== "LE") throw new Error("embed-pairs writes little-endian arrays and runs only on little-endian machines");
  const captionSet: CaptionSet = await readCaptionsFile(options.captions);
  await checkImagesDir(options.images);
  const encoders = await openPresetEncoders(options.preset, options.openOptions);
  // limits.maxBatch sizes the decoder's UNet batches; it is a safe default for the lighter CLIP
  // towers, and --batch may go beyond it where the accelerator has room.
  const batch = options.batch ?? encoders.config.limits.maxBatch;

  const out = path.resolve(options.out);
  const checkpointDir = checkpointDirFor(out);
  await mkdir(path.dirname(out), { recursive: true });
  const checkpoint = await PairsCheckpoint.open(checkpointDir, {
    captionsSha256: captionSet.sha256,
    presetName: encoders.config.name,
    presetDigest: encoders.digest,
    batch,
    dim: encoders.config.embedding.dim,
  });

  const images = captionSet.images;
  const total = images.length;
  const resumedAt = checkpoint.progress.imagesDone;
  const pairsAtStart = checkpoint.progress.pairs;
  const prepare = (start: number) => Promise.all(images.slice(start, start + batch).map((image) => prepareImage(image, options.images, encoders.config)));
  const stopRequested = (done: number) => options.signal?.aborted === true || (options.stopAfter !== undefined && done >= options.stopAfter);

  const started = performance.now();
  let done = resumedAt;
  let sinceCommit = 0;
  let next = done < total ? prepare(done) : undefined;
  try {
    while (done < total && !stopRequested(done)) {
      const prepared = await next!;
      const end = Math.min(done + batch, total);
      // Read and preprocess the next batch while the towers run on this one.
      next = end < total ? prepare(end) : undefined;
      const rows = await embedBatch(prepared, encoders, batch);
      const skipped = prepared.flatMap((item) => ("skipped" in item ? [{ fileName: item.image.fileName, reason: item.skipped }] : []));
      const droppedCaptions = prepared.reduce((sum, item) => sum + ("skipped" in item ? item.image.captions.length : 0), 0);
      await checkpoint.append(rows, { imagesDone: end, imagesEmbedded: prepared.length - skipped.length, skipped, droppedCaptions });
      sinceCommit += end - done;
      done = end;
      if (sinceCommit >= options.checkpointEvery) {
        await checkpoint.commit();
        sinceCommit = 0;
      }
      options.onProgress?.({ imagesDone: done, images: total, pairs: checkpoint.progress.pairs, batch: Math.ceil(done / batch) - 1, batches: Math.ceil(total / batch) });
    }
    await next; // a prefetch left behind by a stop; it never rejects
    await checkpoint.commit();
  } catch (error) {
    await next?.catch(() => undefined);
    await checkpoint.close();
    throw error;
  }
  const seconds = (performance.now() - started) / 1000;

  const state = checkpoint.progress;
  const result: EmbedPairsResult = {
    status: done < total ? "interrupted" : "complete",
    out,
    checkpointDir,
    preset: { name: encoders.config.name, digest: encoders.digest },
    dim: state.dim,
    batch,
    images: total,
    imagesWithoutCaptions: captionSet.imagesWithoutCaptions,
    captions: captionSet.captions,
    imagesDone: state.imagesDone,
    imagesEmbedded: state.imagesEmbedded,
    pairs: state.pairs,
    skippedImages: state.skippedImages,
    droppedCaptions: state.droppedCaptions,
    skippedNamed: state.skippedNamed,
    resumedAt,
    thisRun: { images: done - resumedAt, pairs: state.pairs - pairsAtStart, seconds },
  };
  if (result.status === "interrupted") {
    await checkpoint.close();
    return result;
  }
  if (state.pairs === 0) {
    // Nothing was readable: most likely the wrong --images folder. Forget the run so a corrected one rereads every image.
    await checkpoint.remove();
    const examples = state.skippedNamed.slice(0, 3).map((item) => `${item.fileName} (${item.reason})`).join(", ");
    throw new Error(`none of the ${total} captioned images could be read from ${options.images} (e.g. ${examples}); check --images`);
  }
  const temporary = `${out}.tmp`;
  try {
    await writeNpz(temporary, checkpoint.npzEntries());
    await rename(temporary, out);
  } catch (error) {
    await rm(temporary, { force: true });
    await checkpoint.close();
    throw new Error(`cannot write ${out} (${firstLine(error)}); the embeddings are kept in ${checkpointDir}, re-run the same command to retry`, { cause: error });
  }
  await checkpoint.remove();
  return result;
}

const SUMMARY_SKIPPED_SHOWN = 5;

function rate(count: number, seconds: number): string {
  return seconds > 0 ? (count / seconds).toFixed(1) : "–";
}

/** The lines printed after a run, finished or interrupted. */
export function formatEmbedPairsSummary(result: EmbedPairsResult): string {
  const lines: string[] = [];
  const preset = `preset ${result.preset.name} (encoders ${result.preset.digest.slice(0, 12)}…)`;
  if (result.status === "complete") {
    lines.push(`wrote ${result.out}: ${result.pairs} pairs from ${result.imagesEmbedded} images, ${result.dim}-dimensional, ${preset}`);
  } else {
    lines.push(`stopped after ${result.imagesDone} of ${result.images} images (${result.pairs} pairs so far), ${preset}`);
    lines.push(`checkpoint: ${result.checkpointDir}; run the same command again to continue`);
  }
  if (result.resumedAt > 0) lines.push(`continued a checkpoint at image ${result.resumedAt} of ${result.images}`);
  if (result.skippedImages > 0) {
    const named = result.skippedNamed.slice(0, SUMMARY_SKIPPED_SHOWN).map((item) => `${item.fileName} (${item.reason})`);
    const more = result.skippedImages - named.length;
    lines.push(
      `skipped ${result.skippedImages} image${result.skippedImages === 1 ? "" : "s"} (their ${result.droppedCaptions} caption${result.droppedCaptions === 1 ? "" : "s"} dropped): ${named.join(", ")}${more > 0 ? `, and ${more} more` : ""}`,
    );
  }
  if (result.imagesWithoutCaptions > 0) lines.push(`${result.imagesWithoutCaptions} listed image(s) have no caption and were not read`);
  const { images, pairs, seconds } = result.thisRun;
  lines.push(`this run: ${images} images processed, ${pairs} pairs in ${seconds.toFixed(1)} s (${rate(images, seconds)} images/s, ${rate(pairs, seconds)} pairs/s; batch ${result.batch})`);
  return `${lines.join("\n")}\n`;
}

import { type FileHandle, mkdir, open, readFile, rename, rm, truncate, writeFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import type { NpzEntry } from "./npz";

/*
 * The resumable part of embed-pairs: a folder `<out>.partial/` holding the pairs embedded so far as
 * raw little-endian arrays (appended batch by batch) and state.json, the commit record. state.json is
 * replaced atomically (write, fsync, rename) only after the arrays were fsynced, so whatever a crash
 * or kill leaves, state.json describes a consistent prefix: bytes past it are cut off on resume.
 */

export const CHECKPOINT_FORMAT = "penumbra-embed-pairs-checkpoint";
const CHECKPOINT_VERSION = 1;
const STATE_FILE = "state.json";
/** How many skipped images the checkpoint (and the summary) names; the rest are only counted. */
export const SKIPPED_NAMED = 10;

/** What must be the same for a checkpoint to be continued. */
export interface CheckpointIdentity {
  readonly captionsSha256: string;
  readonly presetName: string;
  /** The preset's encoder digest: its CLIP towers, tokenizer and preprocessing. */
  readonly presetDigest: string;
  /** Batch boundaries decide which images share a model call, so they are part of the output's identity. */
  readonly batch: number;
  readonly dim: number;
}

export interface SkippedImage {
  readonly fileName: string;
  readonly reason: string;
}

const stateSchema = z.object({
  format: z.literal(CHECKPOINT_FORMAT),
  version: z.literal(CHECKPOINT_VERSION),
  captionsSha256: z.string(),
  presetName: z.string(),
  presetDigest: z.string(),
  batch: z.number().int().positive(),
  dim: z.number().int().positive(),
  /** Images of the caption set (in its order) done, whether embedded or skipped. */
  imagesDone: z.number().int().nonnegative(),
  pairs: z.number().int().nonnegative(),
  imagesEmbedded: z.number().int().nonnegative(),
  skippedImages: z.number().int().nonnegative(),
  droppedCaptions: z.number().int().nonnegative(),
  skippedNamed: z.array(z.object({ fileName: z.string(), reason: z.string() })),
});

export type CheckpointState = z.infer<typeof stateSchema>;

/** One batch's pairs: row i of each array is pair i. */
export interface PairRows {
  readonly imageEmbeds: Float32Array;
  readonly textEmbeds: Float32Array;
  readonly imageIds: BigInt64Array;
  readonly captionIndex: BigInt64Array;
}

type ArrayKey = keyof PairRows;

/** The arrays of a pairs file: their npz key, raw file and dtype. image_embeds and text_embeds are what train_adapter.py reads. */
const ARRAYS: readonly { readonly key: ArrayKey; readonly name: string; readonly file: string; readonly dtype: "<f4" | "<i8"; readonly embedding: boolean }[] = [
  { key: "imageEmbeds", name: "image_embeds", file: "image_embeds.f32", dtype: "<f4", embedding: true },
  { key: "textEmbeds", name: "text_embeds", file: "text_embeds.f32", dtype: "<f4", embedding: true },
  { key: "imageIds", name: "image_ids", file: "image_ids.i64", dtype: "<i8", embedding: false },
  { key: "captionIndex", name: "caption_index", file: "caption_index.i64", dtype: "<i8", embedding: false },
];

function bytesPerPair(array: (typeof ARRAYS)[number], dim: number): number {
  return array.embedding ? dim * 4 : 8;
}

function describeMismatch(saved: CheckpointState, wanted: CheckpointIdentity): string | undefined {
  if (saved.captionsSha256 !== wanted.captionsSha256) {
    return `the captions file changed since the checkpoint was made (sha256 ${wanted.captionsSha256.slice(0, 12)}…, the checkpoint's is ${saved.captionsSha256.slice(0, 12)}…)`;
  }
  if (saved.presetDigest !== wanted.presetDigest) {
    return `the checkpoint was made with preset ${saved.presetName} (encoders ${saved.presetDigest.slice(0, 12)}…), not with ${wanted.presetName} (encoders ${wanted.presetDigest.slice(0, 12)}…)`;
  }
  if (saved.batch !== wanted.batch) {
    return `the checkpoint was made with --batch ${saved.batch}, this run asks for ${wanted.batch}; pass --batch ${saved.batch} to continue it`;
  }
  if (saved.dim !== wanted.dim) return `the checkpoint holds ${saved.dim}-dimensional embeddings, the preset gives ${wanted.dim}`;
  return undefined;
}

export class PairsCheckpoint {
  private closed = false;

  private constructor(
    readonly dir: string,
    private state: CheckpointState,
    private readonly handles: Readonly<Record<ArrayKey, FileHandle>>,
    /** Whether a committed state.json was found (the run continues an earlier one). */
    readonly resumed: boolean,
  ) {}

  /**
   * Continues the checkpoint in `dir` if it exists and matches `identity` (else throws, saying what
   * differs), or starts an empty one. Bytes appended after the last commit are discarded.
   */
  static async open(dir: string, identity: CheckpointIdentity): Promise<PairsCheckpoint> {
    const statePath = path.join(dir, STATE_FILE);
    let text: string | undefined;
    try {
      text = await readFile(statePath, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw new Error(`cannot read the checkpoint ${statePath} (${(error as Error).message})`);
    }
    let state: CheckpointState;
    const startOver = `delete ${dir} to start over`;
    if (text === undefined) {
      // No commit yet (or a run killed before its first): nothing to keep.
      state = { format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, ...identity, imagesDone: 0, pairs: 0, imagesEmbedded: 0, skippedImages: 0, droppedCaptions: 0, skippedNamed: [] };
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
    } else {
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        throw new Error(`the checkpoint ${statePath} is not valid JSON; ${startOver}`);
      }
      const parsed = stateSchema.safeParse(json);
      if (!parsed.success) throw new Error(`${statePath} is not an embed-pairs checkpoint this version can continue; ${startOver}`);
      state = parsed.data;
      const mismatch = describeMismatch(state, identity);
      if (mismatch) throw new Error(`cannot continue the checkpoint in ${dir}: ${mismatch}. Re-run with the same inputs, or ${startOver}`);
    }

    const opened: Partial<Record<ArrayKey, FileHandle>> = {};
    try {
      for (const array of ARRAYS) {
        const file = path.join(dir, array.file);
        const committed = state.pairs * bytesPerPair(array, state.dim);
        if (committed > 0) {
          const handle = await open(file, "r+");
          const { size } = await handle.stat();
          await handle.close();
          if (size < committed) throw new Error(`the checkpoint's ${file} has ${size} bytes, fewer than the ${committed} its state.json commits; ${startOver}`);
          await truncate(file, committed);
        } else {
          await writeFile(file, new Uint8Array(0));
        }
        opened[array.key] = await open(file, "a");
      }
    } catch (error) {
      await Promise.all(Object.values(opened).map((handle) => handle.close()));
      if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new Error(`the checkpoint in ${dir} is missing an array file; ${startOver}`);
      throw error;
    }
    return new PairsCheckpoint(dir, state, opened as Record<ArrayKey, FileHandle>, text !== undefined);
  }

  get progress(): Readonly<CheckpointState> {
    return this.state;
  }

  /** Adds one batch's pairs and outcome; durable only after commit(). */
  async append(rows: PairRows, outcome: { readonly imagesDone: number; readonly imagesEmbedded: number; readonly skipped: readonly SkippedImage[]; readonly droppedCaptions: number }): Promise<void> {
    const pairs = rows.imageIds.length;
    for (const array of ARRAYS) {
      const data = rows[array.key];
      if (data.byteLength !== pairs * bytesPerPair(array, this.state.dim)) throw new Error(`internal: ${array.name} has ${data.byteLength} bytes for ${pairs} pairs`);
      if (pairs > 0) await this.handles[array.key].write(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
    const named = [...this.state.skippedNamed, ...outcome.skipped].slice(0, SKIPPED_NAMED);
    this.state = {
      ...this.state,
      imagesDone: outcome.imagesDone,
      pairs: this.state.pairs + pairs,
      imagesEmbedded: this.state.imagesEmbedded + outcome.imagesEmbedded,
      skippedImages: this.state.skippedImages + outcome.skipped.length,
      droppedCaptions: this.state.droppedCaptions + outcome.droppedCaptions,
      skippedNamed: named,
    };
  }

  /** Makes everything appended so far durable: arrays fsynced first, then state.json swapped in. */
  async commit(): Promise<void> {
    await Promise.all(Object.values(this.handles).map((handle) => handle.datasync()));
    const statePath = path.join(this.dir, STATE_FILE);
    const temporary = `${statePath}.tmp`;
    const handle = await open(temporary, "w");
    try {
      await handle.writeFile(`${JSON.stringify(this.state, null, 2)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, statePath);
  }

  /** The pairs file's arrays, read from the committed raw files. */
  npzEntries(): NpzEntry[] {
    const { pairs, dim } = this.state;
    return ARRAYS.map((array) => ({
      name: array.name,
      dtype: array.dtype,
      shape: array.embedding ? [pairs, dim] : [pairs],
      data: [{ file: path.join(this.dir, array.file), length: pairs * bytesPerPair(array, dim) }],
    }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(Object.values(this.handles).map((handle) => handle.close()));
  }

  /** Deletes the folder once the pairs file is in place. */
  async remove(): Promise<void> {
    await this.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}

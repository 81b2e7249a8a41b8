import { isInteger, parse, parseNumber, UsageError } from "./args";

/*
 * Command-line parsing for bin/embed-pairs.ts, in bin/lib/args.ts's style: strict flags and
 * messages that name the flag and what it accepts.
 */

export const DEFAULT_CHECKPOINT_EVERY = 1024;

export const EMBED_PAIRS_USAGE = `usage: npm run embed-pairs -- --preset <name|dir> --captions <captions.json> --images <dir> --out <pairs.npz> [options]

Embeds every image–caption pair of a COCO-style captions file with the preset's
own CLIP towers (the engine's preprocessing and tokenizer, on onnxruntime-node)
into the pairs file models/training/train_adapter.py reads (--pairs).

  --preset <name|dir>       the preset whose CLIP space the adapter is for
  --captions <file>         COCO-style JSON: {"images": [{"id", "file_name"}],
                            "annotations": [{"image_id", "caption"}]}
  --images <dir>            the folder the images' file_name entries are in
  --out <file.npz>          the pairs file; progress is checkpointed in <file.npz>.partial/
  --batch <n>               images (and captions) per model call (default: the preset's
                            limits.maxBatch, which sizes UNet batches; the CLIP towers
                            are lighter, so a larger --batch is allowed)
  --checkpoint-every <n>    checkpoint after at least n more images (default ${DEFAULT_CHECKPOINT_EVERY})
  --stop-after <n>          stop as Ctrl-C would once n images are done (for testing resumption)
  -h, --help                show this help

Run the same command again after an interruption (Ctrl-C, a crash) and it continues from
the last checkpoint; the finished file is the same as an uninterrupted run's. Unreadable
or missing images are skipped and their captions dropped; the summary lists them.`;

export interface EmbedPairsArgs {
  readonly preset: string;
  readonly captions: string;
  readonly images: string;
  readonly out: string;
  readonly batch?: number;
  readonly checkpointEvery: number;
  readonly stopAfter?: number;
}

function positiveInteger(flag: string, raw: string): number {
  return parseNumber(flag, raw, "an integer ≥ 1", isInteger(1));
}

export function parseEmbedPairsArgs(argv: readonly string[]): EmbedPairsArgs {
  const { values: parsed, positionals } = parse(
    argv,
    {
      preset: { type: "string" },
      captions: { type: "string" },
      images: { type: "string" },
      out: { type: "string" },
      batch: { type: "string" },
      "checkpoint-every": { type: "string" },
      "stop-after": { type: "string" },
    },
    EMBED_PAIRS_USAGE,
  );
  // Every flag here is a string flag (help is handled by parse).
  const values = parsed as Record<string, string | undefined>;
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}; every input is given by a flag`);

  const required = (flag: "preset" | "captions" | "images" | "out", what: string): string => {
    const value = values[flag];
    if (value === undefined) throw new UsageError(`--${flag} is required: ${what}`);
    if (value.trim() === "") throw new UsageError(`--${flag} must not be empty: ${what}`);
    return value;
  };
  const preset = required("preset", "the preset name or folder whose CLIP towers embed the pairs");
  const captions = required("captions", "a COCO-style captions JSON file");
  const images = required("images", "the folder holding the images the captions file names");
  const out = required("out", "the .npz pairs file to write");
  if (!/\.npz$/i.test(out)) throw new UsageError(`--out must name a .npz file (the adapter trainer reads it with np.load), got ${JSON.stringify(out)}`);

  return {
    preset,
    captions,
    images,
    out,
    ...(values.batch !== undefined && { batch: positiveInteger("batch", values.batch) }),
    checkpointEvery: values["checkpoint-every"] === undefined ? DEFAULT_CHECKPOINT_EVERY : positiveInteger("checkpoint-every", values["checkpoint-every"]),
    ...(values["stop-after"] !== undefined && { stopAfter: positiveInteger("stop-after", values["stop-after"]) }),
  };
}

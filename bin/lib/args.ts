import { parseArgs, type ParseArgsConfig } from "node:util";
import type { RunRequest, SchedulerType } from "../../lib/engine/index";
// The engine's dependency-free entry: a value import of lib/engine/index would load onnxruntime
// for every command that parses flags, preset-check included.
import {
  DEFAULT_PLAN_KIND,
  describeRange,
  FRACTION_RANGE,
  GUIDANCE_SCALE_RANGE,
  inRange,
  LAMBDA_RANGE,
  type NumberRange,
  PLAN_KINDS,
  type PlanKind,
  type PlanUnion,
  QUANTILE_RANGE,
  SCHEDULER_TYPES,
  SEED_RANGE,
} from "../../lib/engine/names";

/*
 * Command-line parsing for the bin/ commands: strict flags,
 * and messages that name the flag and say what it accepts. Ranges that are the
 * same for every preset (lib/engine/request-ranges.ts) are checked here; those
 * that depend on the preset (rows, cols, steps, noise level, caption length)
 * are the engine's to check, so these only check the shape of those values.
 */

/** A mistake in how the command was called; the entry files print it and exit with code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** Thrown for --help; carries the text to print (exit code 0). */
export class HelpRequested extends Error {
  override readonly name = "HelpRequested";
}

export type GridPlanArgs = PlanUnion<
  | { readonly kind: "geodesic"; readonly fractions?: number[]; readonly tail?: number; readonly rows?: number }
  | { readonly kind: "interpolate"; readonly lambdas?: number[]; readonly rows?: number }
  | { readonly kind: "shell"; readonly quantiles?: number[]; readonly rows?: number }
>;

export interface GridArgs {
  readonly input: { readonly kind: "caption"; readonly text: string } | { readonly kind: "image"; readonly path: string };
  readonly plan: GridPlanArgs;
  readonly cols?: number;
  readonly seed?: number;
  readonly steps?: number;
  readonly guidanceScale?: number;
  readonly noiseLevel?: number;
  readonly scheduler?: SchedulerType;
  readonly prompt?: string;
  readonly preset?: string;
  readonly out: string;
  readonly json: boolean;
  readonly cellsDir?: string;
}

export const GRID_USAGE = `usage: npm run grid -- "<caption>" [options]
       npm run grid -- --image <file> [options]

Decodes samples from the caption's (or image's) distribution at increasing
distance from the mean: one row per deviation level, nearest first (the mean row
first on plans that have one).

input
  <caption>                 the caption to explore (quote it)
  --image <file>            explore an image instead of a caption
plan
  --plan ${PLAN_KINDS.join("|")}
                            geodesic (default): rows at equal steps of angle in the decoder's
                            space, from the mean (0) out to the --tail quantile of samples (1);
                            interpolate: rows at x = μ + λ(x_s − μ);
                            shell: rows on likelihood shells at fixed quantiles (no mean row)
  --rows <n>                number of rows, evenly spaced (instead of a list of levels; up to the
                            preset's maxRows, 9 for shapes)
  --fractions <list>        geodesic levels as fractions of the tail angle, e.g. 0,0.25,0.5,0.75,1
                            (each from ${FRACTION_RANGE.min} to ${FRACTION_RANGE.max})
  --tail <q>                geodesic: the share of plain samples within fraction 1 (default 0.95;
                            strictly between ${QUANTILE_RANGE.min} and ${QUANTILE_RANGE.max})
  --lambdas <list>          interpolate levels, e.g. 0,0.5,1,1.5,2 (each from ${LAMBDA_RANGE.min} to ${LAMBDA_RANGE.max});
                            implies --plan interpolate
  --quantiles <list>        shell quantiles, e.g. 0.01,0.5,0.99 (each strictly between ${QUANTILE_RANGE.min} and ${QUANTILE_RANGE.max});
                            implies --plan shell
  --cols <n>                base samples per row (up to the preset's maxCols, 8 for shapes)
decoding
  --seed <n>                random seed (integer from ${SEED_RANGE.min} to 2^53 − 1)
  --steps <n>               diffusion steps (up to the preset's maxSteps, 100 for shapes)
  --guidance <g>            classifier-free guidance scale (from ${GUIDANCE_SCALE_RANGE.min} to ${GUIDANCE_SCALE_RANGE.max}): ε_u + g·(ε_c − ε_u)
                            at every g but 1, so 0 decodes unconditionally; diffusers guides only
                            above 1 and decodes below 1 as at 1
  --noise-level <l>         image-embedding noise augmentation, integer ≥ 0
                            (below the preset's training timesteps, 1000 for shapes)
  --scheduler <name>        ${SCHEDULER_TYPES.join("|")}
  --prompt <text>           text prompt for the decoder (default: empty)
  --preset <name|dir>       model preset (default: the bundled "shapes")
output
  --out <file.png>          labelled grid with the run embedded as PNG text (default: grid.png)
  --cells-dir <dir>         also write each cell as its own PNG
  --json                    print the run as JSON instead of the table
  -h, --help                show this help
Unset options take the preset's defaults.

The cell table (docs/science.md defines each number):
  where the decoder reads the cell
    θ          degrees between the cell's decoder input and the mean's
    q_dec      share of plain samples of the distribution at a smaller θ
    ‖y−y(μ)‖   distance between the two decoder inputs
  where the cell was drawn (the adapter's space)
    λ          position on the ray μ + λ(x_s − μ) of the cell's column
    T, q       likelihood radius Σ(|x−μ|/α)^β and its quantile P(k, T)
    NLL        negative log-likelihood; cos(x,μ) and ‖x−μ‖ against the mean`;

export const UNCERTAINTY_USAGE = `usage: npm run uncertainty -- --file <captions.txt> [options]
       npm run uncertainty -- --images <dir|file> [<dir|file>...] [options]

Ranks inputs by uncertainty, most uncertain first, without decoding any image.
Every row carries both scores and the out-of-distribution verdict:
  uncertainty   aleatoric: the adapter's mean variance (how vague the input is)
  epistemic     how far the input lies from what the preset was trained on
                (1 − mean cosine to its nearest training inputs), with its
                percentile among held-out inputs; empty if the preset has none
  ood           1 when the input is outside what the preset knows: words its
                caption corpus never had, longer than any training caption, or
                an epistemic score above the preset's flag quantile

  --file <path>             one caption per line; blank lines are skipped
  --images <path>           image files, or folders of .png/.jpg/.jpeg/.webp files;
                            further paths may follow as plain arguments
  --rank-by aleatoric|epistemic
                            the score to rank by (default: aleatoric)
  --format csv|json         output format (default: csv)
  --out <file>              write there instead of standard output
  --preset <name|dir>       model preset (default: the bundled "shapes")
  -h, --help                show this help`;

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Strict flags plus -h/--help (thrown as HelpRequested with `usage`); node:util's errors become UsageErrors. */
export function parse(argv: readonly string[], options: Options, usage: string) {
  try {
    const parsed = parseArgs({ args: joinNegativeValues(argv, options), options: { ...options, help: { type: "boolean", short: "h" } }, allowPositionals: true, strict: true });
    if (parsed.values.help) throw new HelpRequested(usage);
    return parsed;
  } catch (error) {
    if (error instanceof HelpRequested) throw error;
    // node:util's messages already name the flag ("Unknown option '--x'", "Option '--seed <value>' argument missing").
    const message = (error as Error).message.replace(/\. To specify a positional argument.*$/s, "");
    throw new UsageError(message.replace(/\s*\n\s*/g, " "));
  }
}

/**
 * `--seed -4` as `--seed=-4`: node:util reads a value that starts with a dash as another option and
 * calls the flag "ambiguous", where the user meant a (negative) number the flag's own check refuses.
 */
function joinNegativeValues(argv: readonly string[], options: Options): string[] {
  const takesValue = (arg: string) => arg.startsWith("--") && options[arg.slice(2)]?.type === "string";
  const joined: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const next = argv[i + 1];
    if (takesValue(argv[i]) && next !== undefined && /^-\d/.test(next)) {
      joined.push(`${argv[i]}=${next}`);
      i++;
    } else joined.push(argv[i]);
  }
  return joined;
}

export function parseNumber(flag: string, raw: string, allowed: string, ok: (v: number) => boolean): number {
  const value = raw.trim() === "" ? Number.NaN : Number(raw);
  if (!ok(value)) throw new UsageError(`--${flag} must be ${allowed}, got ${JSON.stringify(raw)}`);
  return value;
}

export const isInteger = (min: number) => (v: number) => Number.isSafeInteger(v) && v >= min;

function parseList(flag: string, raw: string, allowed: string, ok: (v: number) => boolean): number[] {
  const parts = raw.split(",").map((part) => part.trim());
  return parts.map((part, i) => {
    const value = part === "" ? Number.NaN : Number(part);
    if (!ok(value)) {
      throw new UsageError(`--${flag} must be a comma-separated list of ${allowed}; item ${i + 1} is ${JSON.stringify(part)}`);
    }
    return value;
  });
}

/** A flag's number within one of the engine's fixed ranges. */
const parseInRange = (flag: string, raw: string, range: NumberRange) => parseNumber(flag, raw, describeRange(range), (v) => inRange(range, v));

const parseRangeList = (flag: string, raw: string, range: NumberRange) => parseList(flag, raw, describeRange(range, true), (v) => inRange(range, v));

function oneOf<T extends string>(flag: string, raw: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new UsageError(`--${flag} must be one of ${allowed.join(", ")}, got ${JSON.stringify(raw)}`);
  }
  return raw as T;
}

export function parseGridArgs(argv: readonly string[]): GridArgs {
  const { values, positionals } = parse(
    argv,
    {
      image: { type: "string" },
      plan: { type: "string" },
      rows: { type: "string" },
      lambdas: { type: "string" },
      quantiles: { type: "string" },
      fractions: { type: "string" },
      tail: { type: "string" },
      cols: { type: "string" },
      seed: { type: "string" },
      steps: { type: "string" },
      guidance: { type: "string" },
      "noise-level": { type: "string" },
      scheduler: { type: "string" },
      prompt: { type: "string" },
      preset: { type: "string" },
      out: { type: "string" },
      json: { type: "boolean" },
      "cells-dir": { type: "string" },
    },
    GRID_USAGE,
  );
  const v = values as Record<string, string | boolean | undefined>;
  const str = (flag: string) => v[flag] as string | undefined;

  let input: GridArgs["input"];
  if (str("image") !== undefined) {
    if (positionals.length > 0) throw new UsageError(`give either a caption or --image, not both (got caption ${JSON.stringify(positionals.join(" "))})`);
    if (str("image") === "") throw new UsageError("--image must name an image file");
    input = { kind: "image", path: str("image")! };
  } else if (positionals.length === 1) {
    if (positionals[0].trim() === "") throw new UsageError("the caption is empty");
    input = { kind: "caption", text: positionals[0] };
  } else if (positionals.length === 0) {
    throw new UsageError('give a caption ("a red shape") or --image <file>');
  } else {
    throw new UsageError(`expected one caption, got ${positionals.length} arguments; quote the caption: "${positionals.join(" ")}"`);
  }

  const optional = <T>(flag: string, read: (raw: string) => T): T | undefined => (str(flag) === undefined ? undefined : read(str(flag)!));
  const rows = optional("rows", (raw) => parseNumber("rows", raw, "an integer ≥ 1", isInteger(1)));
  const levelFlags = { geodesic: "fractions", interpolate: "lambdas", shell: "quantiles" } as const satisfies Record<PlanKind, string>;
  const given = (Object.entries(levelFlags) as [keyof typeof levelFlags, string][]).filter(([, flag]) => str(flag) !== undefined);
  if (given.length > 1) throw new UsageError(`--${given[0][1]} and --${given[1][1]} belong to different plans; give one`);
  const planFlag = str("plan");
  const kind = planFlag === undefined ? (given[0]?.[0] ?? DEFAULT_PLAN_KIND) : oneOf("plan", planFlag, PLAN_KINDS);
  const wrong = given.find(([plan]) => plan !== kind);
  if (wrong) throw new UsageError(`--${wrong[1]} needs --plan ${wrong[0]}; use --${levelFlags[kind]} with --plan ${kind}`);
  if (str("tail") !== undefined && kind !== "geodesic") throw new UsageError("--tail needs --plan geodesic");
  if (rows !== undefined && given.length > 0) throw new UsageError(`--rows cannot be combined with --${given[0][1]}; the list already sets the rows`);
  const withRows = rows !== undefined ? { rows } : {};
  let plan: GridPlanArgs;
  if (kind === "geodesic") {
    const fractions = optional("fractions", (raw) => parseRangeList("fractions", raw, FRACTION_RANGE));
    const tail = optional("tail", (raw) => parseInRange("tail", raw, QUANTILE_RANGE));
    plan = { kind, ...(fractions && { fractions }), ...(tail !== undefined && { tail }), ...withRows };
  } else if (kind === "interpolate") {
    const lambdas = optional("lambdas", (raw) => parseRangeList("lambdas", raw, LAMBDA_RANGE));
    plan = { kind, ...(lambdas && { lambdas }), ...withRows };
  } else {
    const quantiles = optional("quantiles", (raw) => parseRangeList("quantiles", raw, QUANTILE_RANGE));
    plan = { kind, ...(quantiles && { quantiles }), ...withRows };
  }

  const out = str("out") ?? "grid.png";
  if (!/\.png$/i.test(out)) throw new UsageError(`--out must name a .png file (the run is embedded as PNG text), got ${JSON.stringify(out)}`);
  if (str("cells-dir") === "") throw new UsageError("--cells-dir must name a folder");

  return {
    input,
    plan,
    cols: optional("cols", (raw) => parseNumber("cols", raw, "an integer ≥ 1", isInteger(1))),
    seed: optional("seed", (raw) => parseInRange("seed", raw, SEED_RANGE)),
    steps: optional("steps", (raw) => parseNumber("steps", raw, "an integer ≥ 1", isInteger(1))),
    guidanceScale: optional("guidance", (raw) => parseInRange("guidance", raw, GUIDANCE_SCALE_RANGE)),
    noiseLevel: optional("noise-level", (raw) => parseNumber("noise-level", raw, "an integer ≥ 0", isInteger(0))),
    scheduler: optional("scheduler", (raw) => oneOf("scheduler", raw, SCHEDULER_TYPES)),
    prompt: str("prompt"),
    preset: optional("preset", (raw) => {
      if (raw.trim() === "") throw new UsageError("--preset must name a preset or a preset folder");
      return raw;
    }),
    out,
    json: v.json === true,
    cellsDir: str("cells-dir"),
  };
}

export type UncertaintyFormat = "csv" | "json";

export interface UncertaintyArgs {
  readonly source: { readonly kind: "captions"; readonly file: string } | { readonly kind: "images"; readonly paths: readonly string[] };
  readonly format: UncertaintyFormat;
  readonly rankBy: RankBy;
  readonly out?: string;
  readonly preset?: string;
}

export type RankBy = "aleatoric" | "epistemic";

export function parseUncertaintyArgs(argv: readonly string[]): UncertaintyArgs {
  const { values, positionals } = parse(
    argv,
    {
      file: { type: "string" },
      images: { type: "string", multiple: true },
      format: { type: "string" },
      "rank-by": { type: "string" },
      out: { type: "string" },
      preset: { type: "string" },
    },
    UNCERTAINTY_USAGE,
  );
  const v = values as Record<string, string | string[] | undefined>;
  const file = v.file as string | undefined;
  const images = v.images as string[] | undefined;
  if (file !== undefined && images !== undefined) throw new UsageError("give either --file or --images, not both");
  let source: UncertaintyArgs["source"];
  if (file !== undefined) {
    if (positionals.length > 0) {
      throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}; --file reads every caption from the file`);
    }
    if (file === "") throw new UsageError("--file must name a text file");
    source = { kind: "captions", file };
  } else if (images !== undefined) {
    const paths = [...images, ...positionals];
    if (paths.some((p) => p === "")) throw new UsageError("--images paths must not be empty");
    source = { kind: "images", paths };
  } else {
    throw new UsageError("give --file <captions.txt> or --images <dir|file>...");
  }
  const format = v.format === undefined ? "csv" : oneOf("format", v.format as string, ["csv", "json"] as const);
  const rankBy = v["rank-by"] === undefined ? "aleatoric" : oneOf("rank-by", v["rank-by"] as string, ["aleatoric", "epistemic"] as const);
  const out = v.out as string | undefined;
  if (out === "") throw new UsageError("--out must name a file");
  const preset = v.preset as string | undefined;
  if (preset !== undefined && preset.trim() === "") throw new UsageError("--preset must name a preset or a preset folder");
  return { source, format, rankBy, ...(out !== undefined && { out }), ...(preset !== undefined && { preset }) };
}

/**
 * The engine request for parsed grid arguments and the input they named (an image's bytes are
 * read by the caller); unset options stay unset so the preset's defaults apply.
 */
export function toRunRequest(args: GridArgs, input: RunRequest["input"]): RunRequest {
  const { plan, cols, seed, steps, guidanceScale, noiseLevel, scheduler, prompt } = args;
  return { input, plan, cols, seed, steps, guidanceScale, noiseLevel, scheduler, prompt };
}

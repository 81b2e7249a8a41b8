import { z } from "zod";
import { configurationError } from "./runs/errors";
import { FRONT_DEFAULTS, type FrontOptions } from "./server/front";
import { parseBucketRule } from "./server/rate-limit";

/*
 * The server's settings, read from the environment once, here, and validated as a whole: a bad
 * value is a configuration fault (HTTP 500 whose message names the variable; the value goes only
 * to the server log). The engine's own variables (PENUMBRA_PROVIDERS, PENUMBRA_THREADS, PENUMBRA_THREAD_SPINNING,
 * PENUMBRA_MODELS_DIR, PENUMBRA_CACHE_DIR) are read by the engine, which the CLI uses without a server.
 */

const MiB = 1024 * 1024;

const count = z
  .string()
  .trim()
  .regex(/^\d+$/, { message: "must be a whole number ≥ 0" })
  .transform(Number)
  .refine(Number.isSafeInteger, { message: "is too large" });
const url = (schemes: readonly string[]) =>
  z
    .string()
    .trim()
    .refine((text) => URL.canParse(text) && schemes.includes(new URL(text).protocol), { message: `must be a URL starting ${schemes.map((s) => `${s}//`).join(" or ")}` });
const blankAsUnset = (value: unknown) => (typeof value === "string" && value.trim() === "" ? undefined : value);

const environmentSchema = z.object({
  PENUMBRA_DATA: z.preprocess(blankAsUnset, z.string().default("./.data")),
  PENUMBRA_QUEUE_LIMIT: z.preprocess(blankAsUnset, count.default(8)),
  // Eight of the default run: 5 rows × 4 samples × 20 steps, doubled by guidance (admission.ts, runCost).
  PENUMBRA_QUEUE_COST_LIMIT: z.preprocess(blankAsUnset, count.default(6400)),
  PENUMBRA_CLIENT_SHARE: z.preprocess(
    blankAsUnset,
    z
      .string()
      .trim()
      .regex(/^(0(\.\d+)?|1(\.0+)?)$/, { message: "must be a share between 0 and 1, e.g. 0.5" })
      .transform(Number)
      .default(0.5),
  ),
  PENUMBRA_IDLE_CANCEL_MS: z.preprocess(blankAsUnset, count.default(30_000)),
  PENUMBRA_MAX_UPLOAD_BYTES: z.preprocess(blankAsUnset, count.default(10 * MiB)),
  PENUMBRA_UPLOAD_QUOTA_BYTES: z.preprocess(blankAsUnset, count.default(100 * MiB)),
  PENUMBRA_UPLOAD_RETENTION_MS: z.preprocess(blankAsUnset, count.default(24 * 60 * 60 * 1000)),
  PENUMBRA_PRESET: z.preprocess(blankAsUnset, z.string().default("shapes")),
  PENUMBRA_DATABASE_URL: z.preprocess(blankAsUnset, url(["postgres:", "postgresql:"]).optional()),
  PENUMBRA_QUEUE_URL: z.preprocess(blankAsUnset, url(["redis:", "rediss:"]).optional()),
  PENUMBRA_WORKER_LOCK_MS: z.preprocess(blankAsUnset, count.refine((ms) => ms >= 1000, { message: "must be at least 1000" }).default(15_000)),
});

export type Environment = Readonly<Record<string, string | undefined>>;

export interface ServerConfig {
  /** Holds penumbra.db and files/ in the embedded deployment. */
  readonly dataDir: string;
  /** Most runs waiting for a worker, across every process. */
  readonly queueLimit: number;
  /** Most decoding cost waiting (admission.ts, runCost); a bigger run still gets its turn when nothing else waits. */
  readonly queueCostLimit: number;
  /** Most share of queueCostLimit one client's waiting runs may hold. */
  readonly clientShare: number;
  /** A queued or running run nobody has watched for this long is cancelled. */
  readonly idleCancelMs: number;
  readonly maxUploadBytes: number;
  /** Most bytes of uploads one client may store in 24 hours. */
  readonly uploadQuotaBytes: number;
  /** An upload no run names is deleted once it is this old. */
  readonly uploadRetentionMs: number;
  /** The preset of requests that name none. */
  readonly defaultPreset: string;
  /** Where runs, cells and uploads live in the distributed deployment; both URLs or neither. */
  readonly distributed: { readonly databaseUrl: string; readonly queueUrl: string } | null;
  /** How long a worker's claim on a run lasts without renewal; a killed worker's run is taken over after about this long. */
  readonly workerLockMs: number;
}

/** `env` read through `schema`; a bad value is a configuration fault naming its variable. */
function parseEnvironment<Schema extends z.ZodType>(schema: Schema, env: Environment): z.output<Schema> {
  const parsed = schema.safeParse(env);
  if (parsed.success) return parsed.data;
  const [issue] = parsed.error.issues;
  const variable = String(issue.path[0] ?? "");
  // The value goes only to the log (the error's cause); the client's message names the variable alone.
  throw configurationError(variable || null, new Error(`${variable} ${issue.message}, got ${JSON.stringify(env[variable])}`));
}

export function serverConfig(env: Environment = process.env): ServerConfig {
  const values = parseEnvironment(environmentSchema, env);
  const { PENUMBRA_DATABASE_URL: databaseUrl, PENUMBRA_QUEUE_URL: queueUrl } = values;
  if ((databaseUrl === undefined) !== (queueUrl === undefined)) {
    const missing = databaseUrl === undefined ? "PENUMBRA_DATABASE_URL" : "PENUMBRA_QUEUE_URL";
    throw configurationError(missing, new Error("the distributed deployment needs both PENUMBRA_DATABASE_URL (postgres://…) and PENUMBRA_QUEUE_URL (redis://…); set both, or neither for the embedded one"));
  }
  return {
    dataDir: values.PENUMBRA_DATA,
    queueLimit: values.PENUMBRA_QUEUE_LIMIT,
    queueCostLimit: values.PENUMBRA_QUEUE_COST_LIMIT,
    clientShare: values.PENUMBRA_CLIENT_SHARE,
    idleCancelMs: values.PENUMBRA_IDLE_CANCEL_MS,
    maxUploadBytes: values.PENUMBRA_MAX_UPLOAD_BYTES,
    uploadQuotaBytes: values.PENUMBRA_UPLOAD_QUOTA_BYTES,
    uploadRetentionMs: values.PENUMBRA_UPLOAD_RETENTION_MS,
    defaultPreset: values.PENUMBRA_PRESET,
    distributed: databaseUrl !== undefined && queueUrl !== undefined ? { databaseUrl, queueUrl } : null,
    workerLockMs: values.PENUMBRA_WORKER_LOCK_MS,
  };
}

const bucketRule = z.string().transform((text, context) => {
  try {
    return parseBucketRule(text);
  } catch (error) {
    context.addIssue({ code: "custom", message: (error as Error).message });
    return z.NEVER;
  }
});
const headerName = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9-]+$/, { message: "must be a header name such as x-forwarded-for" })
  .transform((name) => name.toLowerCase());

const frontSchema = z.object({
  PENUMBRA_READ_LIMIT: z.preprocess(blankAsUnset, bucketRule.optional()),
  PENUMBRA_WRITE_LIMIT: z.preprocess(blankAsUnset, bucketRule.optional()),
  PENUMBRA_CLIENT_ADDRESS_HEADER: z.preprocess(blankAsUnset, headerName.optional()),
});

/** The front server's settings (bin/serve.ts): per-client limits and where the client's address comes from. */
export function frontConfig(env: Environment = process.env): FrontOptions {
  const values = parseEnvironment(frontSchema, env);
  return {
    ...FRONT_DEFAULTS,
    reads: values.PENUMBRA_READ_LIMIT === undefined ? FRONT_DEFAULTS.reads : values.PENUMBRA_READ_LIMIT,
    writes: values.PENUMBRA_WRITE_LIMIT === undefined ? FRONT_DEFAULTS.writes : values.PENUMBRA_WRITE_LIMIT,
    clientHeader: values.PENUMBRA_CLIENT_ADDRESS_HEADER ?? null,
  };
}

import { EngineError } from "../engine/index";

/*
 * The one error type lib/runs throws on purpose. Route handlers answer
 * `{ error: { code, message } }` with `status` (and Retry-After for queue_full).
 *
 * 4xx codes are what the request got wrong, with a message that says what is allowed. 5xx codes
 * are the server's own faults: their message is safe to show (it names the kind of fault, a
 * preset's name or a setting's variable, never a path or a setting's value) and the details are
 * the error's `cause`, for the server log. `unavailable` (503) is the one 5xx that passes: the
 * storage refuses writes (a full disk, a read-only data folder) while reads keep working.
 */

export type RunErrorCode =
  | "invalid_input"
  | "not_found"
  | "forbidden"
  | "conflict"
  | "payload_too_large"
  | "unsupported_media_type"
  | "queue_full"
  | "quota_exceeded"
  | "invalid_preset"
  | "model_error"
  | "configuration"
  | "internal"
  | "unavailable";

const STATUS: Readonly<Record<RunErrorCode, number>> = {
  invalid_input: 400,
  not_found: 404,
  forbidden: 403,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  queue_full: 429,
  quota_exceeded: 429,
  invalid_preset: 500,
  model_error: 500,
  configuration: 500,
  internal: 500,
  unavailable: 503,
};

export class RunError extends Error {
  override readonly name = "RunError";
  readonly code: RunErrorCode;
  readonly status: number;
  /** Only on queue_full: when trying again is likely to succeed. */
  readonly retryAfterSeconds?: number;

  constructor(code: RunErrorCode, message: string, options: { retryAfterSeconds?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = STATUS[code];
    if (options.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** The server's own fault (5xx): its message is safe to show, its cause belongs in the server log. */
export function isServerFault(error: RunError): boolean {
  return error.status >= 500;
}

/** A bad setting in the server's environment: the message names the variable, the log gets `detail` (which may quote its value). */
export function configurationError(variable: string | null, detail: unknown): RunError {
  const what = variable ? `the server's setting ${variable} is invalid` : "the server's configuration is invalid";
  return new RunError("configuration", `${what}; see the server log`, { cause: detail });
}

function presetFault(code: "invalid_preset" | "model_error", preset: string | undefined, cause: unknown): RunError {
  const named = preset === undefined ? "one of the server's presets" : `the server's preset ${JSON.stringify(preset)}`;
  const what = code === "invalid_preset" ? `${named} failed its checks` : `a model of ${named} failed`;
  return new RunError(code, `${what}; see the server log`, { cause });
}

/** The PENUMBRA_* variable an engine error's message names, if any (the name is safe to show). */
function variableIn(message: string): string | null {
  return /\bPENUMBRA_[A-Z0-9_]+\b/.exec(message)?.[0] ?? null;
}

/** Why storage refuses writes: no room left, or no permission to write at all. */
export type StorageFault = "full" | "read-only";

/**
 * The storage fault a database error names, by its code: SQLite's (better-sqlite3's SqliteError)
 * and PostgreSQL's disk_full (SQLSTATE 53100). File-system errors are classified by the file
 * store, which knows it was writing (files.ts); an EACCES elsewhere (a model file) is no such fault.
 */
export function databaseFault(error: unknown): StorageFault | null {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return null;
  if (code === "SQLITE_FULL" || code === "53100") return "full";
  // SQLITE_READONLY and its extended codes (SQLITE_READONLY_DBMOVED, …); PostgreSQL's
  // read_only_sql_transaction (25006: a hot standby, or default_transaction_read_only).
  if (code === "SQLITE_READONLY" || code.startsWith("SQLITE_READONLY_") || code === "25006") return "read-only";
  return null;
}

/** Storage that refuses writes: 503 with a message that names the fault, never the folder; the cause goes to the log. */
export function unavailableError(fault: StorageFault, cause: unknown): RunError {
  const why = fault === "full" ? "its disk is full" : "its data folder is read-only";
  return new RunError("unavailable", `the server cannot store new data right now (${why}); try again later`, { cause });
}

/**
 * The text with every absolute path replaced by its last part: `open '/srv/data/files/d0/x.tmp'`
 * becomes `open 'x.tmp'`. For messages a client sees (a run's stored error); the full text goes
 * to the server log. A path is a `/` starting a word (after a space, quote, bracket or `=`) with a
 * second `/` later; a ratio such as 1/2 and the app's own routes (/api/…) stay.
 */
export function withoutServerPaths(text: string): string {
  return text.replace(/(^|[\s"'`(\[=])\/(?!api\/)[^\s"'`()\[\]]*\/([^\s"'`()\[\]/]*)/g, (_match, before: string, last: string) => `${before}${last || "…"}`);
}

export interface ErrorContext {
  /** The preset the failing call was about, named in a server fault's message. */
  readonly preset?: string;
  /**
   * The error came from opening that preset's engine, after the client's preset name was checked:
   * whatever failed is the server's (its preset files or its settings), never the request.
   */
  readonly opening?: boolean;
}

/*
 * Next.js bundles instrumentation.ts apart from the routes, so a process can hold two copies of
 * these classes: the service instrumentation opens (kept on globalThis) throws the one, a route's
 * respond() catches with the other, and `instanceof` fails across them. Their name and code are
 * the same in every copy.
 */
function isRunError(error: unknown): error is RunError {
  return error instanceof RunError || (error instanceof Error && error.name === "RunError" && typeof (error as RunError).code === "string" && (error as RunError).code in STATUS);
}

function isEngineError(error: unknown): error is EngineError {
  return error instanceof EngineError || (error instanceof Error && error.name === "EngineError" && typeof (error as EngineError).code === "string");
}

/**
 * Any thrown value as a RunError. Engine input problems are the client's (400 with the engine's
 * message), a missing preset is 404; a preset that fails its checks, a failing model and a bad
 * setting are the server's (500 with a safe message, the engine's message kept as the cause); a
 * database refusing writes is 503 (unavailable); anything else is internal, its message without
 * server paths.
 */
export function toRunError(error: unknown, context: ErrorContext = {}): RunError {
  if (isRunError(error)) return error;
  if (isEngineError(error)) {
    const code = context.opening ? openingCode(error.code) : error.code;
    if (code === "invalid_input") return new RunError("invalid_input", error.message, { cause: error });
    if (code === "not_found") return new RunError("not_found", error.message, { cause: error });
    if (code === "invalid_preset" || code === "model_error") return presetFault(code, context.preset, error);
    if (code === "configuration") return configurationError(variableIn(error.message), error);
  }
  const fault = databaseFault(error);
  if (fault) return unavailableError(fault, error);
  return new RunError("internal", `internal error: ${withoutServerPaths(readableMessage(error))}`, { cause: error });
}

/** While a preset opens, the request is no longer involved: bad input can only be a setting, a missing file is a broken preset. */
function openingCode(code: EngineError["code"]): EngineError["code"] {
  if (code === "invalid_input") return "configuration";
  if (code === "not_found") return "invalid_preset";
  return code;
}

/** A thrown value's message for a person: never a stack trace. */
export function readableMessage(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

import { EngineError } from "../engine/index";

/*
 * The one error type lib/runs throws on purpose. Route handlers answer
 * `{ error: { code, message } }` with `status` (and Retry-After for queue_full).
 *
 * 4xx codes are what the request got wrong, with a message that says what is allowed. 5xx codes
 * are the server's own faults: their message is safe to show (it names the kind of fault, a
 * preset's name or a setting's variable, never a path or a setting's value) and the details are
 * the error's `cause`, for the server log.
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
  | "internal";

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

export interface ErrorContext {
  /** The preset the failing call was about, named in a server fault's message. */
  readonly preset?: string;
  /**
   * The error came from opening that preset's engine, after the client's preset name was checked:
   * whatever failed is the server's (its preset files or its settings), never the request.
   */
  readonly opening?: boolean;
}

/**
 * Any thrown value as a RunError. Engine input problems are the client's (400 with the engine's
 * message), a missing preset is 404; a preset that fails its checks, a failing model and a bad
 * setting are the server's (500 with a safe message, the engine's message kept as the cause), and
 * so is anything else (internal).
 */
export function toRunError(error: unknown, context: ErrorContext = {}): RunError {
  if (error instanceof RunError) return error;
  if (error instanceof EngineError) {
    const code = context.opening ? openingCode(error.code) : error.code;
    if (code === "invalid_input") return new RunError("invalid_input", error.message, { cause: error });
    if (code === "not_found") return new RunError("not_found", error.message, { cause: error });
    if (code === "invalid_preset" || code === "model_error") return presetFault(code, context.preset, error);
    if (code === "configuration") return configurationError(variableIn(error.message), error);
  }
  return new RunError("internal", `internal error: ${readableMessage(error)}`, { cause: error });
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

import { EngineError } from "../engine/index";

/*
 * The one error type lib/runs throws on purpose. Route handlers answer
 * `{ error: { code, message } }` with `status` (and Retry-After for queue_full).
 */

export type RunErrorCode = "invalid_input" | "not_found" | "conflict" | "payload_too_large" | "unsupported_media_type" | "queue_full" | "internal";

const STATUS: Readonly<Record<RunErrorCode, number>> = {
  invalid_input: 400,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  queue_full: 429,
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

/**
 * Any thrown value as a RunError: engine input and preset problems are the client's (400, with
 * the engine's message), a missing preset is 404, anything else is the server's own failure.
 */
export function toRunError(error: unknown): RunError {
  if (error instanceof RunError) return error;
  if (error instanceof EngineError) {
    if (error.code === "invalid_input" || error.code === "invalid_preset") return new RunError("invalid_input", error.message, { cause: error });
    if (error.code === "not_found") return new RunError("not_found", error.message, { cause: error });
  }
  return new RunError("internal", `internal error: ${readableMessage(error)}`, { cause: error });
}

/** A thrown value's message for a person: never a stack trace. */
export function readableMessage(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

/** What kind of failure an engine call hit; callers map these to HTTP statuses or CLI exit codes. */
export type EngineErrorCode = "invalid_input" | "invalid_preset" | "model_error" | "cancelled" | "not_found";

/** The one error type the engine throws on purpose; the message says what was wrong and what is allowed. */
export class EngineError extends Error {
  override readonly name = "EngineError";
  readonly code: EngineErrorCode;

  constructor(code: EngineErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

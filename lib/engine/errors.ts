/**
 * What kind of failure an engine call hit; callers map these to HTTP statuses or CLI exit codes.
 * invalid_input, not_found and cancelled are the caller's; invalid_preset (a preset that fails its
 * checks), model_error (a model that misbehaves) and configuration (a bad setting in the
 * environment, such as PENUMBRA_PROVIDERS; the message starts with the variable's name) are the
 * server's own faults.
 */
export type EngineErrorCode = "invalid_input" | "invalid_preset" | "model_error" | "configuration" | "cancelled" | "not_found";

/** The one error type the engine throws on purpose; the message says what was wrong and what is allowed. */
export class EngineError extends Error {
  override readonly name = "EngineError";
  readonly code: EngineErrorCode;

  constructor(code: EngineErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

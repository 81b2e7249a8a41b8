import { EngineError, type EngineErrorCode, type ProviderReports } from "../../engine/index";
import { RunError, type RunErrorCode } from "../errors";
import { type CellProgress, type DecodeJob, type PlannedGrid, PresetOpenError } from "./core";

/*
 * The messages between a host thread and its decode thread. Every request carries an id its
 * answer repeats; a decode's progress and cells stream back under the decode's request id.
 * Errors cross as plain data and are rebuilt as the class they were, so a host classifies a
 * failure in the decode thread exactly as one in its own thread.
 */

export type HostMessage =
  | { readonly type: "plan"; readonly requestId: number; readonly job: DecodeJob }
  | { readonly type: "decode"; readonly requestId: number; readonly jobId: string; readonly indices: readonly number[] }
  | { readonly type: "cancel"; readonly requestId: number }
  | { readonly type: "release"; readonly jobId: string }
  | { readonly type: "providers"; readonly requestId: number; readonly presetName: string }
  /** Finish what is in flight, then answer "closed"; the host ends the thread after that. */
  | { readonly type: "close"; readonly requestId: number };

export type ThreadMessage =
  | { readonly type: "planned"; readonly requestId: number; readonly planned: PlannedGrid }
  | { readonly type: "progress"; readonly requestId: number; readonly progress: CellProgress }
  | { readonly type: "cell"; readonly requestId: number; readonly index: number; readonly png: Uint8Array }
  | { readonly type: "decoded"; readonly requestId: number; readonly providers: ProviderReports }
  | { readonly type: "providers"; readonly requestId: number; readonly providers: ProviderReports }
  | { readonly type: "closed"; readonly requestId: number }
  | { readonly type: "failed"; readonly requestId: number; readonly error: SerializedError };

export interface SerializedError {
  readonly kind: "engine" | "run" | "preset-open" | "other";
  readonly code?: string;
  readonly message: string;
  readonly stack?: string;
  readonly presetName?: string;
  readonly cause?: SerializedError;
}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof PresetOpenError) {
    return { kind: "preset-open", message: error.message, presetName: error.presetName, stack: error.stack, cause: serializeError(error.cause) };
  }
  if (error instanceof EngineError) return { kind: "engine", code: error.code, message: error.message, stack: error.stack };
  if (error instanceof RunError) return { kind: "run", code: error.code, message: error.message, stack: error.stack };
  if (error instanceof Error) return { kind: "other", message: error.message || error.name, stack: error.stack };
  return { kind: "other", message: String(error) };
}

export function deserializeError(error: SerializedError): Error {
  let rebuilt: Error;
  if (error.kind === "preset-open") rebuilt = new PresetOpenError(error.presetName ?? "", error.cause && deserializeError(error.cause));
  else if (error.kind === "engine") rebuilt = new EngineError(error.code as EngineErrorCode, error.message);
  else if (error.kind === "run") rebuilt = new RunError(error.code as RunErrorCode, error.message);
  else rebuilt = new Error(error.message);
  // The decode thread's stack is the one that says where it failed.
  if (error.stack) rebuilt.stack = error.stack;
  return rebuilt;
}

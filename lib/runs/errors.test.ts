import { describe, expect, it } from "vitest";
import { EngineError } from "../engine/index";
import { readableMessage, RunError, toRunError } from "./errors";

describe("RunError", () => {
  it("carries the HTTP status of its code", () => {
    expect(new RunError("invalid_input", "x").status).toBe(400);
    expect(new RunError("not_found", "x").status).toBe(404);
    expect(new RunError("conflict", "x").status).toBe(409);
    expect(new RunError("payload_too_large", "x").status).toBe(413);
    expect(new RunError("unsupported_media_type", "x").status).toBe(415);
    const full = new RunError("queue_full", "x", { retryAfterSeconds: 3 });
    expect([full.status, full.retryAfterSeconds]).toEqual([429, 3]);
    expect(new RunError("internal", "x").status).toBe(500);
  });

  it("maps engine errors to the client's 400 and 404 with the engine's message", () => {
    expect(toRunError(new EngineError("invalid_input", "the caption is empty"))).toMatchObject({ code: "invalid_input", status: 400, message: "the caption is empty" });
    expect(toRunError(new EngineError("invalid_preset", "bad preset"))).toMatchObject({ code: "invalid_input", status: 400 });
    expect(toRunError(new EngineError("not_found", "unknown preset"))).toMatchObject({ code: "not_found", status: 404 });
  });

  it("turns anything else into internal, without a stack", () => {
    const error = toRunError(new TypeError("boom"));
    expect(error).toMatchObject({ code: "internal", status: 500, message: "internal error: boom" });
    expect(readableMessage("plain")).toBe("plain");
    const same = new RunError("conflict", "c");
    expect(toRunError(same)).toBe(same);
  });
});

import { describe, expect, it, vi } from "vitest";
import { EngineError } from "../engine/index";
import Database from "better-sqlite3";
import { configurationError, isServerFault, readableMessage, RunError, toRunError, unavailableError, withoutServerPaths } from "./errors";

describe("RunError", () => {
  it("carries the HTTP status of its code", () => {
    expect(new RunError("invalid_input", "x").status).toBe(400);
    expect(new RunError("not_found", "x").status).toBe(404);
    expect(new RunError("conflict", "x").status).toBe(409);
    expect(new RunError("payload_too_large", "x").status).toBe(413);
    expect(new RunError("unsupported_media_type", "x").status).toBe(415);
    const full = new RunError("queue_full", "x", { retryAfterSeconds: 3 });
    expect([full.status, full.retryAfterSeconds]).toEqual([429, 3]);
    for (const code of ["invalid_preset", "model_error", "configuration", "internal"] as const) expect(new RunError(code, "x").status).toBe(500);
    expect(new RunError("unavailable", "x").status).toBe(503);
  });

  it("maps the client's engine errors to 400 and 404 with the engine's message", () => {
    expect(toRunError(new EngineError("invalid_input", "the caption is empty"))).toMatchObject({ code: "invalid_input", status: 400, message: "the caption is empty" });
    expect(toRunError(new EngineError("not_found", "unknown preset"))).toMatchObject({ code: "not_found", status: 404 });
  });

  it("maps the server's engine errors to 500 with a safe message, keeping the engine's as the cause", () => {
    const corrupt = new EngineError("invalid_preset", "preset file /srv/models/shapes/unet.onnx has sha256 00, but preset.json says 11");
    const preset = toRunError(corrupt, { preset: "shapes" });
    expect(preset).toMatchObject({ code: "invalid_preset", status: 500, message: 'the server\'s preset "shapes" failed its checks; see the server log', cause: corrupt });
    expect(isServerFault(preset)).toBe(true);
    expect(toRunError(corrupt).message).toBe("one of the server's presets failed its checks; see the server log");
    expect(toRunError(new EngineError("model_error", "/srv/models/shapes/unet.onnx failed"), { preset: "shapes" })).toMatchObject({
      code: "model_error",
      status: 500,
      message: 'a model of the server\'s preset "shapes" failed; see the server log',
    });
    expect(toRunError(new EngineError("configuration", 'PENUMBRA_THREADS must be an integer ≥ 1, got "x"'))).toMatchObject({
      code: "configuration",
      status: 500,
      message: "the server's setting PENUMBRA_THREADS is invalid; see the server log",
    });
    expect(configurationError(null, new Error("x")).message).toBe("the server's configuration is invalid; see the server log");
  });

  it("takes whatever fails while a preset opens as the server's: a bad setting or a broken preset", () => {
    const providers = new EngineError("invalid_input", 'PENUMBRA_PROVIDERS: unknown provider "tpu"; use a comma list of cuda, webgpu, cpu');
    const opened = toRunError(providers, { preset: "shapes", opening: true });
    expect(opened).toMatchObject({ code: "configuration", status: 500, message: "the server's setting PENUMBRA_PROVIDERS is invalid; see the server log" });
    expect(opened.message).not.toMatch(/tpu/);
    expect(toRunError(new EngineError("not_found", "cannot read /srv/models/shapes/preset.json"), { preset: "shapes", opening: true })).toMatchObject({
      code: "invalid_preset",
      status: 500,
    });
  });

  it("maps a database that refuses writes to 503 unavailable, naming the fault and no path", () => {
    const full = new Database.SqliteError("database or disk is full", "SQLITE_FULL");
    expect(toRunError(full)).toMatchObject({
      code: "unavailable",
      status: 503,
      message: "the server cannot store new data right now (its disk is full); try again later",
      cause: full,
    });
    for (const code of ["SQLITE_READONLY", "SQLITE_READONLY_DBMOVED"]) {
      expect(toRunError(new Database.SqliteError("attempt to write a readonly database", code))).toMatchObject({
        code: "unavailable",
        message: "the server cannot store new data right now (its data folder is read-only); try again later",
      });
    }
    // PostgreSQL's disk_full, as pg reports it.
    expect(toRunError(Object.assign(new Error('could not extend file "base/16384/16385": No space left on device'), { code: "53100" }))).toMatchObject({ code: "unavailable", status: 503 });
    // PostgreSQL refusing writes (a hot standby, or default_transaction_read_only).
    expect(toRunError(Object.assign(new Error("cannot execute INSERT in a read-only transaction"), { code: "25006" }))).toMatchObject({
      code: "unavailable",
      status: 503,
      message: expect.stringContaining("read-only"),
    });
    expect(isServerFault(unavailableError("full", null))).toBe(true);
    // Other database errors stay internal.
    expect(toRunError(new Database.SqliteError("UNIQUE constraint failed: runs.id", "SQLITE_CONSTRAINT_PRIMARYKEY"))).toMatchObject({ code: "internal" });
  });

  it("leaves no absolute path in an internal error's message", () => {
    const cause = Object.assign(new Error("EIO: i/o error, write '/tmp/penumbra-runs-x1/files/d0/d0c4.1234.a1b2c3.tmp'"), { code: "EIO" });
    const error = toRunError(cause);
    expect(error).toMatchObject({ code: "internal", message: "internal error: EIO: i/o error, write 'd0c4.1234.a1b2c3.tmp'", cause });
  });

  it("strips absolute paths from text down to their last part, and nothing else", () => {
    expect(withoutServerPaths("EROFS: read-only file system, open '/srv/penumbra/files/d0/x.tmp'")).toBe("EROFS: read-only file system, open 'x.tmp'");
    expect(withoutServerPaths("/srv/models/shapes/unet.onnx failed (see /var/log/p/)")).toBe("unet.onnx failed (see …)");
    expect(withoutServerPaths('cannot read "/a/b" or path=/c/d/e.json')).toBe('cannot read "b" or path=e.json');
    for (const kept of ["cols must be at most 1/2 of rows", "upload it with POST /api/uploads first", "the file /etc is a folder", "no run with id 0123456789ab"]) {
      expect(withoutServerPaths(kept)).toBe(kept);
    }
  });

  it("turns anything else into internal, without a stack", () => {
    const error = toRunError(new TypeError("boom"));
    expect(error).toMatchObject({ code: "internal", status: 500, message: "internal error: boom" });
    expect(readableMessage("plain")).toBe("plain");
    const same = new RunError("conflict", "c");
    expect(toRunError(same)).toBe(same);
  });
});

describe("toRunError across module copies", () => {
  it("keeps the code and status of a RunError or EngineError thrown by another copy of these modules", async () => {
    // What Next.js does to instrumentation.ts and the routes: each bundle loads its own copy.
    vi.resetModules();
    const other = await import("./errors");
    const otherEngine = await import("../engine/errors");
    expect(other.RunError).not.toBe(RunError);
    const refused = toRunError(new other.RunError("unsupported_media_type", "not an image", {}));
    expect(refused).toMatchObject({ code: "unsupported_media_type", status: 415, message: "not an image" });
    const full = toRunError(new other.RunError("queue_full", "the queue is full", { retryAfterSeconds: 7 }));
    expect(full).toMatchObject({ code: "queue_full", status: 429, retryAfterSeconds: 7 });
    expect(toRunError(new otherEngine.EngineError("invalid_input", "cols must be ≥ 1"))).toMatchObject({ code: "invalid_input", status: 400 });
    // A look-alike without a known code is still internal.
    const impostor = Object.assign(new Error("x"), { name: "RunError", code: "made_up" });
    expect(toRunError(impostor).code).toBe("internal");
  });
});

import { describe, expect, it } from "vitest";
import { EngineError } from "../../lib/engine/index";
import { HelpRequested, UsageError } from "./args";
import { EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, reportError } from "./cli";

function report(error: unknown) {
  const out: string[] = [];
  const err: string[] = [];
  const code = reportError(error, { write: (t: string) => out.push(t) }, { write: (t: string) => err.push(t) });
  return { code, stdout: out.join(""), stderr: err.join("") };
}

describe("reportError", () => {
  it("prints help to stdout with exit code 0", () => {
    expect(report(new HelpRequested("usage: x"))).toEqual({ code: EXIT_OK, stdout: "usage: x\n", stderr: "" });
  });

  it("gives usage errors exit code 2 and a pointer to --help", () => {
    expect(report(new UsageError("--rows must be an integer ≥ 1, got \"0\""))).toEqual({
      code: EXIT_USAGE,
      stdout: "",
      stderr: 'error: --rows must be an integer ≥ 1, got "0"\nrun with --help for usage\n',
    });
  });

  it("gives engine and other errors exit code 1, one line, no stack", () => {
    expect(report(new EngineError("invalid_input", "the caption is empty"))).toEqual({ code: EXIT_FAILURE, stdout: "", stderr: "error: the caption is empty\n" });
    const { code, stderr } = report(new Error("EACCES: permission denied, open 'grid.png'"));
    expect(code).toBe(EXIT_FAILURE);
    expect(stderr).toBe("error: EACCES: permission denied, open 'grid.png'\n");
    expect(report("plain string").stderr).toBe("error: plain string\n");
  });

  it("exits 130 when the run was cancelled", () => {
    expect(report(new EngineError("cancelled", "the run was cancelled")).code).toBe(EXIT_INTERRUPTED);
  });
});

import { describe, expect, it } from "vitest";
import { runCli } from "./lib/fixtures";

describe("npm run preset:check", () => {
  it("resolves a bare name as grid --preset does: a bundled preset passes, an unknown one is named with what is available", async () => {
    const shapes = await runCli("preset-check.ts", ["shapes"]);
    expect(shapes.code).toBe(0);
    expect(shapes.stdout).toMatch(/shapes/);

    const unknown = await runCli("preset-check.ts", ["unclip-l"]);
    expect(unknown).toEqual({ code: 1, stdout: "", stderr: expect.stringMatching(/^error: unknown preset "unclip-l"; available: [^\n]*shapes[^\n]*\n$/) });

    // A path is checked as the folder it names, whatever is (not) in it.
    const folder = await runCli("preset-check.ts", ["./no-such-folder"]);
    expect(folder.code).toBe(1);
    expect(folder.stdout).toMatch(/^no preset\.json in .*no-such-folder\n$/);
  });
});

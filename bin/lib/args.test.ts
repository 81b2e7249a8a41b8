import { describe, expect, it } from "vitest";
import { GRID_USAGE, HelpRequested, parseGridArgs, parseUncertaintyArgs, UNCERTAINTY_USAGE, UsageError } from "./args";

function usageError(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error("expected a UsageError");
}

describe("parseGridArgs", () => {
  it("takes a caption and leaves unset options to the preset", () => {
    expect(parseGridArgs(["a red shape"])).toEqual({
      input: { kind: "caption", text: "a red shape" },
      plan: { kind: "geodesic" },
      cols: undefined,
      seed: undefined,
      steps: undefined,
      guidanceScale: undefined,
      noiseLevel: undefined,
      scheduler: undefined,
      prompt: undefined,
      preset: undefined,
      out: "grid.png",
      json: false,
      cellsDir: undefined,
    });
  });

  it("reads every option", () => {
    const args = parseGridArgs([
      "--image", "in.png", "--plan", "interpolate", "--lambdas", "0, 0.5,1,2.5", "--cols", "3", "--seed", "42",
      "--steps", "10", "--guidance", "7.5", "--noise-level", "250", "--scheduler", "ddim", "--preset", "./models/x",
      "--prompt", "", "--out", "x/Grid.PNG", "--json", "--cells-dir", "cells",
    ]);
    expect(args).toEqual({
      input: { kind: "image", path: "in.png" },
      plan: { kind: "interpolate", lambdas: [0, 0.5, 1, 2.5] },
      cols: 3,
      seed: 42,
      steps: 10,
      guidanceScale: 7.5,
      noiseLevel: 250,
      scheduler: "ddim",
      prompt: "",
      preset: "./models/x",
      out: "x/Grid.PNG",
      json: true,
      cellsDir: "cells",
    });
  });

  it("builds shell and row-count plans; --quantiles implies the shell plan", () => {
    expect(parseGridArgs(["c", "--quantiles", "0.01,0.5,0.99"]).plan).toEqual({ kind: "shell", quantiles: [0.01, 0.5, 0.99] });
    expect(parseGridArgs(["c", "--plan", "shell", "--rows", "4"]).plan).toEqual({ kind: "shell", rows: 4 });
    expect(parseGridArgs(["c", "--rows", "3"]).plan).toEqual({ kind: "geodesic", rows: 3 });
    expect(parseGridArgs(["c", "--plan=shell"]).plan).toEqual({ kind: "shell" });
    expect(parseGridArgs(["c", "--lambdas", "0,1"]).plan).toEqual({ kind: "interpolate", lambdas: [0, 1] });
    expect(parseGridArgs(["c", "--fractions", "0,0.5,1", "--tail", "0.9"]).plan).toEqual({ kind: "geodesic", fractions: [0, 0.5, 1], tail: 0.9 });
    expect(parseGridArgs(["c", "--plan", "interpolate", "--rows", "3"]).plan).toEqual({ kind: "interpolate", rows: 3 });
  });

  it("says each fixed range in --help, as the engine checks it", () => {
    for (const range of ["--guidance <g>            classifier-free guidance scale (from 0 to 20): ε_u + g·(ε_c − ε_u)", "diffusers guides only\n                            above 1", "(each from 0 to 10)", "(each from 0 to 2)", "(each strictly between 0 and 1)"]) {
      expect(GRID_USAGE).toContain(range);
    }
  });

  it("accepts the edges of the engine's fixed ranges", () => {
    expect(parseGridArgs(["c", "--guidance", "20", "--seed", String(Number.MAX_SAFE_INTEGER)])).toMatchObject({ guidanceScale: 20, seed: Number.MAX_SAFE_INTEGER });
    expect(parseGridArgs(["c", "--lambdas", "0,10"]).plan).toEqual({ kind: "interpolate", lambdas: [0, 10] });
    expect(parseGridArgs(["c", "--fractions", "0,2"]).plan).toEqual({ kind: "geodesic", fractions: [0, 2] });
  });

  it.each([
    [["--seed", "1"], /give a caption/],
    [["a", "red", "shape"], /expected one caption, got 3 arguments; quote the caption: "a red shape"/],
    [["  "], /caption is empty/],
    [["c", "--image", "x.png"], /either a caption or --image/],
    [["c", "--bogus"], /Unknown option '--bogus'/],
    [["c", "--seed"], /--seed/],
    [["c", "--json=yes"], /--json/],
    [["c", "--plan", "random"], /--plan must be one of geodesic, interpolate, shell, got "random"/],
    [["c", "--fractions", "0,3"], /--fractions must be a comma-separated list of numbers from 0 to 2; item 2 is "3"/],
    [["c", "--tail", "1"], /--tail must be a number strictly between 0 and 1, got "1"/],
    [["c", "--plan", "shell", "--tail", "0.9"], /--tail needs --plan geodesic/],
    [["c", "--lambdas", "1", "--fractions", "0.5"], /--fractions and --lambdas belong to different plans; give one/],
    [["c", "--plan", "shell", "--fractions", "0.5"], /--fractions needs --plan geodesic/],
    [["c", "--rows", "0"], /--rows must be an integer ≥ 1, got "0"/],
    [["c", "--rows", "2.5"], /--rows must be an integer ≥ 1/],
    [["c", "--cols", "four"], /--cols must be an integer ≥ 1, got "four"/],
    [["c", "--seed", "-1"], /--seed/],
    [["c", "--seed=-1"], /--seed must be an integer from 0/],
    [["c", "--seed", "1e20"], /--seed must be an integer from 0 to 9007199254740991/],
    [["c", "--steps", ""], /--steps must be an integer ≥ 1, got ""/],
    [["c", "--guidance", "NaN"], /--guidance must be a number from 0 to 20, got "NaN"/],
    [["c", "--guidance", "20.01"], /--guidance must be a number from 0 to 20, got "20.01"/],
    [["c", "--guidance", "1e308"], /--guidance must be a number from 0 to 20/],
    [["c", "--noise-level", "-5"], /--noise-level/],
    [["c", "--noise-level=1.5"], /--noise-level must be an integer ≥ 0, got "1.5"/],
    [["c", "--scheduler", "euler"], /--scheduler must be one of pndm, ddim, dpmpp2m, got "euler"/],
    [["c", "--lambdas", "0,,1"], /--lambdas must be a comma-separated list of numbers from 0 to 10; item 2 is ""/],
    [["c", "--lambdas", "0,1e308"], /--lambdas must be a comma-separated list of numbers from 0 to 10; item 2 is "1e308"/],
    [["c", "--lambdas", "0,-1"], /item 2 is "-1"/],
    [["c", "--quantiles", "0,0.5"], /--quantiles must be a comma-separated list of numbers strictly between 0 and 1; item 1 is "0"/],
    [["c", "--rows", "3", "--lambdas", "0,1"], /--rows cannot be combined with --lambdas/],
    [["c", "--rows", "3", "--quantiles", "0.5"], /--rows cannot be combined with --quantiles/],
    [["c", "--plan", "interpolate", "--quantiles", "0.5"], /--quantiles needs --plan shell/],
    [["c", "--plan", "shell", "--lambdas", "1"], /--lambdas needs --plan interpolate/],
    [["c", "--out", "grid.webp"], /--out must name a .png file/],
    [["c", "--cells-dir="], /--cells-dir must name a folder/],
    [["c", "--preset", " "], /--preset must name a preset/],
  ])("rejects %j", (argv, message) => {
    expect(usageError(() => parseGridArgs(argv))).toMatch(message);
  });

  it("answers --help with the usage text", () => {
    expect(() => parseGridArgs(["--help"])).toThrow(HelpRequested);
    expect(() => parseGridArgs(["c", "-h", "--bogus-after-help-is-still-unknown"])).toThrow(UsageError);
    expect(() => parseGridArgs(["c", "-h"])).toThrow(GRID_USAGE);
  });
});

describe("parseUncertaintyArgs", () => {
  it("reads a caption file with csv to stdout by default", () => {
    expect(parseUncertaintyArgs(["--file", "captions.txt"])).toEqual({ source: { kind: "captions", file: "captions.txt" }, format: "csv", rankBy: "aleatoric" });
    expect(parseUncertaintyArgs(["--file", "c.txt", "--rank-by", "epistemic"]).rankBy).toBe("epistemic");
  });

  it("collects image paths from repeated --images and the arguments after them", () => {
    expect(parseUncertaintyArgs(["--images", "dir", "a.png", "--images", "b.png", "--format", "json", "--out", "r.json", "--preset", "shapes"])).toEqual({
      source: { kind: "images", paths: ["dir", "b.png", "a.png"] },
      format: "json",
      rankBy: "aleatoric",
      out: "r.json",
      preset: "shapes",
    });
  });

  it.each([
    [[], /give --file <captions.txt> or --images/],
    [["--file", "a.txt", "--images", "d"], /either --file or --images, not both/],
    [["--file", "a.txt", "extra"], /unexpected argument "extra"/],
    [["--file", ""], /--file must name a text file/],
    [["--images", "d", "--format", "tsv"], /--format must be one of csv, json, got "tsv"/],
    [["--images", "d", "--rank-by", "entropy"], /--rank-by must be one of aleatoric, epistemic, got "entropy"/],
    [["--images", "d", "--out="], /--out must name a file/],
    [["--images"], /--images/],
    [["--file", "a.txt", "--rows", "3"], /Unknown option '--rows'/],
  ])("rejects %j", (argv, message) => {
    expect(usageError(() => parseUncertaintyArgs(argv))).toMatch(message);
  });

  it("answers --help with the usage text", () => {
    expect(() => parseUncertaintyArgs(["-h"])).toThrow(HelpRequested);
    expect(() => parseUncertaintyArgs(["-h"])).toThrow(UNCERTAINTY_USAGE);
  });
});

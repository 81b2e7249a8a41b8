/* A run request's rules as the CLI and the web share them (runRequestSchema), checked without opening a model. */
import { describe, expect, it } from "vitest";
import { EngineError, openPresetRules, type RunRequest } from "./index";

const rules = openPresetRules("shapes");
const caption = (text: string): RunRequest => ({ input: { kind: "caption", text } });

function refusal(request: RunRequest): string {
  try {
    rules.normalize(request);
  } catch (error) {
    expect(error).toBeInstanceOf(EngineError);
    expect((error as EngineError).code).toBe("invalid_input");
    return (error as EngineError).message;
  }
  throw new Error(`accepted ${JSON.stringify(request)}`);
}

describe("caption and prompt text", () => {
  it.each([
    ["zero-width spaces", "\u200b\u200b"],
    ["a NUL", "\u0000"],
    ["a zero-width joiner, a BOM and a word joiner", "\u200d\ufeff\u2060"],
    ["spaces and a lone combining mark", "  \u0301 "],
  ])("refuses a caption of only %s: nothing in it can be seen", (_, text) => {
    // A NUL is also named as a control character, after this.
    expect(refusal(caption(text))).toMatch(/^invalid run request: input\.text: the caption is empty: it needs at least one visible character \(a letter, digit, punctuation mark or symbol\)/);
  });

  it.each([
    ["a NUL", "a red\u0000 circle", "U+0000"],
    ["a bell", "a red \u0007circle", "U+0007"],
    ["a carriage return", "a red circle\r", "U+000D"],
    ["an escape", "\u001b[31ma red circle", "U+001B"],
    ["a delete", "a red circle\u007f", "U+007F"],
    ["a C1 next-line", "a red\u0085circle", "U+0085"],
  ])("refuses a caption with %s, naming it", (_, text, named) => {
    expect(refusal(caption(text))).toBe(`invalid run request: input.text: the caption contains the control character ${named}; only tab and newline may appear besides printable text`);
  });

  it("refuses a caption with a lone surrogate, which no UTF-8 store can keep", () => {
    expect(refusal(caption("a red circle \ud800"))).toBe("invalid run request: input.text: the caption contains U+D800, half of a UTF-16 surrogate pair without its other half; send the whole character");
  });

  it.each(["a red circle", "a red\tcircle\non the left", "🔴", "٣ دوائر", "…", "ça et là", "a red circle 👍🏽"])("accepts the caption %j", (text) => {
    expect(rules.normalize(caption(text)).input).toEqual({ kind: "caption", text });
  });

  it("holds a prompt to the same rules, but lets it be empty (the image-variation setting)", () => {
    expect(rules.normalize({ ...caption("a shape"), prompt: "" }).prompt).toBe("");
    expect(rules.normalize({ ...caption("a shape"), prompt: "a red\tcircle" }).prompt).toBe("a red\tcircle");
    expect(refusal({ ...caption("a shape"), prompt: "\u200b" })).toMatch(/^invalid run request: prompt: the prompt is empty: it needs at least one visible character/);
    expect(refusal({ ...caption("a shape"), prompt: "red\u0000" })).toMatch(/prompt: the prompt contains the control character U\+0000/);
    expect(refusal({ ...caption("a shape"), prompt: "x".repeat(301) })).toMatch(/prompt: the prompt is longer than 300 characters/);
    // Characters, not UTF-16 units: 300 emoji are 600 units and within the limit.
    expect(rules.normalize({ ...caption("a shape"), prompt: "🔴".repeat(300) }).prompt).toHaveLength(600);
  });
});

describe("the numbers of a run request", () => {
  const shapes = { input: { kind: "caption", text: "a shape" } } as const;
  const past = (edge: number, direction: 1 | -1) => edge + direction * Math.max(1e-9, Math.abs(edge) * 1e-9);
  // Each field: a request setting it, its range in words, the edges (accepted) and values just past them (refused).
  const fields: [string, (value: number) => RunRequest, string, number[], number[]][] = [
    ["steps", (steps) => ({ ...shapes, steps }), "an integer from 1 to 100", [1, 100], [0, 101, 2.5]],
    ["cols", (cols) => ({ ...shapes, cols }), "an integer from 1 to 8", [1, 8], [0, 9]],
    ["seed", (seed) => ({ ...shapes, seed }), `an integer from 0 to ${Number.MAX_SAFE_INTEGER}`, [0, Number.MAX_SAFE_INTEGER], [-1, Number.MAX_SAFE_INTEGER + 1]],
    ["guidanceScale", (guidanceScale) => ({ ...shapes, guidanceScale }), "a number from 0 to 20", [0, 20], [past(0, -1), past(20, 1), 1e308]],
    ["noiseLevel", (noiseLevel) => ({ ...shapes, noiseLevel }), "an integer from 0 to 999", [0, 999], [-1, 1000]],
    ["plan.rows", (rows) => ({ ...shapes, plan: { kind: "interpolate", rows } }), "an integer from 1 to 9", [1, 9], [0, 10]],
    ["plan.lambdas.0", (lambda) => ({ ...shapes, plan: { kind: "interpolate", lambdas: [lambda] } }), "a number from 0 to 10", [0, 10], [past(0, -1), past(10, 1), 1e308]],
    ["plan.fractions.0", (fraction) => ({ ...shapes, plan: { kind: "geodesic", fractions: [fraction] } }), "a number from 0 to 2", [0, 2], [past(0, -1), past(2, 1)]],
    ["plan.quantiles.0", (quantile) => ({ ...shapes, plan: { kind: "shell", quantiles: [quantile] } }), "a number strictly between 0 and 1", [1e-9, 1 - 1e-9], [0, 1]],
    ["plan.tail", (tail) => ({ ...shapes, plan: { kind: "geodesic", tail } }), "a number strictly between 0 and 1", [1e-9, 1 - 1e-9], [0, 1]],
  ];

  it.each(fields)("%s accepts its edges and refuses values just past them, saying the range", (field, request, range, edges, pastEdges) => {
    for (const edge of edges) expect(() => rules.normalize(request(edge)), `${field} = ${edge}`).not.toThrow();
    for (const value of [...pastEdges, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(refusal(request(value))).toBe(`invalid run request: ${field}: must be ${range}, got ${String(value)}`);
    }
  });

  it("says the range when a number is not a number at all", () => {
    expect(refusal({ ...shapes, steps: "10" as never })).toBe('invalid run request: steps: must be an integer from 1 to 100, got "10"');
  });

  it("holds a plan to 1 to 9 levels, one per row", () => {
    expect(rules.normalize({ ...shapes, plan: { kind: "interpolate", lambdas: Array(9).fill(1) } }).plan).toMatchObject({ lambdas: Array(9).fill(1) });
    for (const lambdas of [[], Array(10).fill(1)]) {
      expect(refusal({ ...shapes, plan: { kind: "interpolate", lambdas } })).toBe("invalid run request: plan.lambdas: must list 1 to 9 levels, one per row");
    }
  });
});

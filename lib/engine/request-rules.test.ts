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

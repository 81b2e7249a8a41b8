import { mkdtemp, mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { type Engine, EngineError, type EngineInput } from "../../lib/engine/index";
import { captionItems, csvField, formatCsv, formatFailures, formatRankingJson, imageItems, type Ranking, rankItems } from "./ranking";

/** Stands in for Engine.describe: uncertainty from a table, epistemic 1 − uncertainty, "?" captions flagged; refusals by text. */
function fakeEngine(uncertainties: Record<string, number>, refuse: Record<string, EngineError> = {}) {
  return {
    async describe(input: EngineInput) {
      const key = input.kind === "caption" ? input.text : `image:${input.bytes.length}`;
      if (refuse[key]) throw refuse[key];
      const u = uncertainties[key];
      const flagged = key.includes("?");
      return {
        uncertainty: u,
        logUncertainty: Math.log(u),
        percentile: 100 * u,
        epistemic: { score: 1 - u, percentile: 100 * (1 - u), aboveReference: false },
        outOfDistribution: { flagged, reasons: flagged ? ["1 word the preset's caption corpus never contained: “?x”."] : [], unknownWords: flagged ? ["?x"] : [] },
      } as unknown as Awaited<ReturnType<Engine["describe"]>>;
    },
  };
}

describe("captionItems", () => {
  it("skips blank lines and keeps each caption's line number", () => {
    const items = captionItems("\uFEFFa red shape\r\n\n   \nsmall, blue\r\n  padded  \n");
    expect(items.map(({ where, label }) => [where, label])).toEqual([
      ["line 1", "a red shape"],
      ["line 4", "small, blue"],
      ["line 5", "  padded  "],
    ]);
    expect(items[1].input).toEqual({ kind: "caption", text: "small, blue" });
    expect(captionItems("\n \r\n")).toEqual([]);
  });
});

describe("imageItems", () => {
  it("expands folders to their image files, keeps named files, and records unreadable paths", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "penumbra-images-"));
    await mkdir(path.join(dir, "set"));
    await mkdir(path.join(dir, "empty"));
    await writeFile(path.join(dir, "set", "b.PNG"), "bb");
    await writeFile(path.join(dir, "set", "a.jpg"), "a");
    await writeFile(path.join(dir, "set", "notes.txt"), "skip me");
    await writeFile(path.join(dir, "odd.gif"), "ggg");
    const items = await imageItems([path.join(dir, "set"), path.join(dir, "odd.gif"), path.join(dir, "missing.png"), path.join(dir, "empty")]);
    const byLabel = Object.fromEntries(items.map((item) => [path.relative(dir, item.label), item]));
    expect(Object.keys(byLabel).sort()).toEqual(["empty", "missing.png", "odd.gif", "set/a.jpg", "set/b.PNG"]);
    expect(byLabel["set/a.jpg"].input).toEqual({ kind: "image", bytes: Buffer.from("a") });
    expect(byLabel["odd.gif"].input?.kind).toBe("image");
    expect(byLabel["missing.png"].error).toMatch(/^cannot read: ENOENT/);
    expect(byLabel.empty.error).toBe("no .png/.jpg/.jpeg/.webp files in this folder");
    // Folder contents come sorted by name.
    const files = items.filter((item) => item.input).map((item) => path.relative(dir, item.label));
    expect(files).toEqual(["set/a.jpg", "set/b.PNG", "odd.gif"]);
  });
});

describe("rankItems", () => {
  it("ranks most uncertain first, keeps input order on ties, and records refused inputs", async () => {
    const items = captionItems(["low", "high", "too long", "mid", "high too"].join("\n"));
    const engine = fakeEngine(
      { low: 0.1, high: 0.9, mid: 0.5, "high too": 0.9 },
      { "too long": new EngineError("invalid_input", "the caption has 301 characters; the limit is 300") },
    );
    const ranking = await rankItems(engine, [...items, { where: "x.png", label: "x.png", error: "cannot read: EACCES" }]);
    expect(ranking.ranked.map((r) => [r.rank, r.input, r.where])).toEqual([
      [1, "high", "line 2"],
      [2, "high too", "line 5"],
      [3, "mid", "line 4"],
      [4, "low", "line 1"],
    ]);
    expect(ranking.ranked[0]).toMatchObject({ uncertainty: 0.9, percentile: 90, epistemic: 1 - 0.9, outOfDistribution: false, unknownWords: [] });
    expect(ranking.failed).toEqual([
      { where: "line 3", input: "too long", error: "the caption has 301 characters; the limit is 300" },
      { where: "x.png", input: "x.png", error: "cannot read: EACCES" },
    ]);
  });

  it("ranks by the epistemic score on request and carries the out-of-distribution verdict", async () => {
    const ranking = await rankItems(fakeEngine({ low: 0.1, "odd ?x": 0.5, high: 0.9 }), captionItems("low\nodd ?x\nhigh"), "epistemic");
    expect(ranking.ranked.map((r) => [r.rank, r.input, r.outOfDistribution])).toEqual([
      [1, "low", false],
      [2, "odd ?x", true],
      [3, "high", false],
    ]);
    expect(ranking.ranked[1]).toMatchObject({ unknownWords: ["?x"], reasons: ["1 word the preset's caption corpus never contained: “?x”."] });
  });

  it("stops on engine failures that are not about one input", async () => {
    const engine = fakeEngine({}, { a: new EngineError("model_error", "unet output has NaN") });
    await expect(rankItems(engine, captionItems("a\nb"))).rejects.toThrow("unet output has NaN");
  });
});

const verdict = (unknownWords: string[]) => ({ outOfDistribution: unknownWords.length > 0, unknownWords, reasons: unknownWords.map((w) => `unknown ${w}`) });
const sample: Ranking = {
  ranked: [
    { rank: 1, where: "line 2", input: 'say "hi", then leave', uncertainty: 0.00512345678, logUncertainty: Math.log(0.00512345678), percentile: 99.04, epistemic: 0.2512, epistemicPercentile: 99.5, ...verdict(["say", "hi"]) },
    { rank: 2, where: "line 1", input: "=plain", uncertainty: 0.005, logUncertainty: Math.log(0.005), percentile: 0, epistemic: null, epistemicPercentile: null, ...verdict([]) },
  ],
  failed: [{ where: "line 3", input: "x".repeat(5), error: "too long" }],
};

describe("CSV", () => {
  it("quotes only fields that need it", () => {
    expect(csvField("plain text")).toBe("plain text");
    expect(csvField("a,b")).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField("two\nlines")).toBe('"two\nlines"');
    expect(csvField(" edge")).toBe('" edge"');
    expect(csvField("λ ünïcode")).toBe("λ ünïcode");
  });

  it("writes both scores and the out-of-distribution verdict with CRLF, leaving a missing epistemic score empty", () => {
    const header = "rank,input,uncertainty,percentile,epistemic,epistemic_percentile,ood,unknown_words";
    expect(formatCsv(sample)).toBe(`${header}\r\n1,"say ""hi"", then leave",0.00512346,99.0,0.251200,99.5,1,say hi\r\n2,=plain,0.00500000,0.0,,,0,\r\n`);
    expect(formatCsv({ ranked: [], failed: [] })).toBe(`${header}\r\n`);
  });
});

describe("JSON and the failure report", () => {
  it("keeps full precision and the failures", () => {
    const parsed = JSON.parse(formatRankingJson(sample, { name: "shapes", digest: "ab" }));
    expect(parsed).toEqual({ preset: { name: "shapes", digest: "ab" }, ranked: sample.ranked, failed: sample.failed });
  });

  it("lists failures by where they came from, then a summary", () => {
    expect(formatFailures(sample, "captions")).toBe("line 3: too long\nranked 2 of 3 captions; 1 skipped (listed above)\n");
    expect(formatFailures({ ranked: sample.ranked, failed: [] }, "images")).toBe("ranked 2 images\n");
  });
});

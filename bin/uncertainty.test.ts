import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "./lib/fixtures";

// End to end on the bundled shapes preset: real models, so only the shape of the output is checked.
describe("npm run uncertainty", () => {
  it("ranks a caption file, reporting a bad line by number without stopping", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "penumbra-uncertainty-"));
    const file = path.join(dir, "captions.txt");
    const repeated = "red ".repeat(74).trim();
    await writeFile(file, ["a red shape", "", "a small blue circle, on the left", "x".repeat(301), "a small blue star on the right", repeated].join("\n"));

    const csv = await runCli("uncertainty.ts", ["--file", file]);
    expect(csv.code).toBe(0);
    const lines = csv.stdout.split("\r\n");
    expect(lines[0]).toBe("rank,input,uncertainty,percentile,epistemic,epistemic_percentile,ood,unknown_words");
    expect(lines.at(-1)).toBe("");
    const rows = lines.slice(1, -1).map((line) => line.match(/^(\d+),("(?:[^"]|"")*"|[^,]*),([^,]+),([^,]+),([^,]+),([^,]+),([01]),(.*)$/));
    expect(rows).toHaveLength(4);
    expect(rows.map((row) => row?.[1])).toEqual(["1", "2", "3", "4"]);
    const byInput = Object.fromEntries(rows.map((row) => [row![2], row!]));
    expect(Object.keys(byInput).sort()).toEqual(['"a small blue circle, on the left"', "a red shape", "a small blue star on the right", repeated]);
    const uncertainties = rows.map((row) => Number(row?.[3]));
    for (const u of uncertainties) expect(Number.isFinite(u) && u > 0).toBe(true);
    expect([...uncertainties].sort((a, b) => b - a)).toEqual(uncertainties);
    for (const row of rows) for (const p of [Number(row?.[4]), Number(row?.[6])]) expect(p).toSatisfy((v: number) => v >= 0 && v <= 100);
    // Unknown words and a caption longer than any in the corpus are flagged; in-world captions are not.
    expect([byInput["a red shape"][7], byInput['"a small blue circle, on the left"'][7]]).toEqual(["0", "0"]);
    expect(byInput["a small blue star on the right"].slice(7)).toEqual(["1", "star"]);
    expect(byInput[repeated].slice(7)).toEqual(["1", ""]);
    expect(Number(byInput["a small blue star on the right"][5])).toBeGreaterThan(Number(byInput["a red shape"][5]));
    // The engine words the refusal; the command's part is naming the line.
    expect(csv.stderr).toMatch(/^line 4: .*300/m);
    expect(csv.stderr).toContain("ranked 4 of 5 captions; 1 skipped");

    const out = path.join(dir, "out", "ranking.json");
    const json = await runCli("uncertainty.ts", ["--file", file, "--format", "json", "--out", out]);
    expect(json.code).toBe(0);
    expect(json.stdout).toBe("");
    const parsed = JSON.parse(await readFile(out, "utf8"));
    expect(parsed.preset.name).toBe("shapes");
    expect(parsed.ranked.map((r: { where: string }) => r.where).sort()).toEqual(["line 1", "line 3", "line 5", "line 6"]);
    const star = parsed.ranked.find((r: { where: string }) => r.where === "line 5");
    expect(star).toMatchObject({ outOfDistribution: true, unknownWords: ["star"], epistemic: expect.any(Number), epistemicPercentile: expect.any(Number) });
    expect(star.reasons[0]).toBe("1 word the preset's caption corpus never contained: “star”.");

    const byEpistemic = await runCli("uncertainty.ts", ["--file", file, "--rank-by", "epistemic", "--format", "json"]);
    const scores = JSON.parse(byEpistemic.stdout).ranked.map((r: { epistemic: number }) => r.epistemic);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    expect(parsed.failed).toEqual([{ where: "line 4", input: "x".repeat(301), error: expect.stringMatching(/300/) }]);
  });

  it("exits 2 on a usage error and 1 when nothing could be ranked", async () => {
    const usage = await runCli("uncertainty.ts", ["--format", "xml", "--file", "x"]);
    expect(usage).toMatchObject({ code: 2, stdout: "" });
    expect(usage.stderr).toBe('error: --format must be one of csv, json, got "xml"\nrun with --help for usage\n');

    const none = await runCli("uncertainty.ts", ["--images", path.join(tmpdir(), "penumbra-no-such-file.png")]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/penumbra-no-such-file\.png: cannot read: ENOENT/);
    expect(none.stderr).toContain("ranked 0 of 1 images");
  });
});

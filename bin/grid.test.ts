import { mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { encodeImage, gridLayout, readPngText } from "../lib/engine/index";
import { runCli } from "./lib/fixtures";
import { RUN_KEY } from "./lib/run-record";

// End to end on the bundled shapes preset: real models, so only shapes and bookkeeping are checked.
describe("npm run grid", () => {
  it("decodes an image input on shells, writes the labelled grid with the run embedded, and prints JSON", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "penumbra-grid-"));
    const input = path.join(dir, "in.png");
    const rgb = new Uint8Array(64 * 64 * 3).map((_, i) => (i * 7) & 0xff);
    await writeFile(input, await encodeImage({ rgb, width: 64, height: 64 }, "png"));
    const out = path.join(dir, "nested", "grid.png");
    const cellsDir = path.join(dir, "cells");

    const run = await runCli("grid.ts", [
      "--image", input, "--quantiles", "0.1,0.9", "--cols", "2", "--steps", "2", "--seed", "5", "--out", out, "--cells-dir", cellsDir, "--json",
    ]);
    expect(run.stderr).not.toMatch(/error/);
    expect(run.code).toBe(0);
    const printed = JSON.parse(run.stdout);
    expect(printed.files).toEqual({ grid: out, cells: ["row0-sample1", "row0-sample2", "row1-sample1", "row1-sample2"].map((n) => path.join(cellsDir, `${n}.png`)) });
    expect(printed.request).toMatchObject({ input: { kind: "image", file: input }, plan: { kind: "shell", quantiles: [0.1, 0.9] }, cols: 2, seed: 5, steps: 2 });
    expect(printed.cells).toHaveLength(4);
    for (const cell of printed.cells) expect(cell.quantileTarget).toBe([0.1, 0.9][cell.row]);

    const png = await readFile(out);
    // The PNG holds the printed record but its timings, which differ on every run.
    const { files, timings, ...record } = printed;
    expect(timings).toEqual({ describeMs: expect.any(Number), planMs: expect.any(Number), decodeMs: expect.any(Number), totalMs: expect.any(Number) });
    expect(JSON.parse(readPngText(png)[RUN_KEY])).toEqual(record);
    const { width: cellWidth, height: cellHeight } = record.imageSize;
    const layout = gridLayout({ rows: 2, cols: 2, rowLabels: ["row 0  q = 0.1", "row 1  q = 0.9"], colLabels: ["sample 1", "sample 2"], title: readPngText(png).Title }, cellWidth, cellHeight);
    const metadata = await sharp(png).metadata();
    expect([metadata.width, metadata.height]).toEqual([layout.width, layout.height]);

    expect((await readdir(cellsDir)).sort()).toEqual(["row0-sample1.png", "row0-sample2.png", "row1-sample1.png", "row1-sample2.png"]);
    const cell = await readFile(path.join(cellsDir, "row1-sample1.png"));
    expect(JSON.parse(readPngText(cell)["penumbra:cell"])).toEqual(record.cells.find((c: { row: number; col: number }) => c.row === 1 && c.col === 0));
    expect((await sharp(cell).metadata()).width).toBe(cellWidth);
  });

  it("writes the same bytes for the same request: the grid PNG and every cell file, from any folder", async () => {
    const image = await encodeImage({ rgb: new Uint8Array(64 * 64 * 3).map((_, i) => (i * 13) & 0xff), width: 64, height: 64 }, "png");
    const folders = [await mkdtemp(path.join(tmpdir(), "penumbra-same-")), await mkdtemp(path.join(tmpdir(), "penumbra-same-"))];
    for (const folder of folders) {
      await writeFile(path.join(folder, "in.png"), image);
      const run = await runCli("grid.ts", ["--image", "in.png", "--rows", "2", "--cols", "2", "--steps", "2", "--scheduler", "ddim", "--out", "grid.png", "--cells-dir", "cells"], folder);
      expect(run.code).toBe(0);
    }
    const [first, second] = folders;
    const files = ["grid.png", ...(await readdir(path.join(first, "cells"))).map((name) => path.join("cells", name))];
    expect(files).toHaveLength(5);
    for (const file of files) {
      expect((await readFile(path.join(second, file))).equals(await readFile(path.join(first, file))), file).toBe(true);
    }
  });

  it("prints the summary and the per-cell table for a caption, writing relative paths where npm was run", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "penumbra-grid-"));
    const run = await runCli("grid.ts", ["a red shape", "--rows", "2", "--cols", "1", "--steps", "1", "--out", "g.png"], dir);
    expect(run.code).toBe(0);
    expect((await sharp(path.join(dir, "g.png")).metadata()).format).toBe("png");
    expect(run.stdout).toContain("\nwrote        g.png\n");
    expect(run.stdout).toMatch(/^input {8}caption "a red shape" \(\d+ tokens\)\n/);
    expect(run.stdout).toMatch(/\nuncertainty {2}\d\.\d+ \(ln -\d+\.\d{3}; percentile \d+\.\d among the preset's reference captions\)\n/);
    // "a red shape" is a training caption: with k = 1 its epistemic score is exactly 0, printed "0".
    expect(run.stdout).toMatch(/\nepistemic {4}\d(\.\d+)? \(percentile \d+\.\d among held-out captions\)\n/);
    expect(run.stdout).not.toContain("WARNING");
    expect(run.stdout).toMatch(/\nproviders {4}cpu: clipText, /);
    // The default plan walks the decoder's angle: the last row's cells sit at the 95% tail angle they were asked for.
    expect(run.stdout).toMatch(/\nplan {9}geodesic θ = 0, 1 × θ95 \(\d+\.\d\d° in the decoder's space\)/);
    expect(run.stdout).toContain("\nrow  sample  θ target       θ   q_dec  ‖y−y(μ)‖       λ  ");
    const [meanRow, lastRow] = run.stdout.trimEnd().split("\n").slice(-2).map((line) => line.trim().split(/\s+/));
    expect(meanRow.slice(0, 4)).toEqual(["0", "1", "0.00°", "0.00°"]);
    expect(lastRow.slice(0, 2)).toEqual(["1", "1"]);
    expect(lastRow[3]).toBe(lastRow[2]);
    // stderr is not a terminal here, so no progress bar; the preset's PNDM at 1 step earns a warning.
    expect(run.stderr).not.toContain("\r");
    expect(run.stderr).toMatch(/^warning: PNDM needs about \d+ steps; at 1 /);
  });

  it("exits 2 on usage errors and 1 on engine errors, with one error line and no stack", async () => {
    const usage = await runCli("grid.ts", ["a red shape", "--scheduler", "euler"]);
    expect(usage).toEqual({ code: 2, stdout: "", stderr: 'error: --scheduler must be one of pndm, ddim, dpmpp2m, got "euler"\nrun with --help for usage\n' });

    const missing = await runCli("grid.ts", ["--image", path.join(tmpdir(), "penumbra-no-such-image.png")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^error: --image: cannot read .*penumbra-no-such-image\.png \(ENOENT/);

    const engine = await runCli("grid.ts", ["a red shape", "--cols", "99", "--out", path.join(tmpdir(), "penumbra-unused.png")]);
    expect(engine.code).toBe(1);
    // The engine words the refusal (naming cols); the command's part is one line and exit code 1.
    expect(engine.stderr).toMatch(/^error: [^\n]*cols[^\n]*\n$/);
    expect(engine.stderr).not.toMatch(/\n\s+at /);

    // A caption of zero-width characters is refused by the engine's rule, in the same words as the web's 400.
    const invisible = await runCli("grid.ts", ["\u200b\u200b", "--out", path.join(tmpdir(), "penumbra-unused.png")]);
    expect(invisible).toMatchObject({ code: 1, stderr: expect.stringContaining("the caption is empty: it needs at least one visible character") });

    // A negative number is the flag's value, refused by the flag's own rule, not "ambiguous" to the parser.
    const negative = await runCli("grid.ts", ["a red shape", "--seed", "-4"]);
    expect(negative).toEqual({ code: 2, stdout: "", stderr: `error: --seed must be an integer from 0 to ${Number.MAX_SAFE_INTEGER}, got "-4"\nrun with --help for usage\n` });

    // An --out that cannot be written fails before any decoding, saying why in words, not with a raw errno.
    const blocker = path.join(await mkdtemp(path.join(tmpdir(), "penumbra-out-")), "a-file");
    await writeFile(blocker, "not a folder");
    const unwritable = await runCli("grid.ts", ["a red shape", "--out", path.join(blocker, "grid.png")]);
    expect(unwritable.code).toBe(2);
    expect(unwritable.stderr).toBe(`error: --out ${JSON.stringify(path.join(blocker, "grid.png"))} cannot be written (a file is in the way of its folder); give a path in a folder you can write\nrun with --help for usage\n`);

    const help = await runCli("grid.ts", ["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: npm run grid -- "<caption>" \[options\]/);
  });
});

import { describe, expect, it } from "vitest";
import { interpolateResult, PROVIDERS, shellResult } from "./fixtures";
import { fixed, formatCellTable, formatProviders, formatRunSummary, formatTable, probability, significant } from "./table";

describe("formatTable", () => {
  it("pads by code points, aligns per column and trims line ends", () => {
    const table = formatTable(
      [
        { header: "name", align: "left" },
        { header: "‖x−μ‖", align: "right" },
      ],
      [
        ["λ", "1.5"],
        ["long name", "12.25"],
      ],
    );
    expect(table.split("\n")).toEqual([
      "name       ‖x−μ‖",
      "─────────  ─────",
      "λ            1.5",
      "long name  12.25",
    ]);
  });
});

describe("number formats", () => {
  it("fixes decimals without negative zero and spells out non-finite values", () => {
    expect(fixed(1.23456, 2)).toBe("1.23");
    expect(fixed(-0.0001, 2)).toBe("0.00");
    expect(fixed(-1.5, 1)).toBe("-1.5");
    expect(fixed(Number.NaN, 2)).toBe("NaN");
  });

  it("keeps a probability's tail visible", () => {
    expect(probability(0)).toBe("0.0000");
    expect(probability(1)).toBe("1.0000");
    expect(probability(0.00001)).toBe("<0.0001");
    expect(probability(0.999996)).toBe(">0.9999");
    expect(probability(0.34159)).toBe("0.3416");
  });

  it("rounds to significant digits", () => {
    expect(significant(0.005074084, 4)).toBe("0.005074");
    expect(significant(123.456, 4)).toBe("123.5");
    expect(significant(123456.7, 4)).toBe("123457");
    expect(significant(0, 4)).toBe("0");
    expect(significant(1.5e-9, 3)).toBe("1.50e-9");
  });
});

describe("formatCellTable", () => {
  it("lists every cell with λ on interpolate runs", () => {
    expect(formatCellTable(interpolateResult()).split("\n")).toEqual([
      "row  sample    λ       θ   q_dec  ‖y−y(μ)‖      T        q      NLL  cos(x,μ)   ‖x−μ‖",
      "───  ──────  ───  ──────  ──────  ────────  ─────  ───────  ───────  ────────  ──────",
      "  0       1    0   0.00°  0.0000    0.0000   0.00   0.0000  -110.50    1.0000  0.0000",
      "  0       2    0   0.00°  0.0000    0.0000   0.00   0.0000  -110.50    1.0000  0.0000",
      "  1       1  1.5  30.13°  0.5000    6.0250  60.25  >0.9999   -50.25    0.6987  1.2050",
      "  1       2  1.5  35.25°  0.4500    7.0500  70.50   0.9000   -40.00    0.6475  1.4100",
    ]);
  });

  it("shows the target quantile on shell runs", () => {
    const lines = formatCellTable(shellResult()).split("\n");
    expect(lines[0]).toMatch(/^row {2}sample {2}q target {7}θ {3}q_dec {2}‖y−y\(μ\)‖ {6}T/);
    expect(lines).toHaveLength(5);
    expect(lines[4]).toMatch(/^ {2}2 {7}1 {6}0\.99 {2}10\.00° {2}0\.9900 {4}2\.0000 {2}40\.00 {2}0\.9900/);
  });

  it("shows the target angle and the λ that reached it on geodesic runs", () => {
    const result = interpolateResult();
    const geodesic = {
      ...result,
      request: { ...result.request, plan: { kind: "geodesic" as const, fractions: [0, 1], tail: 0.95 } },
      cells: result.cells.map((cell) => ({ ...cell, angleTarget: cell.row * 36.5, decoderAngle: cell.row * 36.5 })),
    };
    const lines = formatCellTable(geodesic).split("\n");
    expect(lines[0]).toBe("row  sample  θ target       θ   q_dec  ‖y−y(μ)‖       λ      T        q      NLL  cos(x,μ)   ‖x−μ‖");
    expect(lines[5]).toMatch(/^ {2}1 {7}2 {4}36\.50° {2}36\.50° {2}0\.4500 {4}7\.0500 {2}1\.5000/);
  });
});

describe("formatProviders", () => {
  it("groups models by provider and names each skip reason once", () => {
    expect(formatProviders(PROVIDERS)).toBe(
      "cpu: clipText, clipImage, promptEncoder, vaeDecoder, adapterText, adapterImage; cuda: unet; cuda skipped (no CUDA)",
    );
  });
});

describe("formatRunSummary", () => {
  it("describes a caption run", () => {
    expect(formatRunSummary(interpolateResult(), "", ["grid.png", "cells/ (4 cell PNGs)"]).split("\n")).toEqual([
      'input        caption "a \\"red\\" shape, maybe" (7 tokens)',
      "uncertainty  0.005074 (ln -5.284; percentile 45.7 among the preset's reference captions)",
      "epistemic    0.01230 (percentile 40.0 among held-out captions)",
      "preset       shapes (sha256 0123456789ab…)",
      "plan         interpolate λ = 0, 1.5; 2 columns; k = Σ1/β = 32.37",
      'decoding     seed 7, 20 steps pndm, guidance 3, noise level 0, prompt ""',
      `providers    ${formatProviders(PROVIDERS)}`,
      "time         1.5 s (describe 12 ms, plan 3 ms, decode 1.5 s)",
      "wrote        grid.png",
      "             cells/ (4 cell PNGs)",
    ]);
  });

  it("describes an image run on shells", () => {
    const summary = formatRunSummary(shellResult(), "photos/cat.png", ["out.png"]);
    expect(summary).toContain("input        image photos/cat.png (png, 64×48)");
    expect(summary).toContain("among the preset's reference images");
    expect(summary).toContain("plan         shell q = 0.01, 0.5, 0.99; 1 columns");
  });

  it("warns first when the input is outside what the preset knows", () => {
    const lines = formatRunSummary(shellResult(), "photos/cat.png", ["out.png"]).split("\n");
    expect(lines[1]).toBe("WARNING      outside what the preset knows: Its embedding lies farther from the training images than 99% of held-out images do (epistemic score 0.310, percentile 100).");
    expect(lines[3]).toBe("epistemic    0.3100 (percentile 100.0 among held-out images)");
  });
});

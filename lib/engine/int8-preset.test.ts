/**
 * The shapes preset's int8-UNet variant (models/export/quantize.py) decodes on onnxruntime-node's CPU provider, and
 * its grid shows what the float preset's does, up to the quantization error.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPreset, type RunRequest, type RunResult } from "./index";

const REPO_ROOT = path.resolve(import.meta.dirname, "..", "..");
const REQUEST: RunRequest = { input: { kind: "caption", text: "a red shape" }, plan: { kind: "interpolate", lambdas: [0, 1] }, cols: 2, steps: 20, seed: 3 };

/** Mean absolute difference of two images' RGB bytes, 0–255. */
function meanDifference(a: Uint8Array, b: Uint8Array): number {
  let total = 0;
  for (let i = 0; i < a.length; i++) total += Math.abs(a[i] - b[i]);
  return total / a.length;
}

describe("the int8-UNet variant of the shapes preset", () => {
  const root = mkdtempSync(path.join(tmpdir(), "penumbra-int8-"));
  const dir = path.join(root, "shapes-int8");
  let quantized: RunResult;
  let float: RunResult;

  beforeAll(async () => {
    const made = spawnSync("/usr/bin/python3", ["-m", "models.export.quantize", "--preset", "models/shapes", "--out", dir], { cwd: REPO_ROOT, encoding: "utf8" });
    expect(made.status, made.stderr).toBe(0);
    const options = { providers: ["cpu"] as const, threads: 2 };
    quantized = await (await openPreset(dir, options)).run(REQUEST);
    float = await (await openPreset("shapes", options)).run(REQUEST);
  });

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("decodes every cell on the CPU provider", () => {
    expect(quantized.preset.name).toBe("shapes-int8");
    expect(quantized.cells).toHaveLength(4);
    expect(quantized.providers.unet.provider).toBe("cpu");
    for (const cell of quantized.cells) expect(new Set(cell.rgb).size).toBeGreaterThan(16);
  });

  it("draws each cell close to the float preset's cell from the same seed", () => {
    const differences = quantized.cells.map((cell, i) => meanDifference(cell.rgb, float.cells[i].rgb));
    // Measured 0.10–0.23 of 255 per cell when this was written; the bound leaves about ten times that.
    for (const difference of differences) expect(difference).toBeLessThan(2);
    // And the variant really runs other weights: its cells are not the float preset's bytes.
    expect(differences.some((difference) => difference > 0)).toBe(true);
  });
});

/**
 * Test fixture: builds a synthetic preset with the real Stable unCLIP presets' signatures and tiny
 * random networks (models/realsize/make_preset.py), since the real ones cannot be downloaded in tests.
 */
import { spawn } from "node:child_process";
import path from "node:path";

const REPO_ROOT = path.resolve(import.meta.dirname, "..", "..");

/** D = 768 like unclip-l, or D = 1024 like unclip-h. */
export type SyntheticVariant = "l" | "h";

/** The UNet's float inputs and output: float16 (the engine converts them every step) or float32. */
export type SyntheticUnetIo = "float16" | "float32";

/** Writes the synthetic preset folder `out`; rejects with the end of the generator's stderr when it fails. */
export function makeSyntheticPreset(out: string, variant: SyntheticVariant, unetIo: SyntheticUnetIo = "float16"): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("/usr/bin/python3", ["-m", "models.realsize.make_preset", "--out", out, "--variant", variant, "--unet-io", unetIo], {
      cwd: REPO_ROOT,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve();
      else reject(new Error(`make_preset --variant ${variant} exited ${code}: ${stderr.trim().split("\n").slice(-3).join(" | ")}`));
    });
  });
}

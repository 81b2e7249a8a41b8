import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { RunResult } from "../../lib/engine/index";

/*
 * Test helpers for bin/: hand-made run results, so the formatting tests need
 * no models (numbers arbitrary but shaped like the engine's), and a way to
 * run a command end to end.
 */

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export interface CliOutcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs bin/<script> under tsx as `npm run` would: from the package folder, with INIT_CWD the
 * caller's folder (default: the package folder), stderr not a terminal, on the CPU.
 */
export function runCli(script: string, args: readonly string[], initCwd = REPO_ROOT): Promise<CliOutcome> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", path.join(REPO_ROOT, "bin", script), ...args],
      { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, PENUMBRA_PROVIDERS: "cpu", INIT_CWD: initCwd } },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const cpu = (file: string) => ({ file: `/models/x/${file}`, provider: "cpu" as const, skipped: [{ provider: "cuda" as const, reason: "no CUDA" }] });

export const PROVIDERS: RunResult["providers"] = {
  clipText: cpu("clip_text.onnx"),
  clipImage: cpu("clip_image.onnx"),
  promptEncoder: cpu("prompt_encoder.onnx"),
  unet: { file: "/models/x/unet.onnx", provider: "cuda", skipped: [] },
  vaeDecoder: cpu("vae_decoder.onnx"),
  adapterText: cpu("adapter_text.onnx"),
  adapterImage: cpu("adapter_image.onnx"),
};

const pixels = (width: number, height: number, value: number) => ({ rgb: new Uint8Array(width * height * 3).fill(value), width, height });

/** A 2 × 2 interpolate run (λ = 0, 1.5) on a caption, 4×4 px cells. */
export function interpolateResult(): RunResult {
  const cell = (row: number, col: number, lambda: number, T: number, q: number) => ({
    row,
    col,
    lambda,
    quantileTarget: null,
    angleTarget: null,
    T,
    q,
    nll: -110.5 + T,
    cosineToMean: 1 - T / 200,
    l2FromMean: T / 50,
    decoderAngle: T / 2,
    decoderDistance: T / 10,
    decoderQuantile: q / 2,
    ...pixels(4, 4, 40 * (row * 2 + col)),
  });
  return {
    request: {
      input: { kind: "caption", text: 'a "red" shape, maybe' },
      plan: { kind: "interpolate", lambdas: [0, 1.5] },
      cols: 2,
      seed: 7,
      steps: 20,
      guidanceScale: 3,
      noiseLevel: 0,
      scheduler: "pndm",
      prompt: "",
    },
    preset: { name: "shapes", digest: "0123456789abcdef".repeat(4) },
    providers: PROVIDERS,
    description: {
      input: { kind: "caption", text: 'a "red" shape, maybe', tokens: 7, truncated: false },
      dim: 64,
      uncertainty: 0.00507408,
      logUncertainty: Math.log(0.00507408),
      percentile: 45.74,
      radiusShape: 32.37,
      epistemic: { score: 0.0123, percentile: 40 },
      outOfDistribution: { flagged: false, reasons: [], unknownWords: [] },
      decoder: { sampleAngleMedian: 30.2, tailAngle: 36.5, tailQuantile: 0.95 },
    },
    rows: 2,
    cols: 2,
    cells: [cell(0, 0, 0, 0, 0), cell(0, 1, 0, 0, 0), cell(1, 0, 1.5, 60.25, 0.99999), cell(1, 1, 1.5, 70.5, 0.9)],
    timings: { describeMs: 12.4, planMs: 3.1, decodeMs: 1534.2, totalMs: 1549.7 },
  };
}

/** A 3 × 1 shell run on an image input. */
export function shellResult(): RunResult {
  const quantiles = [0.01, 0.5, 0.99];
  return {
    ...interpolateResult(),
    request: { ...interpolateResult().request, input: { kind: "image", bytes: new Uint8Array([1, 2, 3]) }, plan: { kind: "shell", quantiles }, cols: 1 },
    description: {
      input: { kind: "image", format: "png", width: 64, height: 48 },
      dim: 64,
      uncertainty: 0.0123,
      logUncertainty: Math.log(0.0123),
      percentile: 99.5,
      radiusShape: 32.37,
      epistemic: { score: 0.31, percentile: 100 },
      outOfDistribution: {
        flagged: true,
        reasons: ["Its embedding lies farther from the training images than 99% of held-out images do (epistemic score 0.310, percentile 100)."],
        unknownWords: [],
      },
      decoder: { sampleAngleMedian: 12.5, tailAngle: 15.25, tailQuantile: 0.95 },
    },
    rows: 3,
    cols: 1,
    cells: quantiles.map((q, row) => ({
      row,
      col: 0,
      lambda: null,
      quantileTarget: q,
      angleTarget: null,
      decoderAngle: 5 * row,
      decoderDistance: row,
      decoderQuantile: q,
      T: 20 + 10 * row,
      q,
      nll: -90 + row,
      cosineToMean: 0.9 - 0.1 * row,
      l2FromMean: 0.4 + 0.1 * row,
      ...pixels(4, 4, 100),
    })),
  };
}

// npm run bench:host [-- --preset <dir> | --unet-io float16|float32] [--steps 20 --cols 4 --repeats 5 --threads 2 --json]
// What a grid spends on the host, outside the models: the JavaScript between two UNet evaluations of a batch
// (feed conversions, the guidance combine, the scheduler step, copies) and the PNG encoding still running after the
// last model call. On a GPU the UNet itself shrinks to a few milliseconds an evaluation, so this is the part that
// would otherwise become the grid. Without --preset it builds the synthetic real-size preset
// (models/realsize/make_preset.py: unclip-l's 768×768 images, 4×96×96 latents and float16 UNet inputs, tiny
// random networks) in a temporary folder, so the models' own time is small and the host's shows; --unet-io float32
// builds it with float32 UNet inputs and output instead, the form models/export writes (it casts inside the graph).
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-node";
import sharp from "sharp";
import { encodeImage, openPreset } from "../lib/engine/index";
import { threadSpinning } from "../lib/engine/onnx";
import { readOnnxHeader } from "../lib/engine/onnx-header";
import { makeSyntheticPreset } from "../lib/engine/synthetic-preset";
import { DecoderCore } from "../lib/runs/decoder/core";
import { BENCH_CAPTION, BENCH_LAMBDAS, fixed, percentile, positiveInt, type Spread, spread, summarize, table } from "./bench-stats";


const { values: flags } = parseArgs({
  options: {
    preset: { type: "string" },
    "unet-io": { type: "string", default: "float16" },
    steps: { type: "string", default: "20" },
    cols: { type: "string", default: "4" },
    repeats: { type: "string", default: "5" },
    threads: { type: "string", default: "2" },
    json: { type: "boolean", default: false },
  },
  strict: true,
});

const steps = positiveInt("steps", flags.steps);
const cols = positiveInt("cols", flags.cols);
const repeats = positiveInt("repeats", flags.repeats);
const threads = positiveInt("threads", flags.threads);
const spinning = threadSpinning();
const unetIo = flags["unet-io"];
if (unetIo !== "float16" && unetIo !== "float32") throw new Error(`--unet-io must be float16 or float32, got "${unetIo}"`);

/** One native model call: which graph (by its inputs) and when onnxruntime's own run began and ended. */
interface NativeCall {
  readonly model: "unet" | "vae" | "other";
  readonly start: number;
  readonly end: number;
}
const nativeCalls: NativeCall[] = [];
// Timed around onnxruntime's InferenceSession.run, beneath the engine's ModelSession: the engine's feed and output
// conversions fall outside these spans, so they count as host work, which is what they are.
const sessionPrototype = (ort.InferenceSession as unknown as { prototype: ort.InferenceSession }).prototype;
const nativeRun = sessionPrototype.run;
sessionPrototype.run = async function timedNativeRun(this: ort.InferenceSession, ...args: Parameters<typeof nativeRun>) {
  const feeds = args[0] as Record<string, unknown>;
  const model = "timestep" in feeds ? "unet" : "latent_sample" in feeds ? "vae" : "other";
  const start = performance.now();
  const results = await nativeRun.apply(this, args);
  nativeCalls.push({ model, start, end: performance.now() });
  return results;
} as typeof nativeRun;

let temporary: string | undefined;
let presetDir = flags.preset;
if (presetDir === undefined) {
  temporary = mkdtempSync(path.join(os.tmpdir(), "penumbra-bench-host-"));
  presetDir = path.join(temporary, "synthetic-l");
  await makeSyntheticPreset(presetDir, "l", unetIo);
}
const engine = await openPreset(presetDir, { threads, spinning });
const core = new DecoderCore(async () => engine);
const unetInputs = readOnnxHeader(path.join(engine.preset.dir, engine.config.files.unet.path)).inputs;

interface Grid {
  readonly seconds: number;
  /** Per UNet evaluation after a batch's first: host time between the end of one native run and the start of the next. */
  readonly hostMs: number[];
  readonly unetNativeMs: number[];
  /** From the end of the last native model call to the last PNG handed over: encoding left on the critical path. */
  readonly pngTailMs: number;
  /** Every cell encoded again, one after another, after the grid: what the encoding costs when nothing hides it. */
  readonly pngSerialMs: number;
  readonly evaluations: number;
}

async function timeGrid(seed: number): Promise<Grid> {
  const request = engine.normalize({ input: { kind: "caption", text: BENCH_CAPTION }, plan: { kind: "interpolate", lambdas: [...BENCH_LAMBDAS] }, cols, steps, seed });
  const jobId = `bench-${seed}`;
  const { input } = request;
  if (input.kind !== "caption") throw new Error("the bench decodes a caption");
  const planned = await core.plan({ jobId, presetName: engine.config.name, presetDigest: engine.preset.digest, request: { ...request, input }, input });
  nativeCalls.length = 0;
  const pngs: Uint8Array[] = [];
  let lastHandedOver = 0;
  const started = performance.now();
  await core.decode(
    jobId,
    planned.cells.map((_, index) => index),
    {
      onCell: (_index, png) => {
        pngs.push(png);
        lastHandedOver = performance.now();
      },
    },
  );
  const seconds = (performance.now() - started) / 1000;
  core.release(jobId);
  const unet = nativeCalls.filter((call) => call.model === "unet");
  const vae = nativeCalls.filter((call) => call.model === "vae");
  // A batch ends with its VAE call, so consecutive UNet calls with no VAE call between them belong to one batch.
  const hostMs: number[] = [];
  for (let i = 1; i < unet.length; i++) {
    const sameBatch = !vae.some((call) => call.start > unet[i - 1].end && call.end < unet[i].start);
    if (sameBatch) hostMs.push(unet[i].start - unet[i - 1].end);
  }
  const lastNative = Math.max(...nativeCalls.map((call) => call.end));
  const pixels = await Promise.all(
    pngs.map(async (png) => {
      const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
      return { rgb: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
    }),
  );
  const serialStart = performance.now();
  for (const image of pixels) await encodeImage(image, "png");
  const pngSerialMs = performance.now() - serialStart;
  return {
    seconds,
    hostMs,
    unetNativeMs: unet.map((call) => call.end - call.start),
    pngTailMs: lastHandedOver - lastNative,
    pngSerialMs,
    evaluations: unet.length,
  };
}

await timeGrid(0); // warm-up: onnxruntime's lazy allocations, the PNG encoder's first use
const grids: Grid[] = [];
for (let i = 1; i <= repeats; i++) grids.push(await timeGrid(i));
if (temporary) rmSync(temporary, { recursive: true, force: true });

const hostMs = grids.flatMap((grid) => grid.hostMs);
const unetNativeMs = grids.flatMap((grid) => grid.unetNativeMs);
const withP90 = (values: readonly number[]) => ({ ...spread(values), p90: percentile(values, 90) });
const report = {
  command: `npm run bench:host -- ${process.argv.slice(2).join(" ")}`.trim().replace(/ --$/, ""),
  machine: { cpu: os.cpus()[0]?.model ?? "unknown", cores: os.cpus().length, node: process.version },
  preset: { name: engine.config.name, dir: flags.preset ?? `(synthetic unclip-l, ${unetIo} UNet inputs, temporary)` },
  settings: { caption: BENCH_CAPTION, rows: BENCH_LAMBDAS.length, cols, steps, repeats, threads, spinning, maxBatch: engine.config.limits.maxBatch },
  unetInputTypes: Object.fromEntries(unetInputs.map((input) => [input.name, input.type])),
  evaluationsPerGrid: grids[0].evaluations,
  gridSeconds: summarize(grids.map((grid) => grid.seconds)),
  hostMsPerEvaluation: withP90(hostMs),
  unetNativeMsPerEvaluation: withP90(unetNativeMs),
  pngTailMs: spread(grids.map((grid) => grid.pngTailMs)),
  pngSerialMs: spread(grids.map((grid) => grid.pngSerialMs)),
};

if (flags.json) {
  console.log(JSON.stringify(report, null, 2));
} else {
  const row = (name: string, s: Spread & { p90?: number }, digits = 1) => [name, fixed(s.median, digits), fixed(s.q1, digits), fixed(s.q3, digits), s.p90 === undefined ? "–" : fixed(s.p90, digits)];
  console.log(`machine    ${report.machine.cpu}, ${report.machine.cores} cores, Node ${report.machine.node}`);
  console.log(`preset     ${report.preset.name} ${report.preset.dir}; UNet inputs ${Object.entries(report.unetInputTypes).map(([name, type]) => `${name} ${type}`).join(", ")}`);
  console.log(`grid       ${BENCH_LAMBDAS.length}×${cols}, ${steps} steps, ${threads} threads (spinning ${spinning ? "on" : "off"}), maxBatch ${report.settings.maxBatch}, ${repeats} grids after 1 warm-up, ${report.evaluationsPerGrid} UNet evaluations a grid`);
  console.log();
  console.log(
    table(
      ["per grid or evaluation", "median", "q1", "q3", "p90"],
      [
        row("host ms between UNet evaluations", report.hostMsPerEvaluation, 2),
        row("UNet native ms per evaluation", report.unetNativeMsPerEvaluation, 2),
        row("PNG ms after the last model call", report.pngTailMs),
        row("PNG ms, all cells one by one", report.pngSerialMs),
        ["grid seconds", fixed(report.gridSeconds.median, 3), fixed(report.gridSeconds.min, 3), fixed(report.gridSeconds.max, 3), "(min, max)"],
      ],
    ),
  );
}

// npm run bench [-- --preset <dir> --steps 20 --cols 4 --repeats 6 --threads 2 --no-reference --json]
// Times a 5-row interpolate grid end to end (encoders, adapter, UNet, VAE) on the engine and, when the preset has
// torch twins, on the PyTorch reference pipeline, in pairs whose order alternates (engine then reference, reference
// then engine, …), so each ratio compares two grids run moments apart and a change of load over the run favours
// neither side. Beside the ratio it prints the compute floor: the grid's FLOPs, counted from its graphs, over a
// matmul rate measured after each engine grid. Per UNet evaluation latency comes from a timed hook around
// ModelSession.run (see docs/benchmarks.md).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { z } from "zod";
import { type Engine, openPreset } from "../lib/engine/index";
import { ModelSession, threadSpinning } from "../lib/engine/onnx";
import {
  BENCH_CAPTION,
  BENCH_LAMBDAS,
  deltas,
  fixed,
  inPairs,
  type Pair,
  pairRatios,
  percentile,
  positiveInt,
  type Spread,
  type Summary,
  spread,
  summarize,
  table,
} from "./bench-stats";
import { type CallSize, countFlops, type MatmulPeak, MatmulProbe } from "./compute-floor";

const TARGET_RATIO = 1.5;
const TARGET_RSS_MB = 1024;
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const { values: flags } = parseArgs({
  options: {
    preset: { type: "string", default: "shapes" },
    steps: { type: "string", default: "20" },
    cols: { type: "string", default: "4" },
    repeats: { type: "string", default: "6" },
    threads: { type: "string", default: "2" },
    "no-reference": { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  },
  strict: true,
});

const steps = positiveInt("steps", flags.steps);
const cols = positiveInt("cols", flags.cols);
const repeats = positiveInt("repeats", flags.repeats);
const threads = positiveInt("threads", flags.threads);
const spinning = threadSpinning();
const images = BENCH_LAMBDAS.length * cols;

/** One UNet evaluation: its wall time and how many batch rows it ran (a guidance pair is two). */
interface UnetEvaluation {
  readonly ms: number;
  readonly rows: number;
}

// A hook around ModelSession.run, installed here rather than in the engine so the engine's hot path carries no
// timing code: it times exactly the UNet call (with its float16 conversions), not the scheduler, and notes the
// graph and input sizes of every model call, which is what the FLOP count of a grid needs.
const unetEvaluations: UnetEvaluation[] = [];
/** A model call of the current grid: which model, and its graph and input sizes for the FLOP count. */
interface ModelCall {
  readonly model: string;
  readonly size: CallSize;
}
const modelCalls: ModelCall[] = [];
const untimedRun = ModelSession.prototype.run;
ModelSession.prototype.run = async function timedRun(this: ModelSession, feeds) {
  modelCalls.push({ model: this.key, size: { file: this.file, inputs: Object.fromEntries(Object.entries(feeds).map(([name, feed]) => [name, [...feed.dims]])) } });
  if (this.key !== "unet") return untimedRun.call(this, feeds);
  const started = performance.now();
  const outputs = await untimedRun.call(this, feeds);
  unetEvaluations.push({ ms: performance.now() - started, rows: feeds.sample.dims[0] });
  return outputs;
};

interface EngineRun {
  readonly seconds: number;
  readonly firstRowSeconds: number;
  readonly imagesPerSecond: number;
  /** Gaps between UNet evaluations of the same batch; a batch's first evaluation is skipped as it also covers setup. */
  readonly stepMs: number[];
  readonly unet: UnetEvaluation[];
  /** The engine's own split: describe (encoders, adapter, epistemic score, vocabulary) and plan (cells, decoder reference). */
  readonly describeMs: number;
  readonly planMs: number;
  readonly calls: ModelCall[];
}

async function timeEngine(engine: Engine, seed: number): Promise<EngineRun> {
  const stepTimes: { t: number; batch: number }[] = [];
  unetEvaluations.length = 0;
  modelCalls.length = 0;
  let firstRowCells = 0;
  let firstRow = Number.NaN;
  const started = performance.now();
  const result = await engine.run(
    { input: { kind: "caption", text: BENCH_CAPTION }, plan: { kind: "interpolate", lambdas: [...BENCH_LAMBDAS] }, cols, steps, seed },
    {
      onStep: ({ batch }) => stepTimes.push({ t: performance.now(), batch }),
      // Cells are row-major, so row 0 is the first `cols` indices, in whatever order they finish.
      onCell: (index) => {
        if (index < cols && ++firstRowCells === cols) firstRow = performance.now() - started;
      },
    },
  );
  const seconds = (performance.now() - started) / 1000;
  const batches = [...new Set(stepTimes.map((s) => s.batch))];
  const stepMs = batches.flatMap((b) => deltas(stepTimes.filter((s) => s.batch === b).map((s) => s.t)));
  const { describeMs, planMs } = result.timings;
  const calls = [...modelCalls];
  return { seconds, firstRowSeconds: firstRow / 1000, imagesPerSecond: images / seconds, stepMs, unet: [...unetEvaluations], describeMs, planMs, calls };
}

const referenceLine = z.object({ seconds: z.number(), first_row_seconds: z.number(), images_per_second: z.number(), peak_rss_mb: z.number(), torch: z.string() });
type ReferenceRun = z.infer<typeof referenceLine>;

/** One reference grid in its own Python process, so each repeat pays the same costs as the engine's timed runs do not share. */
async function timeReference(presetDir: string): Promise<ReferenceRun> {
  const args = ["-m", "models.training.bench_reference", "--preset", presetDir, "--cols", `${cols}`, "--steps", `${steps}`, "--threads", `${threads}`];
  const child = spawnSync("/usr/bin/python3", args, { cwd: REPO_ROOT, encoding: "utf8" });
  if (child.status !== 0) throw new Error(`the reference failed (exit ${child.status}): ${child.stderr.trim().split("\n").slice(-3).join(" | ")}`);
  const last = child.stdout.trim().split("\n").at(-1) ?? "";
  return referenceLine.parse(JSON.parse(last));
}

const loadStarted = performance.now();
const engine = await openPreset(flags.preset, { threads, spinning });
const loadSeconds = (performance.now() - loadStarted) / 1000;
const presetDir = engine.preset.dir;

const hasTwins = existsSync(path.join(presetDir, "torch"));
const referenceSkipped = flags["no-reference"] ? "--no-reference" : hasTwins ? undefined : `no ${path.join(presetDir, "torch")}`;

/** An engine grid, then the matmul rate right after it, so the floor sees the machine state the grid saw. */
interface EngineSide {
  readonly run: EngineRun;
  readonly peak: MatmulPeak;
}
let seed = 1;
async function engineSide(): Promise<EngineSide> {
  const run = await timeEngine(engine, seed++);
  return { run, peak: await probe.measure() };
}

// The first run pays for lazy allocations inside onnxruntime; it is not what a user of a warm engine sees.
await timeEngine(engine, 0);
// What the engine alone holds at its peak: the probe's session and inputs (three 4 MiB matrices) come after.
const enginePeakRssMb = process.resourceUsage().maxRSS / 1024;
const probe = await MatmulProbe.open(threads, spinning);
async function engineAlone(): Promise<EngineSide[]> {
  const sides: EngineSide[] = [];
  for (let i = 0; i < repeats; i++) sides.push(await engineSide());
  return sides;
}
const pairs: Pair<EngineSide, ReferenceRun>[] = referenceSkipped === undefined ? await inPairs(repeats, engineSide, () => timeReference(presetDir)) : [];
const engineSides = pairs.length > 0 ? pairs.map((pair) => pair.engine) : await engineAlone();
const runs = engineSides.map((side) => side.run);
const reference = pairs.map((pair) => pair.reference);
const peakRssMb = process.resourceUsage().maxRSS / 1024;
await probe.release();

/** Median, extremes and p90; undefined when there is nothing to summarize (one evaluation per batch leaves no step gaps). */
function withP90(values: readonly number[]): (Summary & { p90: number }) | undefined {
  return values.length === 0 ? undefined : { ...summarize(values), p90: percentile(values, 90) };
}

const evaluations = runs.flatMap((r) => r.unet);
const penumbra = {
  seconds: summarize(runs.map((r) => r.seconds)),
  firstRowSeconds: summarize(runs.map((r) => r.firstRowSeconds)),
  imagesPerSecond: summarize(runs.map((r) => r.imagesPerSecond)),
  stepMs: withP90(runs.flatMap((r) => r.stepMs)),
  unetEvaluations: evaluations.length / runs.length,
  unetMs: withP90(evaluations.map((e) => e.ms)),
  unetMsPerRow: withP90(evaluations.map((e) => e.ms / e.rows)),
  describeMs: summarize(runs.map((r) => r.describeMs)),
  planMs: summarize(runs.map((r) => r.planMs)),
  // Everything the out-of-distribution signal and the decoder-side metrics add runs inside describe and plan, so a grid
  // without them takes at least (grid − describe − plan): this ratio bounds their cost from above, within one run.
  describePlanBound: summarize(runs.map((r) => (r.seconds * 1000) / (r.seconds * 1000 - r.describeMs - r.planMs))),
};
const ref =
  reference.length === 0
    ? undefined
    : {
        torch: reference[0].torch,
        seconds: summarize(reference.map((r) => r.seconds)),
        firstRowSeconds: summarize(reference.map((r) => r.first_row_seconds)),
        imagesPerSecond: summarize(reference.map((r) => r.images_per_second)),
        peakRssMb: summarize(reference.map((r) => r.peak_rss_mb)),
      };
const pairRatio = pairs.length === 0 ? undefined : spread(pairRatios(pairs.map((pair) => ({ engine: pair.engine.run.imagesPerSecond, reference: pair.reference.images_per_second }))));
const ratio = pairRatio?.median;

/**
 * Each engine grid's floor: its FLOPs (the same for every grid of one command, as every grid makes the same calls)
 * over the matmul rate measured right after it; the multiple is the grid's time over that floor.
 */
function computeFloor() {
  const sum = (values: readonly number[]) => values.reduce((total, value) => total + value, 0);
  let flops: number[];
  try {
    flops = countFlops(runs.flatMap((run) => run.calls.map((call) => call.size)));
  } catch (error) {
    return { unavailable: error instanceof Error ? error.message : String(error) };
  }
  let offset = 0;
  const perRun = runs.map((run) => flops.slice(offset, (offset += run.calls.length)));
  const byModel: Record<string, number> = {};
  runs[0].calls.forEach((call, i) => {
    byModel[call.model] = (byModel[call.model] ?? 0) + perRun[0][i];
  });
  const gridFlops = perRun.map(sum);
  const floors = engineSides.map((side, i) => gridFlops[i] / side.peak.flopsPerSecond);
  return {
    flopsPerGrid: summarize(gridFlops),
    byModel,
    matmulN: engineSides[0].peak.n,
    matmulGflops: spread(engineSides.map((side) => side.peak.flopsPerSecond / 1e9)),
    floorSeconds: spread(floors),
    multiple: spread(runs.map((run, i) => run.seconds / floors[i])),
  };
}
const floor = computeFloor();

const report = {
  command: `npm run bench -- ${process.argv.slice(2).join(" ")}`.trim().replace(/ --$/, ""),
  machine: {
    cpu: os.cpus()[0]?.model ?? "unknown",
    cores: os.cpus().length,
    memoryGiB: Number((os.totalmem() / 2 ** 30).toFixed(1)),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  },
  preset: { name: engine.config.name, dir: presetDir },
  settings: { caption: BENCH_CAPTION, lambdas: BENCH_LAMBDAS, rows: BENCH_LAMBDAS.length, cols, steps, images, repeats, threads, spinning },
  providers: Object.fromEntries(Object.entries(engine.providers()).map(([key, report]) => [key, report.provider])),
  // peakRssMb covers the whole process, the matmul probe included, so the target is checked on an upper bound.
  penumbra: { loadSeconds, ...penumbra, peakRssMb, peakRssMbBeforeProbe: enginePeakRssMb },
  reference: ref ?? { skipped: referenceSkipped },
  // Per pair: which side ran first, both grids' throughput and their ratio; throughputRatio summarizes the ratios.
  pairs: pairs.map((pair, i) => ({
    pair: i + 1,
    order: pair.order,
    penumbraImagesPerSecond: pair.engine.run.imagesPerSecond,
    referenceImagesPerSecond: pair.reference.images_per_second,
    ratio: pair.engine.run.imagesPerSecond / pair.reference.images_per_second,
    matmulGflops: pair.engine.peak.flopsPerSecond / 1e9,
  })),
  throughputRatio: pairRatio,
  computeFloor: floor,
  targets: { ratioAtLeast: TARGET_RATIO, ratioMet: ratio === undefined ? undefined : ratio >= TARGET_RATIO, rssBelowMb: TARGET_RSS_MB, rssMet: peakRssMb < TARGET_RSS_MB },
};

if (flags.json) {
  console.log(JSON.stringify(report, null, 2));
} else {
  const { machine } = report;
  const both = (name: string, digits: number, p: Summary, r: Summary | undefined, best: "min" | "max") => [
    name,
    fixed(p.median, digits),
    fixed(p[best], digits),
    fixed(r?.median, digits),
    fixed(r?.[best], digits),
  ];
  const withP90Row = (name: string, summary: (Summary & { p90: number }) | undefined) => [name, `${fixed(summary?.median, 1)} (${fixed(summary?.p90, 1)})`, fixed(summary?.min, 1), "–", "–"];
  console.log(`machine    ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node} (${machine.platform})`);
  console.log(`preset     ${report.preset.name} (${presetDir})`);
  const repeated = pairs.length ? `${repeats} engine/reference pairs, order alternating` : `${repeats} engine grids`;
  console.log(`grid       ${BENCH_LAMBDAS.length}×${cols} interpolate, ${steps} steps, caption "${BENCH_CAPTION}", ${threads} threads (spinning ${spinning ? "on" : "off"}), ${repeated}, after 1 engine warm-up`);
  console.log(`providers  ${Object.entries(report.providers).map(([key, provider]) => `${key}=${provider}`).join(" ")}`);
  console.log(`load       ${fixed(loadSeconds, 2)} s (open + verify + create sessions)\n`);
  console.log(
    table(
      ["metric", "penumbra median", "best", "reference median", "best"],
      [
        both("images/s", 2, penumbra.imagesPerSecond, ref?.imagesPerSecond, "max"),
        both("grid seconds", 3, penumbra.seconds, ref?.seconds, "min"),
        both("first row seconds", 3, penumbra.firstRowSeconds, ref?.firstRowSeconds, "min"),
        withP90Row("UNet step ms (p90)", penumbra.stepMs),
        withP90Row("UNet eval ms (p90)", penumbra.unetMs),
        withP90Row("UNet eval ms/row (p90)", penumbra.unetMsPerRow),
        ["describe ms", fixed(penumbra.describeMs.median, 1), fixed(penumbra.describeMs.min, 1), "–", "–"],
        ["plan ms", fixed(penumbra.planMs.median, 1), fixed(penumbra.planMs.min, 1), "–", "–"],
        ["peak RSS MB", fixed(peakRssMb, 0), "", fixed(ref?.peakRssMb.median, 0), fixed(ref?.peakRssMb.min, 0)],
      ],
    ),
  );
  console.log();
  if (pairs.length) {
    console.log(
      table(
        ["pair", "order", "penumbra images/s", "reference images/s", "ratio", "matmul GFLOP/s"],
        report.pairs.map((pair) => [
          `${pair.pair}`,
          pair.order.map((side) => (side === "engine" ? "E" : "R")).join(","),
          fixed(pair.penumbraImagesPerSecond, 2),
          fixed(pair.referenceImagesPerSecond, 2),
          fixed(pair.ratio, 2),
          fixed(pair.matmulGflops, 0),
        ]),
      ),
    );
    console.log();
  }
  if (pairRatio === undefined) console.log(`reference  skipped (${referenceSkipped})`);
  else
    console.log(
      `throughput penumbra / reference (torch ${ref?.torch}), per pair: median ${fixed(pairRatio.median, 2)}×, interquartile ${fixed(pairRatio.q1, 2)}–${fixed(pairRatio.q3, 2)}×, ` +
        `range ${fixed(pairRatio.min, 2)}–${fixed(pairRatio.max, 2)}× over ${pairs.length} pairs — target ≥ ${TARGET_RATIO}× (median): ${pairRatio.median >= TARGET_RATIO ? "met" : "NOT met"}`,
    );
  if ("unavailable" in floor) console.log(`compute floor unavailable: ${floor.unavailable}`);
  else {
    const models = Object.entries(floor.byModel)
      .sort(([, a], [, b]) => b - a)
      .map(([model, flops]) => `${model} ${fixed(flops / 1e9, 2)}`)
      .join(", ");
    console.log(
      `compute floor ${fixed(floor.flopsPerGrid.median / 1e9, 2)} GFLOP per grid (${models}; MatMul, Gemm, Conv and attention only) ÷ ` +
        `${floor.matmulN}×${floor.matmulN} float32 matmul peak, median ${fixed(floor.matmulGflops.median, 0)} GFLOP/s (${fixed(floor.matmulGflops.min, 0)}–${fixed(floor.matmulGflops.max, 0)}) = ` +
        `${fixed(floor.floorSeconds.median, 3)} s per grid; penumbra's grid takes ${fixed(floor.multiple.median, 1)}× its floor (interquartile ${fixed(floor.multiple.q1, 1)}–${fixed(floor.multiple.q3, 1)}×)`,
    );
  }
  console.log(
    `peak RSS   ${fixed(peakRssMb, 0)} MB, the matmul probe included (${fixed(enginePeakRssMb, 0)} MB after the warm-up grid, before the probe) — target < ${TARGET_RSS_MB} MB: ${report.targets.rssMet ? "met" : "NOT met"}`,
  );
  console.log(
    `describe + plan bound: grid ÷ (grid − describe − plan) = ${fixed(penumbra.describePlanBound.median, 3)}× median (${fixed(penumbra.describePlanBound.min, 3)}–${fixed(penumbra.describePlanBound.max, 3)}) — ` +
      `at most this much of a grid's time is describe and plan, where the epistemic score, vocabulary check and decoder reference run`,
  );
}

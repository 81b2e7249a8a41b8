/*
 * npm run bench:serving — does the web process keep serving while a grid decodes?
 *
 * Builds the app (unless --skip-build), starts the production server on loopback with a throwaway
 * data folder, warms it with a small run, then submits a 9 × 8 grid (the shapes preset's largest)
 * and, while it decodes, keeps CLIENTS concurrent clients issuing GETs (health, the run's JSON,
 * the gallery page, the run page) back to back. The same load runs for the same time with nothing
 * decoding, before and after, so the idle and busy figures come from one run on one machine.
 *
 * Reports: latency percentiles of every GET that started while the grid decoded and while idle;
 * when the first cell of row 0 reached the event stream and when row 1's last cell did (the issue's
 * bar: GET p99 < 200 ms, row 0's first cell before row 1 finishes).
 *
 *   tsx scripts/bench-serving.ts [--skip-build] [--clients N] [--json FILE]
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fixed, percentile, table } from "./bench-stats";
import { buildUnlessSkipped, freePort, readRunEvents, startWeb, waitUntilServing } from "./lib/processes";

const argv = process.argv.slice(2);
const option = (name: string) => {
  const at = argv.indexOf(name);
  return at >= 0 ? argv[at + 1] : undefined;
};
const CLIENTS = Number(option("--clients") ?? 8);
const JSON_OUT = option("--json");
const GRID = { input: { kind: "caption", text: "a shape" }, plan: { kind: "geodesic", rows: 9 }, cols: 8, seed: 7 };
const WARM_UP = { input: { kind: "caption", text: "a red shape" }, plan: { kind: "geodesic", rows: 2 }, cols: 2, steps: 2 };

interface Sample {
  readonly path: string;
  readonly startedAt: number;
  readonly ms: number;
  readonly status: number;
}

async function postRun(baseURL: string, body: object): Promise<string> {
  const response = await fetch(`${baseURL}/api/runs`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  if (!response.ok) throw new Error(`POST /api/runs: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { run: { id: string } }).run.id;
}

/** Reads the run's event stream until the run ends, calling `onEvent` with each event's type, data and arrival time. */
function follow(baseURL: string, id: string, onEvent: (type: string, data: unknown, at: number) => void): Promise<void> {
  return readRunEvents(baseURL, id, ({ type, data, at }) => {
    onEvent(type, data, at);
    const { status } = data as { status?: string };
    return type === "status" && status !== "queued" && status !== "running";
  });
}

/** CLIENTS loops of GETs over `paths` until `running()` turns false. */
async function load(baseURL: string, paths: readonly string[], running: () => boolean): Promise<Sample[]> {
  const samples: Sample[] = [];
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, client) => {
      for (let i = client; running(); i++) {
        const target = paths[i % paths.length];
        const startedAt = performance.now();
        const response = await fetch(`${baseURL}${target}`);
        await response.arrayBuffer();
        samples.push({ path: target, startedAt, ms: performance.now() - startedAt, status: response.status });
      }
    }),
  );
  return samples;
}

function summaryRows(label: string, samples: readonly Sample[]): string[][] {
  const groups = new Map<string, number[]>([["all GETs", samples.map((s) => s.ms)]]);
  for (const sample of samples) {
    const key = sample.path.replace(/[0-9a-f]{24}/, ":id");
    groups.set(key, [...(groups.get(key) ?? []), sample.ms]);
  }
  return [...groups].map(([key, values]) => [label, key, String(values.length), fixed(percentile(values, 50), 1), fixed(percentile(values, 99), 1), fixed(Math.max(...values), 1)]);
}

async function main(): Promise<void> {
  buildUnlessSkipped();
  const port = await freePort();
  const baseURL = `http://127.0.0.1:${port}`;
  const dataDir = mkdtempSync(path.join(tmpdir(), "penumbra-bench-serving-"));
  const server = startWeb(port, { PENUMBRA_DATA: dataDir, PENUMBRA_IDLE_CANCEL_MS: "600000" });
  try {
    await waitUntilServing(`${baseURL}/api/health`, server.process);
    // Loads the models into the decode thread and compiles every page the load visits.
    const warm = await postRun(baseURL, WARM_UP);
    await follow(baseURL, warm, () => {});
    const paths = ["/api/health", `/api/runs/${warm}`, "/gallery", `/runs/${warm}`];
    await load(baseURL, paths, ((until) => () => performance.now() < until)(performance.now() + 2000));

    // Idle: the same load, nothing decoding, for a fixed time.
    const idleMs = 8000;
    const idleBefore = await load(baseURL, paths, ((until) => () => performance.now() < until)(performance.now() + idleMs));

    const submitted = performance.now();
    const id = await postRun(baseURL, GRID);
    const cellTimes = new Map<number, number>();
    let decoding = true;
    let runningAt = Number.NaN;
    let doneAt = Number.NaN;
    let finalStatus = "";
    const stream = follow(baseURL, id, (type, data, at) => {
      if (type === "cell") cellTimes.set((data as { index: number }).index, at - submitted);
      if (type === "status" || type === "snapshot") {
        const { status } = data as { status: string };
        // The stream may open after the run started: then its first snapshot already says running.
        if (status === "running" && Number.isNaN(runningAt)) runningAt = at;
        if (type === "status" && status !== "queued" && status !== "running") {
          finalStatus = status;
          doneAt = at;
          decoding = false;
        }
      }
    });
    const busyPaths = ["/api/health", `/api/runs/${id}`, "/gallery", `/runs/${id}`];
    const busy = await load(baseURL, busyPaths, () => decoding);
    await stream;
    const idleAfter = await load(baseURL, paths, ((until) => () => performance.now() < until)(performance.now() + idleMs));
    if (finalStatus !== "done") throw new Error(`the 9 × 8 run ended ${finalStatus}`);

    const during = busy.filter((s) => s.startedAt >= runningAt && s.startedAt <= doneAt);
    const idle = [...idleBefore, ...idleAfter];
    const failed = [...during, ...idle].filter((s) => s.status !== 200);
    const cols = GRID.cols;
    const rowDone = (row: number) => Math.max(...Array.from({ length: cols }, (_, c) => cellTimes.get(row * cols + c) ?? Number.NaN));
    const firstOfRow0 = Math.min(...Array.from({ length: cols }, (_, c) => cellTimes.get(c) ?? Number.NaN));
    const duringP99 = percentile(during.map((s) => s.ms), 99);
    const result = {
      clients: CLIENTS,
      cores: (await import("node:os")).availableParallelism(),
      decodeSeconds: (doneAt - runningAt) / 1000,
      cells: cellTimes.size,
      firstCellOfRow0Seconds: firstOfRow0 / 1000,
      row0DoneSeconds: rowDone(0) / 1000,
      row1DoneSeconds: rowDone(1) / 1000,
      lastCellSeconds: Math.max(...cellTimes.values()) / 1000,
      duringDecode: { requests: during.length, p50: percentile(during.map((s) => s.ms), 50), p99: duringP99, max: Math.max(...during.map((s) => s.ms)) },
      idle: { requests: idle.length, p50: percentile(idle.map((s) => s.ms), 50), p99: percentile(idle.map((s) => s.ms), 99) },
      non200: failed.length,
      bars: { getP99Under200ms: duringP99 < 200, firstCellBeforeRow1Done: firstOfRow0 < rowDone(1) },
    };
    console.log(`\n9 × 8 grid of "a shape" (shapes preset, ${result.cells} cells) decoded in ${fixed(result.decodeSeconds, 2)} s with ${CLIENTS} clients loading the server (${result.cores} cores)`);
    console.log(
      `cells on the event stream (from submission): row 0 first ${fixed(result.firstCellOfRow0Seconds, 2)} s, row 0 all ${fixed(result.row0DoneSeconds, 2)} s, row 1 all ${fixed(result.row1DoneSeconds, 2)} s, last ${fixed(result.lastCellSeconds, 2)} s\n`,
    );
    console.log(table(["phase", "GET", "n", "p50 ms", "p99 ms", "max ms"], [...summaryRows("decoding", during), ...summaryRows("idle", idle)]));
    console.log(`\nnon-200 answers: ${failed.length}`);
    console.log(`bar GET p99 < 200 ms while decoding: ${result.bars.getP99Under200ms ? "met" : "NOT met"} (${fixed(duringP99, 1)} ms)`);
    console.log(`bar row 0's first cell before row 1 finishes: ${result.bars.firstCellBeforeRow1Done ? "met" : "NOT met"}`);
    if (JSON_OUT) writeFileSync(JSON_OUT, `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

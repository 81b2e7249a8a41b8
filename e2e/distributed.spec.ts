import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect, test } from "@playwright/test";
import { runId } from "../lib/runs/ids";
import { startPostgres, startRedis } from "../lib/runs/test-servers";
import { delay, freePort, readRunEvents, type Started, startWeb, startWorkerProcess, waitUntilServing } from "../scripts/lib/processes";
import { createRun, getRun, type Run, type RunRequest } from "./helpers/api";

/*
 * The distributed deployment on loopback: real PostgreSQL and Redis (throwaway servers on free
 * ports), two web processes of the production build and two decode workers (`npm run worker`).
 * The embedded server Playwright started decodes the same requests for reference: a run's id and
 * cell images (named by their sha256) must not depend on where it was decoded.
 */

test.describe.configure({ mode: "serial", timeout: 240_000 });

const QUEUE_LIMIT = 6;
const LOCK_MS = 2000;

interface Cluster {
  env: Record<string, string>;
  webs: { port: number; url: string; process: Started }[];
  workers: Started[];
  stopServers: () => Promise<void>;
  dataDir: string;
}

let cluster: Cluster;

async function startWebAt(port: number, env: Record<string, string>): Promise<{ port: number; url: string; process: Started }> {
  const url = `http://127.0.0.1:${port}`;
  const process = startWeb(port, env);
  await waitUntilServing(`${url}/api/health`, process.process).catch((error: unknown) => {
    throw new Error(`${String(error)}\n${process.stderr()}`);
  });
  return { port, url, process };
}

/** Whether the worker's output says it took the run, waiting up to `timeoutMs` for it to. */
async function takes(worker: Started, storedId: string, timeoutMs = 60_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (worker.stdout().includes(`decoding run ${storedId}`)) return true;
    if (worker.process.exitCode !== null || worker.process.signalCode !== null) return false;
    await delay(50);
  }
  return false;
}

async function post(base: string, body: RunRequest): Promise<Response> {
  return fetch(`${base}/api/runs`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
}

async function runAt(base: string, id: string): Promise<Run> {
  const response = await fetch(`${base}/api/runs/${id}`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { run: Run }).run;
}

/** Follows a run's event stream until it ends, is cut, or `stopAfter` says so; returns the events seen. */
async function watch(base: string, id: string, stopAfter: (events: { type: string; data: unknown }[]) => boolean = () => false): Promise<{ type: string; data: unknown }[]> {
  const events: { type: string; data: unknown }[] = [];
  await readRunEvents(base, id, ({ type, data }) => {
    events.push({ type, data });
    return stopAfter(events);
  });
  return events;
}

const ended = (events: { type: string; data: unknown }[]) => {
  const last = events.at(-1);
  if (!last) return false;
  const status = (last.data as { status?: string }).status;
  return (last.type === "status" || (last.type === "snapshot" && events.length === 1)) && (status === "done" || status === "failed" || status === "cancelled");
};

const cellsOf = (run: Run) => run.cells.map((cell) => cell.image);

async function embeddedReference(request: Parameters<typeof createRun>[0], body: RunRequest): Promise<Run> {
  const created = await createRun(request, body);
  await expect.poll(async () => (await getRun(request, created.id)).status, { timeout: 120_000 }).toBe("done");
  return getRun(request, created.id);
}

test.beforeAll(async () => {
  const [postgres, redis] = await Promise.all([startPostgres(), startRedis()]);
  const dataDir = mkdtempSync(path.join(tmpdir(), "penumbra-distributed-"));
  const env = {
    PENUMBRA_DATABASE_URL: postgres.url,
    PENUMBRA_QUEUE_URL: redis.url,
    PENUMBRA_QUEUE_LIMIT: String(QUEUE_LIMIT),
    PENUMBRA_WORKER_LOCK_MS: String(LOCK_MS),
    PENUMBRA_IDLE_CANCEL_MS: "120000",
    // Nothing of the distributed deployment may land here; the test checks it stays empty.
    PENUMBRA_DATA: path.join(dataDir, "unused"),
    PENUMBRA_PROVIDERS: "cpu",
  };
  const [portA, portB] = [await freePort(), await freePort()];
  const webs = await Promise.all([startWebAt(portA, env), startWebAt(portB, env)]);
  const workers = [startWorkerProcess(env), startWorkerProcess(env)];
  cluster = { env, webs, workers, dataDir, stopServers: async () => void (await Promise.all([postgres.stop(), redis.stop()])) };
});

test.afterAll(async () => {
  if (!cluster) return;
  await Promise.all([...cluster.webs.map((web) => web.process.stop("SIGKILL")), ...cluster.workers.map((worker) => worker.stop("SIGKILL"))]);
  await cluster.stopServers();
  rmSync(cluster.dataDir, { recursive: true, force: true });
});

test("a run submitted to one web process completes with watchers on both, to the embedded deployment's cells", async ({ request }) => {
  const body: RunRequest = { input: { kind: "caption", text: "a red shape" }, cols: 3, steps: 4, seed: 11 };
  const [a, b] = cluster.webs;
  const created = await post(a.url, body);
  expect(created.status).toBe(201);
  const { run } = (await created.json()) as { run: Run };
  const [onA, onB] = await Promise.all([watch(a.url, run.id, ended), watch(b.url, run.id, ended)]);
  for (const events of [onA, onB]) {
    expect(events.at(-1)).toEqual({ type: "status", data: { status: "done", error: null } });
  }
  const done = await runAt(b.url, run.id);
  expect(done.status).toBe("done");
  const reference = await embeddedReference(request, body);
  expect(reference.request).toEqual(done.request);
  expect(cellsOf(done)).toEqual(cellsOf(reference));
  // Each image is served by either web process from the shared blob store.
  const image = await fetch(`${a.url}/api/images/${done.cells[0].image}`);
  expect(image.headers.get("content-type")).toBe("image/png");
  // Nothing of the distributed deployment touched a local data folder.
  expect(existsSync(cluster.env.PENUMBRA_DATA)).toBe(false);
});

test("a worker killed mid-run loses nothing: the other resumes it to byte-identical cells", async ({ request }) => {
  const body: RunRequest = { input: { kind: "caption", text: "a shape" }, plan: { kind: "geodesic", rows: 6 }, cols: 8, steps: 12, seed: 3 };
  const [a] = cluster.webs;
  const created = await post(a.url, body);
  const { run } = (await created.json()) as { run: Run };
  // Workers log the id the run is stored under, which the request determines (the link's id is another).
  const stored = runId(run.preset.digest, run.request);
  await expect.poll(() => cluster.workers.findIndex((worker) => worker.stdout().includes(`decoding run ${stored}`)), { timeout: 60_000 }).toBeGreaterThanOrEqual(0);
  const taken = cluster.workers.findIndex((worker) => worker.stdout().includes(`decoding run ${stored}`));
  // Kill it once some, not all, cells are stored.
  await expect.poll(async () => (await runAt(a.url, run.id)).cells.filter((cell) => cell.image).length, { timeout: 120_000, intervals: [50] }).toBeGreaterThan(0);
  const before = await runAt(a.url, run.id);
  expect(before.status).toBe("running");
  await cluster.workers[taken].stop("SIGKILL");
  const survivor = cluster.workers[1 - taken];
  expect(await takes(survivor, stored, 60_000)).toBe(true);
  await expect.poll(async () => (await runAt(a.url, run.id)).status, { timeout: 180_000 }).toBe("done");
  const done = await runAt(a.url, run.id);
  // Cells stored before the kill keep their images; all match an uninterrupted decode.
  before.cells.forEach((cell, i) => {
    if (cell.image) expect(done.cells[i].image).toBe(cell.image);
  });
  const reference = await embeddedReference(request, body);
  expect(cellsOf(done)).toEqual(cellsOf(reference));
  cluster.workers[taken] = startWorkerProcess(cluster.env);
});

test("a web process restarted mid-run loses no event a reconnecting watcher needs", async () => {
  const body: RunRequest = { input: { kind: "caption", text: "a blue shape" }, plan: { kind: "geodesic", rows: 5 }, cols: 8, steps: 12, seed: 5 };
  const [a, b] = cluster.webs;
  const created = await post(b.url, body);
  const { run } = (await created.json()) as { run: Run };
  const seen = new Map<number, string>();
  const collect = (events: { type: string; data: unknown }[]) => {
    for (const event of events) {
      if (event.type === "cell") {
        const { index, image } = event.data as { index: number; image: string };
        seen.set(index, image);
      }
      if (event.type === "snapshot") for (const cell of (event.data as Run).cells) if (cell.image) seen.set(cell.index, cell.image);
    }
  };
  // Watch on A until the first cell arrives, then kill A mid-run.
  const first = watch(a.url, run.id, (events) => events.some((event) => event.type === "cell"));
  collect(await first);
  const stream = watch(a.url, run.id);
  await delay(200);
  await a.process.stop("SIGKILL");
  collect(await stream);
  expect((await runAt(b.url, run.id)).status).not.toBe("done");
  // The same port again, as a supervisor would restart it; the watcher reconnects there.
  cluster.webs[0] = await startWebAt(a.port, cluster.env);
  collect(await watch(cluster.webs[0].url, run.id, ended));
  const done = await runAt(b.url, run.id);
  expect(done.status).toBe("done");
  expect([...seen.entries()].sort(([i], [j]) => i - j).map(([, image]) => image)).toEqual(cellsOf(done));
});

test("20 concurrent submissions across both web processes fill the shared queue limit; the rest get 429 with Retry-After", async () => {
  // No worker takes runs while the burst lands, so the queue's depth is exactly what was admitted.
  await Promise.all(cluster.workers.map((worker) => worker.stop("SIGTERM")));
  const bodies = Array.from({ length: 20 }, (_, i): RunRequest => ({ input: { kind: "caption", text: `burst ${i}` }, cols: 1, steps: 1 }));
  const answers = await Promise.all(bodies.map((body, i) => post(cluster.webs[i % 2].url, body)));
  const statuses = answers.map((answer) => answer.status);
  expect(statuses.filter((status) => status === 201)).toHaveLength(QUEUE_LIMIT);
  expect(statuses.filter((status) => status === 429)).toHaveLength(20 - QUEUE_LIMIT);
  for (const answer of answers.filter((response) => response.status === 429)) {
    expect(Number(answer.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(((await answer.json()) as { error: { code: string } }).error.code).toBe("queue_full");
  }
  const health = (await (await fetch(`${cluster.webs[1].url}/api/health`)).json()) as { queue: { depth: number; limit: number } };
  expect(health.queue).toMatchObject({ depth: QUEUE_LIMIT, limit: QUEUE_LIMIT });
  // Workers back: the admitted runs drain.
  cluster.workers = [startWorkerProcess(cluster.env), startWorkerProcess(cluster.env)];
  const admitted = (await Promise.all(answers.filter((answer) => answer.status === 201).map(async (answer) => ((await answer.json()) as { run: Run }).run.id))) as string[];
  for (const id of admitted) await expect.poll(async () => (await runAt(cluster.webs[0].url, id)).status, { timeout: 120_000 }).toBe("done");
});

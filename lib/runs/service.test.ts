import { existsSync } from "node:fs";
import { mkdtemp, rm, unlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import sharp from "sharp";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { type Engine, EngineError, openPreset, readPngText } from "../engine/index";
import { RUN_KEY } from "../record";
import { getRunService, openRunService, type RunServiceOptions } from "./deployment";
import { runId } from "./ids";
import { IDLE_CANCEL_REASON } from "./runner";
import { type RunService, STOPPED_REASON } from "./service";
import { readZip, unzipTests } from "./testing";
import type { Run, RunEvent } from "./views";

// One engine for the whole file: opening the preset is the slow part.
let sharedEngine: Promise<Engine> | undefined;
const engine = () => (sharedEngine ??= openPreset("shapes"));

const dirs: string[] = [];
const services: RunService[] = [];

async function newService(options: RunServiceOptions = {}): Promise<RunService> {
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(tmpdir(), "penumbra-runs-")));
  dirs.push(dataDir);
  const service = await openRunService({ idleCancelMs: 60_000, openEngine: engine, ...options, dataDir });
  services.push(service);
  return service;
}

function dataDirOf(service: RunService): string {
  if (service.dataDir === null) throw new Error("the embedded service has a data folder");
  return service.dataDir;
}

afterEach(async () => {
  await Promise.all(services.splice(0).map((service) => service.close()));
});
afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

const caption = (text: string, extra: object = {}) => ({
  input: { kind: "caption", text },
  plan: { kind: "interpolate", lambdas: [0, 1] },
  cols: 2,
  steps: 3,
  ...extra,
});

const isTerminal = (status: string) => status === "done" || status === "failed" || status === "cancelled";

/** Subscribes and collects events until the run ends (or is already ended at the snapshot). */
async function watch(service: RunService, id: string): Promise<RunEvent[]> {
  const events: RunEvent[] = [];
  let end: () => void = () => {};
  const ended = new Promise<void>((resolve) => (end = resolve));
  const unsubscribe = await service.subscribe(id, (event) => {
    events.push(event);
    const status = event.type === "status" ? event.data.status : event.type === "snapshot" && events.length === 1 ? event.data.status : null;
    if (status !== null && isTerminal(status)) end();
  });
  await ended;
  unsubscribe();
  return events;
}

async function finish(service: RunService, body: object): Promise<Run> {
  const { run } = await service.createRun(body);
  await watch(service, run.id);
  return service.getRun(run.id);
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const png = (width: number, height: number, background: string) => sharp({ create: { width, height, channels: 3, background } }).png().toBuffer();

describe("creating runs", () => {
  it("answers every request with a new random link and creator key, decoding the same request once; another seed is another run", async () => {
    const service = await newService();
    const first = await service.createRun(caption("a red circle"));
    expect(first.run).toMatchObject({ status: "queued", rows: 2, cols: 2, imageSize: { width: 64, height: 64 }, cells: [], description: null });
    expect(first.run.id).toMatch(/^[0-9a-f]{24}$/);
    expect(first.creatorKey).toMatch(/^[\w-]{32}$/);
    expect(first.run.request).toMatchObject({ input: { kind: "caption", text: "a red circle" }, plan: { kind: "interpolate", lambdas: [0, 1] }, seed: 0, scheduler: "pndm" });
    // The id the run is cached under is derived from the request; no link is.
    const derived = runId(first.run.preset.digest, first.run.request);
    expect(first.run.id.startsWith(derived)).toBe(false);
    await expect(service.getRun(derived)).rejects.toMatchObject({ status: 404 });

    const again = await service.createRun({ steps: 3, cols: 2, plan: { lambdas: [0, 1], kind: "interpolate" }, input: { text: "a red circle", kind: "caption" }, preset: "shapes" });
    expect(again.run.id).not.toBe(first.run.id);
    expect(again.creatorKey).not.toBe(first.creatorKey);
    await watch(service, first.run.id);
    // The second link sees the one decode: done, with the same cells, without decoding again.
    const [seenFirst, seenAgain] = [await service.getRun(first.run.id), await service.getRun(again.run.id)];
    expect(seenAgain).toEqual({ ...seenFirst, id: again.run.id });
    const reseeded = await service.createRun(caption("a red circle", { seed: 1 }));
    expect(reseeded.run.status).toBe("queued");
  });

  it("refuses bad requests with 400 saying what is allowed", async () => {
    const service = await newService();
    await expect(service.createRun("text")).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/invalid run request/) });
    await expect(service.createRun({ ...caption("x"), preset: "nope" })).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/unknown preset "nope"; available: .*shapes/) });
    await expect(service.createRun(caption("x", { cols: 99 }))).rejects.toMatchObject({ code: "invalid_input", status: 400, message: expect.stringMatching(/cols/) });
    await expect(service.createRun(caption("x", { colour: 1 }))).rejects.toMatchObject({ status: 400 });
    await expect(service.createRun({ input: { kind: "image", upload: "a".repeat(64) } })).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/no upload/) });
    await expect(service.createRun({ input: { kind: "image", upload: "../etc/passwd" } })).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/sha256/) });
    await expect(service.getRun("000000000000")).rejects.toMatchObject({ status: 404 });
    await expect(service.getRun("../x")).rejects.toMatchObject({ status: 404 });
  });

  it("refuses a run with 429 and Retry-After when the queue is full, storing nothing", async () => {
    const full = await newService({ queueLimit: 0 });
    const error = await full.createRun(caption("a blue square")).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "queue_full", status: 429, retryAfterSeconds: expect.any(Number) });
    expect((error as { retryAfterSeconds: number }).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    await full.close();
    const roomy = await newService({ dataDir: dataDirOf(full) });
    expect((await roomy.createRun(caption("a blue square"))).run.status).toBe("queued");
  });
});

describe("decoding", () => {
  it("streams snapshot, status, progress and cell events in order and ends done with every image stored", async () => {
    const service = await newService();
    const { run } = await service.createRun(caption("a red circle"));
    const events = await watch(service, run.id);
    expect(events[0]).toMatchObject({ type: "snapshot", data: { status: "queued" } });
    expect(events[1]).toEqual({ type: "status", data: { status: "running", error: null } });
    expect(events[2]).toMatchObject({ type: "snapshot", data: { status: "running", cells: [{ index: 0 }, { index: 1 }, { index: 2 }, { index: 3 }] } });
    expect(events.at(-1)).toEqual({ type: "status", data: { status: "done", error: null } });

    const progress = events.filter((e) => e.type === "progress").map((e) => e.data);
    expect(progress.length).toBeGreaterThan(2);
    // The mean row leads in a batch of its own, then the λ = 1 row.
    expect(progress[0]).toMatchObject({ batch: 0, batches: 2, activeCells: [0, 1], cellsDone: 0, cellsTotal: 4 });
    expect(progress.at(-1)).toMatchObject({ batch: 1, activeCells: [2, 3], etaSeconds: 0 });
    // A cell counts as done once it is stored and announced, never before its cell event.
    let announced = 0;
    for (const event of events) {
      if (event.type === "cell") announced += 1;
      if (event.type === "progress") expect(event.data.cellsDone).toBeLessThanOrEqual(announced);
    }
    expect(progress.map((p) => p.evaluation)).toEqual([...progress.map((p) => p.evaluation)].sort((a, b) => a - b));

    const order = events.map((e) => (e.type === "cell" ? `cell${e.data.index}` : e.type === "progress" ? `batch${e.data.batch}` : e.type));
    // PNGs are stored as they arrive, in cell order, all before the run is done.
    expect(order.filter((o) => o.startsWith("cell"))).toEqual(["cell0", "cell1", "cell2", "cell3"]);
    expect(order.lastIndexOf("cell3")).toBeLessThan(order.length - 1);

    const done = await service.getRun(run.id);
    const cellEvents = events.flatMap((e) => (e.type === "cell" ? [e.data] : []));
    expect(cellEvents).toEqual(done.cells.map((cell) => ({ index: cell.index, image: cell.image })));
    expect(done).toMatchObject({ status: "done", error: null, progress: { cellsDone: 4, cellsTotal: 4 }, providers: { unet: { provider: expect.any(String) } } });
    expect(done.timings).toEqual({ describeMs: expect.any(Number), decodeMs: expect.any(Number), totalMs: expect.any(Number) });
    expect(done.description).toMatchObject({ modality: "text", dim: 64, bridge: { type: "gap-shift" }, input: { kind: "caption", text: "a red circle" } });
    expect(done.description?.alpha).toHaveLength(64);
    for (const cell of done.cells) {
      const { bytes, type } = await service.image(cell.image ?? "");
      expect(type).toBe("image/png");
      expect(await sharp(bytes).metadata()).toMatchObject({ width: 64, height: 64 });
    }
  });

  it("cancels a run nobody watches, keeps its finished cells, and resumes it on subscribe to the same images", async () => {
    // Enough steps that the second batch is still decoding when the lapsed lease is noticed.
    const body = caption("a green triangle", { steps: 100, cols: 4, plan: { kind: "interpolate", lambdas: [0, 0.5, 1, 1.5, 2] } });
    const reference = await finish(await newService(), body);

    const service = await newService({ idleCancelMs: 1 });
    const { run } = await service.createRun(body);
    let leave = () => {};
    const left = new Promise<void>((resolve) => (leave = resolve));
    const unsubscribe = await service.subscribe(run.id, (event) => {
      // The only watcher leaves once the lead batch (the mean row) is decoded and the next begun.
      if (event.type === "progress" && event.data.batch === 1) leave();
    });
    await left;
    unsubscribe();
    await until(async () => (await service.getRun(run.id)).status === "cancelled", "the unwatched run is cancelled");
    const cancelled = await service.getRun(run.id);
    expect(cancelled.error).toBe(IDLE_CANCEL_REASON);
    expect(cancelled.cells.map((cell) => cell.image !== null)).toEqual([...Array(4).fill(true), ...Array(16).fill(false)]);

    const events = await watch(service, run.id);
    expect(events[0]).toMatchObject({ type: "snapshot", data: { status: "queued", cells: [{ image: expect.any(String) }, ...Array(19).fill({})] } });
    const resumedProgress = events.filter((e) => e.type === "progress").map((e) => e.data);
    // Only the missing cells decode, the first row of them leading on its own as the mean row did.
    expect(resumedProgress[0]).toMatchObject({ activeCells: [4, 5, 6, 7], cellsDone: 4, batches: 2 });
    const resumed = await service.getRun(run.id);
    expect(resumed.status).toBe("done");
    expect(resumed.cells.map((cell) => cell.image)).toEqual(reference.cells.map((cell) => cell.image));
  });

  it("cancels a queued run nobody subscribes to", async () => {
    const service = await newService({ idleCancelMs: 1 });
    // A watched run holds the one decoder, so the second waits in the queue.
    const { run: busy } = await service.createRun(caption("a slow square", { steps: 100, cols: 8, plan: { kind: "geodesic", rows: 9 } }));
    const stopWatching = await service.subscribe(busy.id, () => {});
    const { run } = await service.createRun(caption("an orange ring"));
    await until(async () => (await service.getRun(run.id)).status === "cancelled", "the run is cancelled");
    expect((await service.getRun(run.id)).error).toBe(IDLE_CANCEL_REASON);
    expect((await service.getRun(run.id)).startedAt).toBeNull();
    expect((await service.getRun(busy.id)).status).toBe("running");
    stopWatching();
  });

  it("records why a run failed, and retries it", async () => {
    const service = await newService();
    const { upload } = await service.saveUpload(await png(64, 64, "#2040c0"));
    const { run, creatorKey } = await service.createRun({ input: { kind: "image", upload: upload.sha256 }, plan: { kind: "shell", quantiles: [0.5] }, cols: 2, steps: 2 });
    expect(run.request.input).toEqual({ kind: "image", upload: upload.sha256, width: 64, height: 64, type: "image/png" });
    // The stored upload disappears before the worker reads it.
    await unlink(path.join(dataDirOf(service), "files", upload.sha256.slice(0, 2), upload.sha256));
    await watch(service, run.id);
    const failed = await service.getRun(run.id);
    expect(failed).toMatchObject({ status: "failed", error: expect.stringMatching(/missing from the blob store/) });
    expect(failed.error).not.toMatch(/\n\s+at /);
    await expect(service.publish(run.id, creatorKey)).rejects.toMatchObject({ status: 409 });

    await service.saveUpload(await png(64, 64, "#2040c0"));
    expect((await service.retry(run.id)).status).toBe("queued");
    await expect(service.retry(run.id)).rejects.toMatchObject({ code: "conflict", status: 409 });
    await watch(service, run.id);
    expect(await service.getRun(run.id)).toMatchObject({ status: "done", error: null, description: { modality: "image", bridge: null, input: { kind: "image", format: "png" } } });
  });
});

describe("recovery", () => {
  it("queues again a run a crashed process left running, and fails what the queue cannot hold", async () => {
    const crashed = await newService();
    const { run: first } = await crashed.createRun(caption("a yellow star"));
    const { run: second } = await crashed.createRun(caption("a purple moon"));
    await crashed.close();
    const db = new Database(path.join(dataDirOf(crashed), "penumbra.db"));
    db.prepare("UPDATE runs SET status = 'running', started_at = 1 WHERE id = ?").run(first.id);
    db.close();

    const restarted = await newService({ dataDir: dataDirOf(crashed), queueLimit: 1 });
    // Opening the service recovered them: the oldest back in the queue (and perhaps already decoding), the other failed.
    expect(await restarted.getRun(second.id)).toMatchObject({ status: "failed", error: STOPPED_REASON });
    expect(["queued", "running"]).toContain((await restarted.getRun(first.id)).status);
    await watch(restarted, first.id);
    expect((await restarted.getRun(first.id)).status).toBe("done");
    expect((await restarted.retry(second.id)).status).toBe("queued");
  });

  it("removes the temporary files of writes a killed process left in the file store, and keeps what was stored", async () => {
    const killed = await newService();
    const { upload } = await killed.saveUpload(await png(8, 8, "#304050"));
    await killed.close();
    const abandoned = path.join(dataDirOf(killed), "files", upload.sha256.slice(0, 2), `${upload.sha256}.2147483646.a1b2c3d4e5f6.tmp`);
    await writeFile(abandoned, "half a file");
    const anHourAgo = new Date(Date.now() - 3_600_000);
    await utimes(abandoned, anHourAgo, anHourAgo);
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    try {
      const restarted = await newService({ dataDir: dataDirOf(killed) });
      expect(existsSync(abandoned)).toBe(false);
      expect(log).toHaveBeenCalledWith("penumbra: removed 1 temporary file left by writes that never finished");
      expect((await restarted.image(upload.sha256)).type).toBe("image/png");
    } finally {
      log.mockRestore();
    }
  });

  it("keeps one process-wide service from the environment", async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "penumbra-env-"));
    dirs.push(dataDir);
    const saved = process.env.PENUMBRA_DATA;
    process.env.PENUMBRA_DATA = dataDir;
    try {
      const pending = getRunService();
      expect(getRunService()).toBe(pending);
      const service = await pending;
      services.push(service);
      expect(service.dataDir).toBe(dataDir);
      expect(existsSync(path.join(dataDir, "penumbra.db"))).toBe(true);
    } finally {
      process.env.PENUMBRA_DATA = saved;
      delete (globalThis as Record<symbol, unknown>)[Symbol.for("penumbra.runService")];
    }
  });
});

describe("finished runs", () => {
  it("publishes and unpublishes a link only for its creator's key; another link to the same run stays apart", async () => {
    const service = await newService();
    const tiny = { input: { kind: "caption", text: "a teal ring" }, plan: { kind: "interpolate", lambdas: [0, 1] }, cols: 1, steps: 1 };
    const { run, creatorKey } = await service.createRun(tiny);
    const other = await service.createRun(tiny);
    await watch(service, run.id);
    for (const key of [null, "", "not-the-key", other.creatorKey]) {
      await expect(service.publish(run.id, key)).rejects.toMatchObject({ code: "forbidden", status: 403, message: expect.stringMatching(/creat/) });
    }
    expect((await service.gallery({ q: "teal" })).total).toBe(0);

    const published = await service.publish(run.id, creatorKey);
    expect(published.publishedAt).not.toBeNull();
    // Publishing again keeps the first time.
    expect((await service.publish(run.id, creatorKey)).publishedAt).toBe(published.publishedAt);
    expect((await service.getRun(other.run.id)).publishedAt).toBeNull();
    expect((await service.gallery({ q: "teal" })).runs.map((card) => card.id)).toEqual([run.id]);

    await expect(service.unpublish(run.id, other.creatorKey)).rejects.toMatchObject({ code: "forbidden", status: 403 });
    await expect(service.unpublish(run.id, null)).rejects.toMatchObject({ code: "forbidden", status: 403 });
    const unpublished = await service.unpublish(run.id, creatorKey);
    expect(unpublished.publishedAt).toBeNull();
    expect((await service.gallery({ q: "teal" })).total).toBe(0);
    expect((await service.getRun(run.id)).status).toBe("done");
    await expect(service.unpublish(run.id, creatorKey)).rejects.toMatchObject({ code: "conflict", status: 409 });
    // The creator may publish it again.
    expect((await service.publish(run.id, creatorKey)).publishedAt).not.toBeNull();
  });

  it("publishes done runs and finds them in the gallery by caption, page by page", async () => {
    let clock = Date.UTC(2026, 0, 1);
    const service = await newService({ now: () => (clock += 1000) });
    const tiny = (text: string) => ({ input: { kind: "caption", text }, plan: { kind: "interpolate", lambdas: [0, 1] }, cols: 1, steps: 1 });
    const runs: Run[] = [];
    for (let i = 0; i < 13; i++) {
      const { run, creatorKey } = await service.createRun(tiny(i === 5 ? "A RED 100% circle" : `shape ${i}`));
      await watch(service, run.id);
      runs.push(await service.publish(run.id, creatorKey));
    }

    const first = await service.gallery({ page: "1" });
    expect(first).toMatchObject({ total: 13, page: 1, pages: 2 });
    expect(first.runs).toHaveLength(12);
    expect(first.runs[0].id).toBe(runs[12].id);
    expect((await service.gallery({ page: 2 })).runs.map((card) => card.id)).toEqual([runs[0].id]);
    await expect(service.gallery({ page: "0" })).rejects.toMatchObject({ status: 400 });

    const found = await service.gallery({ q: "red 100%" });
    expect(found.total).toBe(1);
    const card = found.runs[0];
    const run = await service.getRun(runs[5].id);
    expect(card).toEqual({
      id: run.id,
      caption: "A RED 100% circle",
      modality: "text",
      uncertainty: run.description?.uncertainty,
      percentile: run.description?.percentile,
      publishedAt: run.publishedAt,
      meanImage: run.cells[0].image,
      row: [run.cells[1].image],
      rowLabel: "λ = 1",
      preset: { name: "shapes" },
      rows: 2,
      cols: 1,
      settings: { plan: { kind: "interpolate", lambdas: [0, 1] }, cols: 1, seed: run.request.seed, steps: 1, scheduler: run.request.scheduler, guidanceScale: run.request.guidanceScale, noiseLevel: 0, prompt: "" },
      // "100" is no word of the shapes corpus, so the card carries the out-of-distribution badge.
      outOfDistribution: true,
    });
    expect((await service.gallery({ q: "_" })).total).toBe(0);
  });

  it("writes the labelled grid with its run record, and a zip of the cells and run.json", async () => {
    const service = await newService();
    const { run: queued } = await service.createRun(caption("a red circle"));
    await expect(service.gridPng(queued.id)).rejects.toMatchObject({ status: 409 });
    await expect(service.cellsZip(queued.id)).rejects.toMatchObject({ status: 409 });
    await watch(service, queued.id);
    const run = await service.getRun(queued.id);

    const grid = await service.gridPng(run.id);
    const text = readPngText(grid);
    const record = JSON.parse(text[RUN_KEY]);
    expect(record).toMatchObject({
      id: run.id,
      preset: { name: "shapes", digest: run.preset.digest },
      request: { input: { kind: "caption", text: "a red circle" }, seed: 0, steps: 3 },
      providers: run.providers,
      rows: 2,
      cols: 2,
      imageSize: { width: 64, height: 64 },
    });
    // The timings differ on every run, so they stay out of the image (the zip's run.json keeps them).
    expect(record).not.toHaveProperty("timings");
    expect(record.cells).toHaveLength(4);
    expect(text.Title).toMatch(/^"a red circle" · uncertainty/);
    const { width, height } = await sharp(grid).metadata();
    expect(width).toBeGreaterThan(2 * 128);
    expect(height).toBeGreaterThan(2 * 128);

    const zip = await service.cellsZip(run.id);
    const entries = readZip(zip);
    expect(entries.map((entry) => entry.name)).toEqual(["row0-sample1.png", "row0-sample2.png", "row1-sample1.png", "row1-sample2.png", "run.json"]);
    expect(entries[3].data).toEqual((await service.image(run.cells[3].image ?? "")).bytes);
    expect(JSON.parse(entries[4].data.toString("utf8"))).toEqual({ ...record, timings: run.timings });
    if (existsSync("/usr/bin/unzip")) expect(await unzipTests(zip)).toBe(true);
  });
});

describe("comparisons, uploads and presets", () => {
  it("gives a comparison new links to each input's run with the shared settings, reusing runs decoded before", async () => {
    const service = await newService();
    const { run: existing } = await service.createRun(caption("a red circle", { seed: 3 }));
    await watch(service, existing.id);
    const body = { inputs: [{ kind: "caption", text: "a red circle" }, { kind: "caption", text: "a shape" }], plan: { kind: "interpolate", lambdas: [0, 1] }, cols: 2, steps: 3, seed: 3 };
    const first = await service.createComparison(body);
    expect(first.comparison.id).toMatch(/^[0-9a-f]{24}$/);
    const [reused, added] = first.comparison.runs;
    expect(reused).toEqual({ ...(await service.getRun(existing.id)), id: reused.id });
    expect(reused.id).not.toBe(existing.id);
    expect(added.request).toMatchObject({ seed: 3, cols: 2, steps: 3 });
    // The comparison's key is the creator key of each of its links.
    await watch(service, added.id);
    expect((await service.publish(added.id, first.creatorKey)).publishedAt).not.toBeNull();
    await expect(service.publish(reused.id, "another key")).rejects.toMatchObject({ status: 403 });

    const again = await service.createComparison(body);
    expect(again.comparison.id).not.toBe(first.comparison.id);
    expect((await service.getComparison(first.comparison.id)).runs.map((run) => run.id)).toEqual([reused.id, added.id]);
    await expect(service.createComparison({ inputs: [{ kind: "caption", text: "x" }] })).rejects.toMatchObject({ status: 400 });
    await expect(service.getComparison("123456789abc")).rejects.toMatchObject({ status: 404 });
  });

  it("holds each client to its share of the queue's cost, in words, while other clients still get in", async () => {
    // Share cap 500: a 5 × 4 × 20-step guided run costs 800 and counts 500.
    const service = await newService({ queueCostLimit: 2000, clientShare: 0.25 });
    const busy = (await service.createRun({ input: { kind: "caption", text: "a big busy shape" }, cols: 8, plan: { kind: "geodesic", rows: 9 }, steps: 20 }, "x")).run;
    await until(async () => (await service.getRun(busy.id)).status === "running", "the first run starts");
    await service.createRun({ input: { kind: "caption", text: "a red shape" }, cols: 4, steps: 20 }, "203.0.113.7");
    const refused = service.createRun({ input: { kind: "caption", text: "a red circle" }, cols: 1, steps: 2 }, "203.0.113.7");
    await expect(refused).rejects.toMatchObject({ code: "queue_full", status: 429, retryAfterSeconds: expect.any(Number) });
    await expect(refused).rejects.toThrow(/your runs already waiting cost 500 of the 500 one client may hold, and this costs 20; wait until they start/);
    expect((await service.createRun({ input: { kind: "caption", text: "a red circle" }, cols: 1, steps: 2 }, "203.0.113.8")).run.status).toBe("queued");
  });

  it("refuses a whole comparison when the queue cannot hold all its runs", async () => {
    const service = await newService({ queueLimit: 1 });
    const inputs = [{ kind: "caption", text: "one" }, { kind: "caption", text: "two" }];
    await expect(service.createComparison({ inputs, steps: 1 })).rejects.toMatchObject({ status: 429 });
    await service.close();
    const roomy = await newService({ dataDir: dataDirOf(service) });
    const { comparison } = await roomy.createComparison({ inputs, steps: 1 });
    // A run of the same request is the comparison's: its decode ends both.
    const { run } = await roomy.createRun({ input: inputs[0], steps: 1 });
    await watch(roomy, run.id);
    expect(await roomy.getRun(comparison.runs[0].id)).toEqual({ ...(await roomy.getRun(run.id)), id: comparison.runs[0].id });
  });

  it("holds each client to its daily upload quota, and removes old uploads no run names with their files", async () => {
    let clock = Date.UTC(2026, 0, 1);
    const service = await newService({ uploadQuotaBytes: 250, uploadRetentionMs: 60_000, now: () => clock });
    const [red, green, blue] = await Promise.all(["#c02020", "#20c020", "#2020c0"].map((colour) => png(16, 16, colour)));
    expect(red.length + green.length).toBeLessThanOrEqual(250);
    expect(red.length + green.length + blue.length).toBeGreaterThan(250);
    const kept = await service.saveUpload(red, "image/png", "203.0.113.1");
    await service.saveUpload(green, "image/png", "203.0.113.1");
    await expect(service.saveUpload(blue, "image/png", "203.0.113.1")).rejects.toMatchObject({ code: "quota_exceeded", status: 429, message: expect.stringMatching(/stored .* of uploads in the last 24 hours; the limit is 250 bytes a day/) });
    const other = await service.saveUpload(blue, "image/png", "203.0.113.2");
    // A run names the red upload, so it stays however old it gets.
    await finish(service, { input: { kind: "image", upload: kept.upload.sha256 }, plan: { kind: "shell", quantiles: [0.5] }, cols: 1, steps: 1 });

    expect(await service.sweepUploads()).toBe(0);
    clock += 61_000;
    expect(await service.sweepUploads()).toBe(2);
    await expect(service.image(other.upload.sha256)).rejects.toMatchObject({ status: 404 });
    expect((await service.image(kept.upload.sha256)).bytes.equals(red)).toBe(true);
    // A day later the quota has room again.
    clock += 24 * 60 * 60 * 1000;
    expect((await service.saveUpload(blue, "image/png", "203.0.113.1")).created).toBe(true);
  });

  it("stores an upload once by its bytes and refuses bad ones", async () => {
    const service = await newService({ maxUploadBytes: 4096 });
    const bytes = await png(20, 10, "#ffffff");
    const first = await service.saveUpload(bytes, "image/png");
    expect(first).toMatchObject({ created: true, upload: { type: "image/png", bytes: bytes.length, width: 20, height: 10 } });
    expect((await service.saveUpload(bytes)).created).toBe(false);
    expect((await service.image(first.upload.sha256)).bytes).toEqual(bytes);
    await expect(service.saveUpload(new Uint8Array(5000))).rejects.toMatchObject({ status: 413 });
    await expect(service.saveUpload(Buffer.from("hello"))).rejects.toMatchObject({ status: 415 });
    await expect(service.image("f".repeat(64))).rejects.toMatchObject({ status: 404 });
  });

  it("describes presets and health", async () => {
    const service = await newService();
    const [shapes] = await service.presets();
    expect(shapes).toMatchObject({ name: "shapes", dim: 64, imageSize: { width: 64, height: 64 }, defaults: { scheduler: "pndm" }, limits: { maxRows: 9, maxNoiseLevel: expect.any(Number) } });
    expect(shapes.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(Object.keys(shapes.providers)).toContain("unet");
    expect(await service.health()).toMatchObject({ status: "ok", version: expect.any(String), queue: { depth: 0, limit: 8, running: null }, presets: { shapes: shapes.providers } });
  });
});

describe("server faults", () => {
  it("stores a safe message on a run whose model fails and logs the engine's", async () => {
    const failing = async () => {
      const real = await engine();
      const wrapped = Object.create(real) as Engine;
      wrapped.decodeCells = async () => {
        throw new EngineError("model_error", "/srv/models/shapes/unet.onnx failed: out of memory");
      };
      return wrapped;
    };
    const log = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      const service = await newService({ openEngine: failing });
      const run = await finish(service, caption("a failing model"));
      expect(run).toMatchObject({ status: "failed", error: 'a model of the server\'s preset "shapes" failed; see the server log' });
      expect(log).toHaveBeenCalledTimes(1);
      expect(String(log.mock.calls[0][1])).toMatch(/unet\.onnx failed: out of memory/);
    } finally {
      log.mockRestore();
    }
  });

  it("refuses with a 500 naming PENUMBRA_PRESET when the default preset does not exist, but a named unknown preset with 400", async () => {
    const service = await newService({ defaultPreset: "missing" });
    await expect(service.createRun(caption("x"))).rejects.toMatchObject({ status: 500, code: "configuration", message: expect.stringMatching(/PENUMBRA_PRESET/) });
    await expect(service.createRun({ ...caption("x"), preset: "missing" })).rejects.toMatchObject({ status: 400, code: "invalid_input" });
    await expect(service.saveUpload(await png(8, 8, "red"))).rejects.toMatchObject({ status: 500, code: "configuration", message: expect.stringMatching(/PENUMBRA_PRESET/) });
  });
});

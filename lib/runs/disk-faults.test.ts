/*
 * The embedded deployment on a disk that fills up or turns read-only (issue 14): a run always
 * ends, with a reason that names no server path, its watchers hear it, retry works once there is
 * room again, reads keep working, writes answer 503, and no promise rejection goes unhandled.
 * Faults are injected around the real stores (FaultyDisk), so these run anywhere; one test fills a
 * real tmpfs where this process may mount one.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import sharp from "sharp";
import { afterAll, afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from "vitest";
import { serverConfig } from "../config";
import { type Engine, openPreset } from "../engine/index";
import { InProcessDecoder } from "./decoder/index";
import { openRunService, type RunServiceOptions } from "./deployment";
import { type RunError, toRunError } from "./errors";
import { LocalEventHub } from "./events";
import { FileStore } from "./files";
import { PendingEnds } from "./pending-ends";
import { LocalRunQueue } from "./queue";
import { RunRunner } from "./runner";
import { RunService } from "./service";
import { SqliteRunStore } from "./sqlite-store";
import { FaultyDisk, mountTmpfs, readOnlyFolder, recordUnhandledRejections, unmount, whyNoTmpfs } from "./testing";
import type { Run, RunEvent } from "./views";

let sharedEngine: Promise<Engine> | undefined;
const engine = () => (sharedEngine ??= openPreset("shapes"));

const FULL = "the server cannot store new data right now (its disk is full); try again later";
const READ_ONLY = "the server cannot store new data right now (its data folder is read-only); try again later";

const dirs: string[] = [];
const services: RunService[] = [];
let unhandled: ReturnType<typeof recordUnhandledRejections>;
let log: MockInstance<typeof console.error>;

beforeEach(() => {
  unhandled = recordUnhandledRejections();
  log = vi.spyOn(console, "error").mockImplementation(() => {});
});
afterEach(async () => {
  await Promise.all(services.splice(0).map((service) => service.close()));
  // A rejection is reported once the turn it happened in has run its microtasks.
  await new Promise((resolve) => setTimeout(resolve, 20));
  unhandled.stop();
  log.mockRestore();
  expect(unhandled.rejections).toEqual([]);
});
afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function newService(options: RunServiceOptions = {}): Promise<RunService & { dataDir: string }> {
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(tmpdir(), "penumbra-disk-")));
  dirs.push(dataDir);
  const service = await openRunService({ idleCancelMs: 60_000, openEngine: engine, ...options, dataDir });
  services.push(service);
  return service as RunService & { dataDir: string };
}

const caption = (text: string) => ({ input: { kind: "caption", text }, plan: { kind: "interpolate", lambdas: [0, 1] }, cols: 2, steps: 3 });
const png = (background: string) => sharp({ create: { width: 8, height: 8, channels: 3, background } }).png().toBuffer();
const isEnd = (status: string) => status === "done" || status === "failed" || status === "cancelled";

/** Watches the run until it ends, or fails the test after `timeoutMs` (a run left running never ends). */
async function watchToEnd(service: RunService, id: string, timeoutMs = 20_000): Promise<RunEvent[]> {
  const events: RunEvent[] = [];
  let settle: (error?: Error) => void = () => {};
  const ended = new Promise<void>((resolve, reject) => (settle = (error) => (error ? reject(error) : resolve())));
  const timer = setTimeout(() => settle(new Error(`run ${id} did not end within ${timeoutMs} ms; its events: ${events.map((e) => e.type).join(", ")}`)), timeoutMs);
  const unsubscribe = await service.subscribe(id, (event) => {
    events.push(event);
    const status = event.type === "status" || (event.type === "snapshot" && events.length === 1) ? event.data.status : null;
    if (status !== null && isEnd(status)) settle();
  });
  try {
    await ended;
  } finally {
    clearTimeout(timer);
    unsubscribe();
  }
  return events;
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The status of the run a link leads to as the database file says, read past the service (which shows a held end in its place). */
function storedStatus(dataDir: string, linkId: string): string {
  const db = new Database(path.join(dataDir, "penumbra.db"), { readonly: true });
  try {
    return (db.prepare("SELECT status FROM links JOIN runs ON runs.id = links.run_id WHERE links.id = ?").pluck().get(linkId) as string | undefined) ?? "missing";
  } finally {
    db.close();
  }
}

/** The id a link's run is stored (and logged) under. */
function storedRunId(dataDir: string, linkId: string): string {
  const db = new Database(path.join(dataDir, "penumbra.db"), { readonly: true });
  try {
    return db.prepare("SELECT run_id FROM links WHERE id = ?").pluck().get(linkId) as string;
  } finally {
    db.close();
  }
}

/** What a route answers for this call's failure: the service throws the store's own error, and respond() maps it with toRunError. */
async function answered(call: Promise<unknown>): Promise<RunError> {
  return toRunError(await call.then(
    () => new Error("the call succeeded"),
    (error: unknown) => error,
  ));
}

const statusEvents = (events: RunEvent[]) => events.flatMap((event) => (event.type === "status" ? [event.data] : []));
const stored = (run: Run) => run.cells.map((cell) => cell.image !== null);
const logged = () => log.mock.calls.map((args) => args.map((arg) => (arg instanceof Error ? `${arg.message}` : String(arg))).join(" ")).join("\n");

describe("a disk that fills up during a run", () => {
  it("fails the run when a cell cannot be stored, tells its watchers why, and retries it once there is room", async () => {
    const disk = new FaultyDisk();
    const service = await newService({ storage: disk.wrap });
    // Two cells are stored; the third, and marking the run failed, find the disk full.
    disk.breakAfter(2, "setCellImage");
    const { run } = await service.createRun(caption("a full disk"));
    const events = await watchToEnd(service, run.id);
    expect(statusEvents(events).at(-1)).toEqual({ status: "failed", error: FULL });
    const failed = await service.getRun(run.id);
    expect(failed).toMatchObject({ status: "failed", error: FULL, finishedAt: expect.any(String) });
    expect(stored(failed)).toEqual([true, true, false, false]);
    expect(disk.refused).toContain("markEnded");
    // The failure is held in memory until the store takes it: the database still says running.
    expect(storedStatus(service.dataDir, run.id)).toBe("running");
    // A watcher who comes now gets the failure at once.
    expect((await watchToEnd(service, run.id, 1000))[0]).toMatchObject({ type: "snapshot", data: { status: "failed", error: FULL } });
    expect(await answered(service.retry(run.id))).toMatchObject({ code: "unavailable", status: 503, message: FULL });
    expect(await answered(service.createRun(caption("a full disk")))).toMatchObject({ code: "unavailable", status: 503, message: FULL });

    disk.repair();
    await until(() => storedStatus(service.dataDir, run.id) === "failed", "the held failure is written once there is room");
    expect((await service.retry(run.id)).status).toBe("queued");
    await watchToEnd(service, run.id);
    const done = await service.getRun(run.id);
    expect(done).toMatchObject({ status: "done", error: null });
    expect(stored(done)).toEqual([true, true, true, true]);
    expect(logged()).toMatch(/database or disk is full/);
  });

  it("fails a run whose every cell was stored when the disk is full by the time it is marked done; retried, it decodes nothing again", async () => {
    const disk = new FaultyDisk();
    const service = await newService({ storage: disk.wrap });
    disk.breakAfter(0, "markDone");
    const { run } = await service.createRun(caption("all cells, then full"));
    await watchToEnd(service, run.id);
    const failed = await service.getRun(run.id);
    expect(failed).toMatchObject({ status: "failed", error: FULL });
    expect(stored(failed)).toEqual([true, true, true, true]);

    disk.repair();
    expect((await service.retry(run.id)).status).toBe("queued");
    const events = await watchToEnd(service, run.id);
    expect(events.filter((event) => event.type === "progress" || event.type === "cell")).toEqual([]);
    const done = await service.getRun(run.id);
    expect(done.status).toBe("done");
    expect(done.cells.map((cell) => cell.image)).toEqual(failed.cells.map((cell) => cell.image));
  });

  it("fails a queued run the store will not let the worker take, instead of leaving it queued with nothing to take it", async () => {
    const disk = new FaultyDisk();
    const service = await newService({ storage: disk.wrap });
    disk.breakAfter(0, "claim");
    const { run } = await service.createRun(caption("never claimed"));
    await watchToEnd(service, run.id);
    expect(await service.getRun(run.id)).toMatchObject({ status: "failed", error: FULL, cells: [] });
    disk.repair();
    expect((await service.retry(run.id)).status).toBe("queued");
    await watchToEnd(service, run.id);
    expect((await service.getRun(run.id)).status).toBe("done");
  });

  it("stores a failure whose cause names a server path without the path, and logs it whole", async () => {
    const file = "/tmp/penumbra-disk-x1/files/d0/d0c4f1.4242.a1b2c3d4e5f6.tmp";
    const service = await newService({
      // A cell's file cannot be written for a reason that is no storage fault: the run fails with the error's own words.
      storage: ({ store, blobs }) => ({
        store,
        blobs: Object.assign(Object.create(blobs) as FileStore, {
          put: async () => {
            throw Object.assign(new Error(`EIO: i/o error, write '${file}'`), { code: "EIO" });
          },
        }),
      }),
    });
    const { run } = await service.createRun(caption("an i/o error"));
    await watchToEnd(service, run.id);
    const failed = await service.getRun(run.id);
    expect(failed).toMatchObject({ status: "failed", error: "EIO: i/o error, write 'd0c4f1.4242.a1b2c3d4e5f6.tmp'" });
    expect(failed.error).not.toContain("/tmp/");
    expect(logged()).toContain(file);
  });
});

describe("a read-only data folder", () => {
  it("keeps serving what it holds and refuses every write with 503 saying why", async () => {
    const disk = new FaultyDisk();
    const service = await newService({ storage: disk.wrap });
    const { run, creatorKey } = await service.createRun(caption("stored before"));
    await watchToEnd(service, run.id);
    const done = await service.getRun(run.id);
    const { upload } = await service.saveUpload(await png("#c02040"));
    const published = await service.publish(done.id, creatorKey);
    disk.breakAfter(0, null, readOnlyFolder);

    expect(await service.getRun(done.id)).toEqual(published);
    expect((await service.gallery()).runs.map((card) => card.id)).toEqual([done.id]);
    expect((await service.image(done.cells[0].image ?? "")).type).toBe("image/png");
    expect((await service.image(upload.sha256)).type).toBe("image/png");
    expect((await service.gridPng(done.id)).length).toBeGreaterThan(0);
    expect((await service.health()).status).toBe("ok");
    // Watching renews a lease, a write; the stream still opens and ends with the done run, and the refusal is logged once, not once a stream.
    for (let i = 0; i < 3; i++) expect((await watchToEnd(service, done.id, 1000))[0]).toMatchObject({ type: "snapshot", data: { status: "done" } });
    expect(log.mock.calls.filter((args) => String(args[0]).includes("renewing watch leases failed"))).toHaveLength(1);

    const upload2 = await png("#20c040");
    const refusals = await Promise.all([
      answered(service.createRun(caption("new after"))),
      answered(service.saveUpload(upload2)),
      answered(service.createComparison({ inputs: [caption("a").input, caption("b").input], cols: 2, steps: 3 })),
      answered(service.unpublish(done.id, creatorKey)),
    ]);
    for (const refusal of refusals) expect(refusal).toMatchObject({ code: "unavailable", status: 503, message: READ_ONLY });
  });
});

describe("starting on a disk that refuses writes", () => {
  it("opens and serves what it holds when recovering the runs a stopped process left cannot be written", async () => {
    const stopped = await newService();
    // Stopped at once, the run is left queued (or, stopped mid-decode, queued again): what recovery finds.
    const { run } = await stopped.createRun(caption("left unfinished"));
    await stopped.close();
    expect(storedStatus(stopped.dataDir, run.id)).toBe("queued");
    const disk = new FaultyDisk();
    disk.breakAfter(0, null, readOnlyFolder);
    const restarted = await newService({ dataDir: stopped.dataDir, storage: disk.wrap });
    expect(disk.refused[0]).toBe("markQueued");
    expect(logged()).toMatch(/recovering the runs a stopped process left unfinished failed at start-up/);
    expect((await restarted.getRun(run.id)).id).toBe(run.id);
    expect((await restarted.health()).status).toBe("ok");
  });
});

describe("announcements that cannot be sent", () => {
  it("finish the run regardless, logged once per run, with no unhandled rejection", async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "penumbra-disk-"));
    dirs.push(dataDir);
    const store = SqliteRunStore.open(dataDir);
    const blobs = new FileStore(path.join(dataDir, "files"));
    const events = new LocalEventHub();
    events.publish = async () => {
      throw new Error("the event hub is down");
    };
    const decoder = new InProcessDecoder(engine);
    const ends = new PendingEnds(store, events);
    const runner = new RunRunner({ store, blobs, events, decoder, ends, idleCancelMs: 60_000, now: Date.now });
    const service = new RunService(
      { dataDir, store, blobs, events, queue: new LocalRunQueue(runner), ends, providers: null },
      { ...serverConfig({}), queueLimit: 4, idleCancelMs: 60_000, defaultPreset: "shapes" },
    );
    services.push(service);
    const { run } = await service.createRun(caption("nobody hears it"));
    await until(async () => (await service.getRun(run.id)).status === "done", "the run is done", 20_000);
    // One line from the service (queued) and one from the runner, not one per progress step.
    const storedId = storedRunId(dataDir, run.id);
    expect(log.mock.calls.filter((args) => String(args[0]).includes(`announcing run ${storedId}`))).toHaveLength(2);
  });
});

describe("a real full disk", () => {
  const mountPoint = path.join(tmpdir(), `penumbra-full-${process.pid}`);
  const cannotMount = whyNoTmpfs();

  it.skipIf(cannotMount !== null)(`a 3 MB tmpfs filled with uploads: a run fails, and is retried once there is room${cannotMount ? ` (skipped: ${cannotMount})` : ""}`, async () => {
    expect(mountTmpfs(mountPoint, 3 * 1024 * 1024)).toBeNull();
    try {
      // Room to free later, beside the data folder: a little for the run to be admitted once uploads filled the disk, more once it failed.
      const headroom = path.join(mountPoint, "headroom");
      const ballast = path.join(mountPoint, "ballast");
      await writeFile(headroom, randomBytes(64 * 1024));
      await writeFile(ballast, randomBytes(512 * 1024));
      const dataDir = path.join(mountPoint, "data");
      const service = await openRunService({ dataDir, idleCancelMs: 60_000, openEngine: engine });
      services.push(service);
      let refusal: unknown = null;
      for (let i = 0; refusal === null && i < 1000; i++) {
        const noise = await sharp(randomBytes(64 * 64 * 3), { raw: { width: 64, height: 64, channels: 3 } }).png().toBuffer();
        refusal = await service.saveUpload(noise).then(
          () => null,
          (error: unknown) => error,
        );
      }
      expect(toRunError(refusal)).toMatchObject({ code: "unavailable", status: 503 });
      await rm(headroom);

      // The issue's case: 20 cells, room for the run and a cell or two.
      const { run } = await service.createRun({ ...caption("on a full disk"), plan: { kind: "geodesic", rows: 5 }, cols: 4 });
      await watchToEnd(service, run.id);
      expect(await service.getRun(run.id)).toMatchObject({ status: "failed", error: FULL });

      await rm(ballast);
      await until(
        () =>
          service.retry(run.id).then(
            () => true,
            () => false,
          ),
        "the run can be retried once there is room",
      );
      await watchToEnd(service, run.id);
      expect((await service.getRun(run.id)).status).toBe("done");
    } finally {
      await Promise.all(services.splice(0).map((service) => service.close()));
      unmount(mountPoint);
      await rm(mountPoint, { recursive: true, force: true });
    }
  });
});

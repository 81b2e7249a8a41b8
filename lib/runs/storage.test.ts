import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileStore } from "./files";
import { sha256Hex } from "./ids";
import { PostgresBlobStore } from "./postgres-blobs";
import { PostgresRunStore } from "./postgres-store";
import { SqliteRunStore } from "./sqlite-store";
import type { BlobStore, NewRun, RunStore } from "./storage";
import { startPostgres, type TestServer } from "./test-servers";

/*
 * One contract, two implementations: everything the service relies on behaves the same on SQLite
 * and files (embedded) as on PostgreSQL (distributed, against a real server started here).
 */

const CELL = { row: 0, col: 0, lambda: 0, quantileTarget: null, T: 1, q: 0.5, nll: -3, cosineToMean: 1, l2FromMean: 0 };

function newRun(id: string, caption: string | null = null, createdAt = 1000): NewRun {
  return { id, presetName: "shapes", presetDigest: "d", request: `{"caption":${JSON.stringify(caption)}}`, createdAt, rows: 2, cols: 2, imageWidth: 64, imageHeight: 64, searchText: caption };
}
const ids = (n: number) => Array.from({ length: n }, (_, i) => i.toString(16).padStart(12, "0"));

interface Stores {
  readonly store: RunStore;
  readonly blobs: BlobStore;
}

let postgres: TestServer;
let database = 0;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  postgres = await startPostgres();
}, 60_000);
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await postgres?.stop();
});

/** A fresh database of the test server, so every test starts empty. */
async function freshDatabase(): Promise<string> {
  const name = `penumbra_${++database}`;
  const admin = new pg.Client(postgres.url);
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  return postgres.url.replace(/\/postgres$/, `/${name}`);
}

const implementations: Record<string, () => Promise<Stores>> = {
  sqlite: async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "penumbra-storage-"));
    const stores = { store: SqliteRunStore.open(dir), blobs: new FileStore(path.join(dir, "files")) };
    cleanups.push(async () => {
      await stores.store.close();
      await rm(dir, { recursive: true, force: true });
    });
    return stores;
  },
  postgres: async () => {
    const url = await freshDatabase();
    const stores = { store: await PostgresRunStore.connect(url), blobs: await PostgresBlobStore.connect(url) };
    cleanups.push(async () => {
      await stores.store.close();
      await stores.blobs.close();
    });
    return stores;
  },
};

for (const [name, open] of Object.entries(implementations)) {
  describe(`the ${name} store`, () => {
    it("admits new runs and requeues ended ones, all or none within the queue limit", async () => {
      const { store } = await open();
      const [a, b, c, d] = ids(4);
      expect(await store.admit([{ id: a, insert: newRun(a) }, { id: b, insert: newRun(b) }], 3, 5000)).toEqual({ admitted: true, created: [true, true], queued: [a, b] });
      // Over the limit: nothing of it is stored.
      expect(await store.admit([{ id: c, insert: newRun(c) }, { id: d, insert: newRun(d) }], 3, 5000)).toEqual({ admitted: false, depth: 2, needed: 2 });
      expect(await store.getRun(c)).toBeUndefined();
      // A queued run admitted again is neither created nor queued twice.
      expect(await store.admit([{ id: a }, { id: c, insert: newRun(c) }], 3, 5000)).toEqual({ admitted: true, created: [false, true], queued: [c] });
      // Running runs do not count against the limit; a failed one comes back queued, its error and times cleared.
      expect(await store.claim(a, 6000)).toBe(true);
      await store.markEnded(b, "failed", "boom", 7000);
      expect(await store.queueState()).toEqual({ queued: 1, running: [{ id: a, startedAt: 6000 }] });
      expect(await store.admit([{ id: b }], 2, 8000)).toEqual({ admitted: true, created: [false], queued: [b] });
      expect(await store.getRun(b)).toMatchObject({ status: "queued", error: null, startedAt: null, finishedAt: null });
      expect(await store.watchedAt(b)).toBe(8000);
      expect(await store.getRun(a)).toMatchObject({ id: a, presetName: "shapes", request: '{"caption":null}', status: "running", createdAt: 1000, rows: 2, cols: 2, imageWidth: 64 });
    });

    it("lets a worker claim only queued or running runs", async () => {
      const { store } = await open();
      const [a] = ids(1);
      await store.admit([{ id: a, insert: newRun(a) }], 8, 1000);
      await store.markEnded(a, "cancelled", "nobody watched", 2000);
      expect(await store.claim(a, 3000)).toBe(false);
      await store.admit([{ id: a }], 8, 4000);
      expect(await store.claim(a, 5000)).toBe(true);
      // A worker taking over a run whose worker died claims it again.
      expect(await store.claim(a, 6000)).toBe(true);
      await store.markDone(a, 7000, { totalMs: 1 }, { unet: { provider: "cpu", skipped: [] } });
      expect(await store.claim(a, 8000)).toBe(false);
      expect(await store.getRun(a)).toMatchObject({ status: "done", startedAt: 6000, finishedAt: 7000, timings: '{"totalMs":1}' });
      expect(await store.recentDurations(5)).toEqual([1000]);
      await store.markQueued(a);
      expect(await store.unfinishedRuns()).toEqual([{ id: a, status: "queued" }]);
    });

    it("keeps finished cell images when a resumed run saves its description again", async () => {
      const { store } = await open();
      const [a] = ids(1);
      await store.admit([{ id: a, insert: newRun(a) }], 8, 1000);
      await store.saveDescription(a, { dim: 64 }, [CELL, { ...CELL, col: 1 }]);
      await store.setCellImage(a, 1, "f".repeat(64));
      await store.saveDescription(a, { dim: 64 }, [CELL, { ...CELL, col: 1, q: 0.6 }]);
      expect(await store.getCells(a)).toEqual([
        { index: 0, metrics: CELL, image: null },
        { index: 1, metrics: { ...CELL, col: 1, q: 0.6 }, image: "f".repeat(64) },
      ]);
      expect((await store.getRun(a))?.description).toBe('{"dim":64}');
    });

    it("cancels queued runs whose watch lease lapsed, never running or renewed ones", async () => {
      const { store } = await open();
      const [a, b, c] = ids(3);
      await store.admit([a, b, c].map((id) => ({ id, insert: newRun(id) })), 8, 1000);
      await store.claim(c, 1500);
      await store.touchWatched([b], 3000);
      // An older touch never moves a lease back.
      await store.touchWatched([b], 2000);
      expect(await store.watchedAt(b)).toBe(3000);
      expect(await store.watchedAt("ffffffffffff")).toBeUndefined();
      expect(await store.cancelUnwatched(2500, "nobody watched", 4000)).toEqual([a]);
      expect(await store.getRun(a)).toMatchObject({ status: "cancelled", error: "nobody watched", finishedAt: 4000 });
      expect((await store.getRun(b))?.status).toBe("queued");
      expect((await store.getRun(c))?.status).toBe("running");
    });

    it("searches published captions in any case, with % and _ matching only themselves", async () => {
      const { store } = await open();
      const captions = ["a red circle", "100% blue", "snake_case shape", "RED square"];
      const runIds = ids(5);
      await store.admit(captions.map((caption, i) => ({ id: runIds[i], insert: newRun(runIds[i], caption.toLowerCase()) })), 8, 1000);
      await store.admit([{ id: runIds[4], insert: newRun(runIds[4], "a red unpublished") }], 8, 1000);
      for (const [i] of captions.entries()) await store.publish(runIds[i], 2000 + i);
      expect((await store.gallery("Red", 10, 0)).rows.map((r) => r.id)).toEqual([runIds[3], runIds[0]]);
      expect((await store.gallery("%", 10, 0)).total).toBe(1);
      expect((await store.gallery("_", 10, 0)).total).toBe(1);
      expect(await store.gallery("", 2, 2)).toMatchObject({ total: 4, rows: [{ id: runIds[1] }, { id: runIds[0] }] });
      await store.publish(runIds[0], 9999);
      expect((await store.getRun(runIds[0]))?.publishedAt).toBe(2000);
    });

    it("stores uploads and comparisons once", async () => {
      const { store } = await open();
      const upload = { sha256: "a".repeat(64), type: "image/png", bytes: 10, width: 2, height: 3, createdAt: 1000 };
      expect(await store.insertUpload(upload)).toBe(true);
      expect(await store.insertUpload({ ...upload, createdAt: 2000 })).toBe(false);
      expect(await store.getUpload(upload.sha256)).toEqual(upload);
      const comparison = { id: "cccccccccccc", runIds: ids(2), createdAt: 1000 };
      expect(await store.insertComparison(comparison)).toBe(true);
      expect(await store.insertComparison({ ...comparison, createdAt: 5 })).toBe(false);
      expect(await store.getComparison(comparison.id)).toEqual(comparison);
      expect(await store.getComparison("dddddddddddd")).toBeUndefined();
    });

    it("keeps blobs by their sha256, once, and refuses names that are not one", async () => {
      const { blobs } = await open();
      const bytes = new Uint8Array([1, 2, 3, 4]);
      const sha256 = sha256Hex(bytes);
      expect(await blobs.put(bytes)).toEqual({ sha256, created: true });
      expect(await blobs.put(bytes)).toEqual({ sha256, created: false });
      expect(await blobs.has(sha256)).toBe(true);
      expect(new Uint8Array(await blobs.read(sha256))).toEqual(bytes);
      await expect(blobs.read("0".repeat(64))).rejects.toMatchObject({ code: "not_found", status: 404 });
      await expect(blobs.read("../etc/passwd")).rejects.toMatchObject({ code: "invalid_input" });
    });
  });
}

describe("the PostgreSQL store across processes", () => {
  it("admits exactly up to the limit when 20 submissions race through separate connection pools", async () => {
    const url = await freshDatabase();
    const [first, second] = [await PostgresRunStore.connect(url), await PostgresRunStore.connect(url)];
    try {
      const results = await Promise.all(ids(20).map((id, i) => (i % 2 ? first : second).admit([{ id, insert: newRun(id) }], 8, 1000)));
      expect(results.filter((result) => result.admitted)).toHaveLength(8);
      expect((await first.queueState()).queued).toBe(8);
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });

  it("migrates once when several processes connect at the same time", async () => {
    const url = await freshDatabase();
    const stores = await Promise.all(Array.from({ length: 4 }, () => PostgresRunStore.connect(url)));
    const { rows } = await stores[0].pool.query("SELECT version FROM penumbra_schema");
    expect(rows).toHaveLength(1);
    await Promise.all(stores.map((store) => store.close()));
  });
});

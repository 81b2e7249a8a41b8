import { afterEach, expect, it } from "vitest";
import type { CellMetrics } from "../record";
import { sha256Hex } from "./ids";
import type { BlobStore, LinkRow, NewRun, RunStore } from "./storage";

/*
 * What the run service relies on from storage.ts, as tests any deployment's stores must pass: the
 * embedded and the distributed ones are interchangeable only while they agree on all of it.
 */

export interface ContractStores {
  readonly store: RunStore;
  readonly blobs: BlobStore;
  /** Another store on the same data, opened as a second process would open it. */
  readonly openAnother: () => Promise<RunStore>;
}

const CELL: CellMetrics = { row: 0, col: 0, lambda: 0, quantileTarget: null, T: 1, q: 0.5, nll: -3, cosineToMean: 1, l2FromMean: 0 };

function newRun(id: string, caption: string | null = null, createdAt = 1000): NewRun {
  return { id, presetName: "shapes", presetDigest: "d", request: `{"caption":${JSON.stringify(caption)}}`, createdAt, rows: 2, cols: 2, imageWidth: 64, imageHeight: 64, searchText: caption, inputUpload: null };
}

/** A link to `runId` with a 24-digit id of its own. */
function newLink(runId: string, n: number, publishedAt: number | null = null): LinkRow {
  return { id: n.toString(16).padStart(24, "f"), runId, creatorKeyHash: `hash ${n}`, createdAt: 1000 + n, publishedAt };
}

/** `n` distinct run ids. */
const ids = (n: number) => Array.from({ length: n }, (_, i) => i.toString(16).padStart(12, "0"));

/**
 * Registers the contract's tests in the enclosing describe block. `open` gives empty stores for
 * each test; the contract closes them (and those from openAnother) after the test, and `open`'s
 * caller removes whatever else it made.
 */
export function storageContract(open: () => Promise<ContractStores>): void {
  let opened: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    const closing = opened;
    opened = [];
    for (const closable of closing.reverse()) await closable.close();
  });
  async function fresh(): Promise<ContractStores> {
    const stores = await open();
    opened.push(stores.store, stores.blobs);
    return {
      ...stores,
      openAnother: async () => {
        const another = await stores.openAnother();
        opened.push(another);
        return another;
      },
    };
  }

  it("admits new runs and requeues failed or cancelled ones, all or none within the queue limit", async () => {
    const { store } = await fresh();
    const [a, b, c, d, e] = ids(5);
    expect(await store.admit([{ id: a, insert: newRun(a) }, { id: b, insert: newRun(b) }], { maxRuns: 3 }, 5000)).toEqual({ admitted: true, created: [true, true], queued: [a, b] });
    expect(await store.getRun(a)).toEqual({
      id: a,
      presetName: "shapes",
      presetDigest: "d",
      request: '{"caption":null}',
      status: "queued",
      error: null,
      createdAt: 1000,
      startedAt: null,
      finishedAt: null,
      description: null,
      providers: null,
      timings: null,
      rows: 2,
      cols: 2,
      imageWidth: 64,
      imageHeight: 64,
    });
    expect(await store.watchedAt(a)).toBe(5000);

    // Over the limit: nothing of it is stored.
    expect(await store.admit([{ id: c, insert: newRun(c) }, { id: d, insert: newRun(d) }], { maxRuns: 3 }, 5000)).toEqual({ admitted: false, reason: "runs", depth: 2, needed: 2, queuedCost: 0, neededCost: 0 });
    expect(await store.getRun(c)).toBeUndefined();
    // A queued run admitted again is neither created nor queued twice.
    expect(await store.admit([{ id: a }, { id: c, insert: newRun(c) }], { maxRuns: 3 }, 5000)).toEqual({ admitted: true, created: [false, true], queued: [c] });

    // Only queued runs count against the limit: running ones are not waiting.
    expect(await store.claim(a, 6000)).toBe(true);
    await store.markEnded(b, "failed", "boom", 7000);
    expect(await store.queueState()).toEqual({ queued: 1, running: [{ id: a, startedAt: 6000 }] });
    // A refused admission requeues nothing either.
    expect(await store.admit([{ id: b }, { id: d, insert: newRun(d) }, { id: e, insert: newRun(e) }], { maxRuns: 3 }, 7500)).toEqual({ admitted: false, reason: "runs", depth: 1, needed: 3, queuedCost: 0, neededCost: 0 });
    expect(await store.getRun(b)).toMatchObject({ status: "failed", error: "boom", finishedAt: 7000 });
    expect(await store.getRun(d)).toBeUndefined();

    // A failed run comes back queued, its error and times cleared and its lease renewed; a running one stays as it is.
    expect(await store.admit([{ id: b }, { id: a }], { maxRuns: 2 }, 8000)).toEqual({ admitted: true, created: [false, false], queued: [b] });
    expect(await store.getRun(b)).toMatchObject({ status: "queued", error: null, startedAt: null, finishedAt: null });
    expect(await store.watchedAt(b)).toBe(8000);
    expect(await store.getRun(a)).toMatchObject({ status: "running", startedAt: 6000 });
    expect(await store.watchedAt(a)).toBe(5000);

    // A done run is neither requeued nor counted.
    await store.markDone(a, 9000, {}, {});
    expect(await store.admit([{ id: a }], { maxRuns: 2 }, 9500)).toEqual({ admitted: true, created: [false], queued: [] });
    expect((await store.getRun(a))?.status).toBe("done");
  });

  it("requeues cancelled runs and keeps the first row of an id admitted twice at once", async () => {
    const { store } = await fresh();
    const [a, b] = ids(2);
    await store.admit([{ id: a, insert: newRun(a) }], { maxRuns: 8 }, 1000);
    await store.markEnded(a, "cancelled", "nobody watched", 2000);
    // Each id is queued once; whether `created` counts the repeat as inserted is left open (storage.ts does not say).
    expect(await store.admit([{ id: a }, { id: b, insert: newRun(b, "first") }, { id: b, insert: newRun(b, "second") }], { maxRuns: 8 }, 3000)).toMatchObject({
      admitted: true,
      queued: [a, b],
    });
    expect(await store.getRun(a)).toMatchObject({ status: "queued", error: null, finishedAt: null });
    expect((await store.getRun(b))?.request).toBe('{"caption":"first"}');
    expect((await store.queueState()).queued).toBe(2);
  });

  it("weighs the queue by cost, each run counting at most one client's share, and holds each client to its share", async () => {
    const { store } = await fresh();
    const [a1, a2, b1, c1, n1, a3] = ids(6);
    const rules = { maxRuns: 10, maxCost: 100, clientShare: 0.5 };
    const run = (id: string, cost: number, client: string | null) => ({ id, insert: newRun(id), cost, client });
    // A run larger than a share goes in when its client has nothing waiting, and counts one share (50).
    expect(await store.admit([run(a1, 80, "a")], rules, 1000)).toMatchObject({ admitted: true, queued: [a1] });
    expect(await store.admit([run(a2, 10, "a")], rules, 1000)).toEqual({ admitted: false, reason: "client", depth: 1, needed: 1, queuedCost: 50, neededCost: 10 });
    expect(await store.admit([run(b1, 40, "b")], rules, 1000)).toMatchObject({ admitted: true, queued: [b1] });
    expect(await store.admit([run(c1, 20, "c")], rules, 1000)).toEqual({ admitted: false, reason: "cost", depth: 2, needed: 1, queuedCost: 90, neededCost: 20 });
    // An unnamed client is held to the whole queue's cost only.
    expect(await store.admit([run(n1, 10, null)], rules, 1000)).toMatchObject({ admitted: true, queued: [n1] });
    expect(await store.getRun(a2)).toBeUndefined();
    // Once a's run is taken by a worker it no longer waits, and a may queue again.
    expect(await store.claim(a1, 2000)).toBe(true);
    expect(await store.admit([run(a3, 10, "a")], rules, 2000)).toMatchObject({ admitted: true, queued: [a3] });
  });

  it("sums a client's recent uploads, and removes old uploads no run names, saying which share a cell's bytes", async () => {
    const { store } = await fresh();
    const sha = (c: string) => c.repeat(64);
    const upload = (sha256: string, createdAt: number, client: string | null, bytes = 100) => store.insertUpload({ sha256, type: "image/png", bytes, width: 1, height: 1, createdAt, client });
    await upload(sha("a"), 1000, "x", 300);
    await upload(sha("b"), 5000, "x", 200);
    await upload(sha("c"), 1000, "y");
    await upload(sha("d"), 1000, null);
    await upload(sha("e"), 1000, null);
    expect(await store.uploadBytesSince("x", 0)).toBe(500);
    expect(await store.uploadBytesSince("x", 2000)).toBe(200);
    expect(await store.uploadBytesSince("nobody", 0)).toBe(0);

    // c is named by a run; d's bytes are also a cell's image; b is too new.
    const [run] = ids(1);
    await store.admit([{ id: run, insert: { ...newRun(run), request: JSON.stringify({ input: { kind: "image", upload: sha("c") } }), inputUpload: sha("c") } }], { maxRuns: 8 }, 1000);
    await store.saveDescription(run, {}, [CELL]);
    await store.setCellImage(run, 0, sha("d"));
    const removed = await store.removeUnreferencedUploads(3000);
    expect(removed.sort((p, q) => p.sha256.localeCompare(q.sha256))).toEqual([
      { sha256: sha("a"), sharedWithCell: false },
      { sha256: sha("d"), sharedWithCell: true },
      { sha256: sha("e"), sharedWithCell: false },
    ]);
    expect(await store.getUpload(sha("a"))).toBeUndefined();
    expect(await store.getUpload(sha("c"))).toBeDefined();
    expect(await store.getUpload(sha("b"))).toBeDefined();
    expect(await store.removeUnreferencedUploads(3000)).toEqual([]);
  });

  it("admits exactly up to the limit when 20 submissions race through two stores on the same data", async () => {
    const { store, openAnother } = await fresh();
    const racing = [store, await openAnother()];
    const results = await Promise.all(ids(20).map((id, i) => racing[i % 2].admit([{ id, insert: newRun(id) }], { maxRuns: 8 }, 1000)));
    expect(results.filter((result) => result.admitted)).toHaveLength(8);
    expect(results.filter((result) => !result.admitted)).toEqual(Array.from({ length: 12 }, () => ({ admitted: false, reason: "runs", depth: 8, needed: 1, queuedCost: 0, neededCost: 0 })));
    expect((await racing[0].queueState()).queued).toBe(8);
    expect((await racing[1].queueState()).queued).toBe(8);
  });

  it("keeps times as exact milliseconds since the epoch", async () => {
    const { store } = await fresh();
    const [a] = ids(1);
    const t = 1_767_225_600_123;
    await store.admit([{ id: a, insert: newRun(a, "a red shape", t) }], { maxRuns: 8 }, t + 1);
    await store.claim(a, t + 2);
    await store.markDone(a, t + 3, {}, {});
    const link = { ...newLink(a, 1), createdAt: t + 4 };
    await store.insertLinks([link]);
    await store.publishLink(link.id, t + 5);
    expect(await store.getRun(a)).toMatchObject({ createdAt: t, startedAt: t + 2, finishedAt: t + 3 });
    expect(await store.getLink(link.id)).toMatchObject({ createdAt: t + 4, publishedAt: t + 5 });
    expect(await store.watchedAt(a)).toBe(t + 1);
    expect(await store.recentDurations(1)).toEqual([1]);
    const upload = { sha256: "b".repeat(64), type: "image/jpeg", bytes: 1, width: 1, height: 1, createdAt: t };
    await store.insertUpload(upload);
    expect(await store.getUpload(upload.sha256)).toEqual(upload);
    await store.insertComparison({ id: "cccccccccccc", linkIds: [link.id], createdAt: t });
    expect((await store.getComparison("cccccccccccc"))?.createdAt).toBe(t);
  });

  it("lets a worker claim only queued or running runs", async () => {
    const { store } = await fresh();
    const [a] = ids(1);
    expect(await store.claim(a, 500)).toBe(false);
    await store.admit([{ id: a, insert: newRun(a) }], { maxRuns: 8 }, 1000);
    await store.markEnded(a, "cancelled", "nobody watched", 2000);
    expect(await store.claim(a, 3000)).toBe(false);
    expect((await store.getRun(a))?.status).toBe("cancelled");
    await store.admit([{ id: a }], { maxRuns: 8 }, 4000);
    expect(await store.claim(a, 5000)).toBe(true);
    // A worker taking over a run whose worker died claims it again.
    expect(await store.claim(a, 6000)).toBe(true);
    await store.markDone(a, 7000, { totalMs: 1 }, { unet: { provider: "cpu", skipped: [] } });
    expect(await store.claim(a, 8000)).toBe(false);
    expect(await store.getRun(a)).toMatchObject({
      status: "done",
      error: null,
      startedAt: 6000,
      finishedAt: 7000,
      timings: '{"totalMs":1}',
      providers: '{"unet":{"provider":"cpu","skipped":[]}}',
    });
  });

  it("puts a run back in the queue with its previous attempt's error and times cleared", async () => {
    const { store } = await fresh();
    const [a, b, c] = ids(3);
    await store.admit([{ id: b, insert: newRun(b, null, 2000) }], { maxRuns: 8 }, 2000);
    await store.admit([{ id: a, insert: newRun(a, null, 1000) }, { id: c, insert: newRun(c, null, 2000) }], { maxRuns: 8 }, 2000);
    await store.claim(a, 3000);
    await store.markEnded(a, "failed", "worker lost", 4000);
    await store.markQueued(a);
    expect(await store.getRun(a)).toMatchObject({ status: "queued", error: null, startedAt: null, finishedAt: null });
    await store.claim(c, 5000);
    // Oldest first; runs created in the same millisecond in the order they were stored.
    expect(await store.unfinishedRuns()).toEqual([
      { id: a, status: "queued" },
      { id: b, status: "queued" },
      { id: c, status: "running" },
    ]);
    await store.markDone(c, 6000, {}, {});
    expect(await store.unfinishedRuns()).toEqual([
      { id: a, status: "queued" },
      { id: b, status: "queued" },
    ]);
  });

  it("reports the queue and the runs being decoded, oldest start first", async () => {
    const { store } = await fresh();
    expect(await store.queueState()).toEqual({ queued: 0, running: [] });
    const [a, b, c, d] = ids(4);
    await store.admit([a, b, c, d].map((id) => ({ id, insert: newRun(id) })), { maxRuns: 8 }, 1000);
    await store.claim(a, 3000);
    await store.claim(b, 2000);
    await store.claim(c, 2500);
    await store.markEnded(c, "failed", "boom", 2600);
    expect(await store.queueState()).toEqual({
      queued: 1,
      running: [
        { id: b, startedAt: 2000 },
        { id: a, startedAt: 3000 },
      ],
    });
  });

  it("gives the durations of the most recently finished successful runs", async () => {
    const { store } = await fresh();
    expect(await store.recentDurations(5)).toEqual([]);
    const [a, b, c, d] = ids(4);
    await store.admit([a, b, c, d].map((id) => ({ id, insert: newRun(id) })), { maxRuns: 8 }, 1000);
    for (const [id, started, finished] of [
      [a, 1000, 1100],
      [b, 1000, 3000],
      [c, 1000, 2000],
    ] as const) {
      await store.claim(id, started);
      await store.markDone(id, finished, {}, {});
    }
    await store.claim(d, 1000);
    await store.markEnded(d, "failed", "boom", 5000);
    expect(await store.recentDurations(5)).toEqual([2000, 1000, 100]);
    expect(await store.recentDurations(2)).toEqual([2000, 1000]);
  });

  it("stores the description and cells, keeping finished images when a resumed run saves them again", async () => {
    const { store } = await fresh();
    const [a] = ids(1);
    expect(await store.getCells(a)).toEqual([]);
    await store.admit([{ id: a, insert: newRun(a) }], { maxRuns: 8 }, 1000);
    await store.saveDescription(a, { dim: 64, plan: { kind: "geodesic" } }, [CELL, { ...CELL, col: 1 }]);
    await store.setCellImage(a, 1, "f".repeat(64));
    await store.saveDescription(a, { dim: 64, plan: { kind: "geodesic" } }, [CELL, { ...CELL, col: 1, q: 0.6 }]);
    expect(await store.getCells(a)).toEqual([
      { index: 0, metrics: CELL, image: null },
      { index: 1, metrics: { ...CELL, col: 1, q: 0.6 }, image: "f".repeat(64) },
    ]);
    expect((await store.getRun(a))?.description).toBe('{"dim":64,"plan":{"kind":"geodesic"}}');
  });

  it("cancels queued runs whose watch lease lapsed, never running or renewed ones", async () => {
    const { store } = await fresh();
    const [a, b, c, d] = ids(4);
    await store.admit([a, b, c].map((id) => ({ id, insert: newRun(id) })), { maxRuns: 8 }, 1000);
    await store.admit([{ id: d, insert: newRun(d) }], { maxRuns: 8 }, 2500);
    await store.claim(c, 1500);
    await store.touchWatched([], 9000);
    await store.touchWatched([b, "ffffffffffff"], 3000);
    // An older touch never moves a lease back.
    await store.touchWatched([b], 2000);
    expect(await store.watchedAt(b)).toBe(3000);
    expect(await store.watchedAt(a)).toBe(1000);
    expect(await store.watchedAt("ffffffffffff")).toBeUndefined();
    // A lease that ends exactly at `before` has not lapsed.
    expect(await store.cancelUnwatched(2500, "nobody watched", 4000)).toEqual([a]);
    expect(await store.getRun(a)).toMatchObject({ status: "cancelled", error: "nobody watched", finishedAt: 4000 });
    expect((await store.getRun(b))?.status).toBe("queued");
    expect((await store.getRun(c))?.status).toBe("running");
    expect((await store.getRun(d))?.status).toBe("queued");
    expect(await store.cancelUnwatched(2500, "nobody watched", 4500)).toEqual([]);
    expect((await store.cancelUnwatched(3001, "nobody watched", 5000)).sort()).toEqual([b, d]);
  });

  it("stores links all or none, and publishes each once, keeping the first time", async () => {
    const { store } = await fresh();
    const [a, b] = ids(2);
    await store.admit([a, b].map((id) => ({ id, insert: newRun(id) })), { maxRuns: 8 }, 1000);
    const [first, second, third] = [newLink(a, 1), newLink(a, 2), newLink(b, 3)];
    await store.insertLinks([first, second]);
    expect(await store.getLink(first.id)).toEqual(first);
    expect(await store.getLink(newLink(a, 9).id)).toBeUndefined();
    // A batch with one bad link (an id taken) stores none of it.
    await expect(store.insertLinks([third, second])).rejects.toThrow();
    expect(await store.getLink(third.id)).toBeUndefined();
    // A link to no run is refused.
    await expect(store.insertLinks([newLink("ffffffffffff", 4)])).rejects.toThrow();

    expect(await store.publishLink(first.id, 2000)).toBe(true);
    expect(await store.publishLink(first.id, 3000)).toBe(false);
    expect(await store.getLink(first.id)).toEqual({ ...first, publishedAt: 2000 });
    // Two links to one run are published apart.
    expect((await store.getLink(second.id))?.publishedAt).toBeNull();
    expect(await store.unpublishLink(second.id)).toBe(false);
    expect(await store.unpublishLink(first.id)).toBe(true);
    expect(await store.unpublishLink(first.id)).toBe(false);
    expect((await store.getLink(first.id))?.publishedAt).toBeNull();
  });

  it("lists published links newest first and searches their runs' captions in any case, with % _ and \\ matching only themselves", async () => {
    const { store } = await fresh();
    const captions = ["a red circle", "100% blue", "snake_case shape", "RED square", "back\\slash"];
    const runIds = ids(captions.length + 2);
    const [unpublished, image] = runIds.slice(captions.length);
    await store.admit(captions.map((caption, i) => ({ id: runIds[i], insert: newRun(runIds[i], caption.toLowerCase()) })), { maxRuns: 8 }, 1000);
    await store.admit([{ id: unpublished, insert: newRun(unpublished, "a red unpublished") }, { id: image, insert: newRun(image, null) }], { maxRuns: 8 }, 1000);
    const links = runIds.map((id, i) => newLink(id, i));
    await store.insertLinks(links);
    for (const [i] of captions.entries()) await store.publishLink(links[i].id, 2000 + i);
    await store.publishLink(links[captions.length + 1].id, 2000);
    const [imageLink] = links.slice(captions.length + 1);

    const found = async (query: string) => (await store.gallery(query, 10, 0)).links.map((link) => link.id);
    expect(await found("Red")).toEqual([links[3].id, links[0].id]);
    expect(await found("  red  ")).toEqual([links[3].id, links[0].id]);
    expect(await found("%")).toEqual([links[1].id]);
    expect(await found("0% b")).toEqual([links[1].id]);
    expect(await found("_")).toEqual([links[2].id]);
    expect(await found("e_c")).toEqual([links[2].id]);
    expect(await found("\\")).toEqual([links[4].id]);
    expect(await found("k\\s")).toEqual([links[4].id]);
    expect(await found("red circle!")).toEqual([]);

    // Ties in publication time come in id order.
    const all = await store.gallery("", 10, 0);
    expect(all.total).toBe(captions.length + 1);
    expect(all.links.map((link) => link.id)).toEqual([links[4].id, links[3].id, links[2].id, links[1].id, links[0].id, imageLink.id]);
    expect(all.links[4]).toEqual({ ...links[0], publishedAt: 2000 });
    expect(await store.gallery("", 2, 2)).toMatchObject({ total: captions.length + 1, links: [{ id: links[2].id }, { id: links[1].id }] });
    expect(await store.gallery("red", 1, 1)).toMatchObject({ total: 2, links: [{ id: links[0].id }] });

    await store.unpublishLink(links[0].id);
    expect((await store.gallery("", 10, 0)).total).toBe(captions.length);
  });

  it("stores uploads and comparisons once", async () => {
    const { store } = await fresh();
    const upload = { sha256: "a".repeat(64), type: "image/png", bytes: 10, width: 2, height: 3, createdAt: 1000 };
    expect(await store.getUpload(upload.sha256)).toBeUndefined();
    expect(await store.insertUpload(upload)).toBe(true);
    expect(await store.insertUpload({ ...upload, createdAt: 2000 })).toBe(false);
    expect(await store.getUpload(upload.sha256)).toEqual(upload);

    const comparison = { id: "cccccccccccc", linkIds: ids(3).reverse(), createdAt: 1000 };
    expect(await store.insertComparison(comparison)).toBe(true);
    expect(await store.insertComparison({ ...comparison, createdAt: 5 })).toBe(false);
    expect(await store.getComparison(comparison.id)).toEqual(comparison);
    expect(await store.getComparison("dddddddddddd")).toBeUndefined();
  });

  it("keeps blobs by their sha256, once, and refuses names that are not one", async () => {
    const { blobs } = await fresh();
    const bytes = new Uint8Array([0, 1, 2, 255, 0]);
    const sha256 = sha256Hex(bytes);
    expect(await blobs.has(sha256)).toBe(false);
    expect(await blobs.put(bytes)).toEqual({ sha256, created: true });
    expect(await blobs.put(Buffer.from(bytes))).toEqual({ sha256, created: false });
    expect(await blobs.has(sha256)).toBe(true);
    const read = await blobs.read(sha256);
    expect(Buffer.isBuffer(read)).toBe(true);
    expect(read.equals(Buffer.from(bytes))).toBe(true);

    // A view into a larger buffer stores only its own bytes.
    const larger = new Uint8Array([9, 9, 7, 8, 9, 9]);
    const view = larger.subarray(2, 4);
    const stored = await blobs.put(view);
    expect(stored.sha256).toBe(sha256Hex(new Uint8Array([7, 8])));
    expect([...(await blobs.read(stored.sha256))]).toEqual([7, 8]);

    await expect(blobs.read("0".repeat(64))).rejects.toMatchObject({ code: "not_found", status: 404, message: `no stored image with sha256 ${"0".repeat(64)}` });
    for (const bad of ["../etc/passwd", "A".repeat(64), "a".repeat(63), ""]) {
      await expect(blobs.read(bad)).rejects.toMatchObject({ code: "invalid_input", status: 400 });
      await expect(blobs.has(bad)).rejects.toMatchObject({ code: "invalid_input", status: 400 });
    }
  });
}

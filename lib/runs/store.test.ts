import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MIGRATIONS, migrate, type NewRun, RunStore } from "./store";

let dataDir: string;
beforeEach(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), "penumbra-store-"));
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

function newRun(id: string, caption: string | null, createdAt = 1000): NewRun {
  return { id, presetName: "shapes", presetDigest: "d", request: "{}", createdAt, rows: 2, cols: 2, imageWidth: 64, imageHeight: 64, searchText: caption };
}

const CELL = { row: 0, col: 0, lambda: 0, quantileTarget: null, T: 1, q: 0.5, nll: -3, cosineToMean: 1, l2FromMean: 0 };

describe("migrations", () => {
  it("build a fresh database in WAL mode with foreign keys on, at the latest version", () => {
    const store = RunStore.open(dataDir);
    expect(store.db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(store.db.pragma("foreign_keys", { simple: true })).toBe(1);
    expect(store.db.pragma("user_version", { simple: true })).toBe(MIGRATIONS.length);
    const tables = store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
    expect(tables).toEqual(["cells", "comparisons", "runs", "uploads"]);
    store.close();
  });

  it("leave an existing database's data alone and apply only the steps it has not seen", () => {
    const first = RunStore.open(dataDir);
    first.insertRun(newRun("aaaaaaaaaaaa", "a red shape"));
    first.close();
    const again = RunStore.open(dataDir);
    expect(again.getRun("aaaaaaaaaaaa")?.status).toBe("queued");
    expect(migrate(again.db, [...MIGRATIONS, "ALTER TABLE runs ADD COLUMN note TEXT"])).toBe(MIGRATIONS.length + 1);
    expect(again.db.pragma("user_version", { simple: true })).toBe(MIGRATIONS.length + 1);
    expect(again.db.prepare("SELECT note FROM runs").pluck().get()).toBeNull();
    again.close();
  });

  it("roll a failing step back whole, version included", () => {
    const db = new Database(path.join(dataDir, "x.db"));
    expect(() => migrate(db, ["CREATE TABLE a (x); CREATE TABLE a (y);"])).toThrow(/already exists/);
    expect(db.pragma("user_version", { simple: true })).toBe(0);
    expect(db.prepare("SELECT count(*) FROM sqlite_master").pluck().get()).toBe(0);
    db.close();
  });

  it("refuse a database from newer code", () => {
    const db = new Database(path.join(dataDir, "penumbra.db"));
    db.pragma(`user_version = ${MIGRATIONS.length + 5}`);
    db.close();
    expect(() => RunStore.open(dataDir)).toThrow(/newer than this code knows/);
  });
});

describe("RunStore", () => {
  it("keeps finished cell images when a resumed run saves its description again, and deletes cells with their run", () => {
    const store = RunStore.open(dataDir);
    store.insertRun(newRun("aaaaaaaaaaaa", "x"));
    store.saveDescription("aaaaaaaaaaaa", { dim: 64 }, [CELL, { ...CELL, col: 1 }]);
    store.setCellImage("aaaaaaaaaaaa", 1, "f".repeat(64));
    store.saveDescription("aaaaaaaaaaaa", { dim: 64 }, [CELL, { ...CELL, col: 1, q: 0.6 }]);
    expect(store.getCells("aaaaaaaaaaaa")).toEqual([
      { index: 0, metrics: CELL, image: null },
      { index: 1, metrics: { ...CELL, col: 1, q: 0.6 }, image: "f".repeat(64) },
    ]);
    store.db.prepare("DELETE FROM runs").run();
    expect(store.getCells("aaaaaaaaaaaa")).toEqual([]);
    store.close();
  });

  it("searches published captions in any case, with % and _ matching only themselves", () => {
    const store = RunStore.open(dataDir);
    const captions = ["a red circle", "100% blue", "snake_case shape", "RED square"];
    captions.forEach((caption, i) => {
      const id = `${i}`.repeat(12);
      store.insertRun(newRun(id, caption.toLowerCase()));
      store.publish(id, 2000 + i);
    });
    store.insertRun(newRun("ffffffffffff", "a red unpublished"));
    expect(store.gallery("Red", 10, 0).rows.map((r) => r.id)).toEqual(["333333333333", "000000000000"]);
    expect(store.gallery("%", 10, 0).total).toBe(1);
    expect(store.gallery("_", 10, 0).total).toBe(1);
    expect(store.gallery("", 2, 2)).toMatchObject({ total: 4, rows: [{ id: "111111111111" }, { id: "000000000000" }] });
    store.publish("000000000000", 9999);
    expect(store.getRun("000000000000")?.publishedAt).toBe(2000);
    store.close();
  });
});
